"""The managed (lifecycle) form of the package's nodes: rclpy's LifecycleNode driving the steps of a node core.

A managed node (the depth node's, the fusion node's: ``lifecycle: true``) implements four steps of its core:

* ``_configure()``: check the parameters, load what the node needs (model, volume), create the publishers;
* ``_activate()``: subscribe (and start the timers): outputs flow;
* ``_deactivate()``: unsubscribe and let the frame in flight finish: outputs stop, what configure loaded stays;
* ``_cleanup()``: release what configure made (it must also undo a configure that stopped half-way).

A step refuses by raising (a :class:`~lingbot_depth_ros.errors.LingbotDepthError` with the reason, or anything
else): :class:`ManagedNode` turns that into the transition's FAILURE, so the node stays where it was (after a
failed configure: unconfigured, the half-made steps undone), logs the reason and keeps it for /diagnostics
(:meth:`diagnose_lifecycle`): lifecycle_msgs' ChangeState answer carries only ``success``. The process never
ends for a refused transition.

Also handled here: a transition requested in a state that has none is refused (``success: false``, an error
logged) on every distro (Jazzy's rclpy let that request end the spin with an RCLError; Kilted refuses it
itself); shutdown from any state undoes what is loaded, then :attr:`ManagedNode.finished` is done and
``node_main`` ends the process after answering ``get_state`` for :data:`FINALIZED_LINGER_S` (Nav2's lifecycle
manager reads the state back after each transition); ``autostart`` = configure + activate at start.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.task import Future

from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.ros.diagnostics import ERROR, OK, StatusWrapper

RCLError = rclpy_implementation.RCLError
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
#: Seconds a finalized node keeps answering (get_state: "finalized") before its process exits.
FINALIZED_LINGER_S = 1.0
#: the state a node stays in when a transition is refused
_STAYS = {"configure": "unconfigured", "activate": "inactive", "deactivate": "active", "cleanup": "inactive"}


def failure_reason(exc: BaseException) -> str:
    """One line for a refused step: the package's own errors speak for themselves, others name their type."""
    return str(exc) if isinstance(exc, LingbotDepthError) else f"{type(exc).__name__}: {exc}"


class ManagedNode(LifecycleNode, metaclass=abc.ABCMeta):
    """A lifecycle node whose transitions run the steps ``_configure`` ... ``_cleanup`` (module docstring)."""

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        #: done once the node is finalized (shutdown transition): the process may end
        self.finished: Future = Future()
        #: why the last transition was refused ("" after a transition that succeeded)
        self.last_failure = ""
        self._refuse_impossible_transitions()

    # -- the steps (node cores implement them) ------------------------------------------------
    @abc.abstractmethod
    def _configure(self) -> None:
        """The configure transition's work; raise LingbotDepthError (or any error) to refuse it."""

    @abc.abstractmethod
    def _activate(self) -> None:
        """The activate transition's work; raise LingbotDepthError (or any error) to refuse it."""

    @abc.abstractmethod
    def _deactivate(self) -> None:
        """The deactivate transition's work; raise LingbotDepthError (or any error) to refuse it."""

    @abc.abstractmethod
    def _cleanup(self) -> None:
        """The cleanup transition's work; raise LingbotDepthError (or any error) to refuse it."""

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_label(self) -> str:
        """The primary state: unconfigured, inactive, active or finalized (rclpy keeps it in its state machine)."""
        return str(self._state_machine.current_state[1])

    def start(self, autostart: bool) -> None:
        """End of construction: with ``autostart`` configure, then activate (a refusal stops there, logged); then
        the ``ready:`` line (the last start-up line, as the plain node's)."""
        if autostart and self.trigger_configure() == SUCCESS:
            self.trigger_activate()
        self.get_logger().info(f"ready: managed node, state {self.state_label}" + (
            "" if self.state_label == "active" else f" (lifecycle: ros2 lifecycle set {self.get_fully_qualified_name()}"
            f" {'configure' if self.state_label == 'unconfigured' else 'activate'})"))

    def diagnose_lifecycle(self, stat: StatusWrapper) -> None:
        """/diagnostics task: the state, and ERROR with the reason while the last transition was refused."""
        stat.add("state", self.state_label)
        stat.add("last refused transition", self.last_failure or "none")
        if self.last_failure:
            stat.summary(ERROR, self.last_failure)
        else:
            stat.summary(OK, self.state_label)

    # -- rclpy's transition callbacks ------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._step("configure", self._configure, undo=self._cleanup)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._step("activate", self._activate, undo=self._deactivate)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._step("deactivate", self._deactivate)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._step("cleanup", self._cleanup)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any primary state (``state``: the one left): undo what is loaded, then :attr:`finished`."""
        try:
            if state.label == "active":
                self._quietly("deactivate", self._deactivate)
            if state.label in ("active", "inactive"):
                self._quietly("cleanup", self._cleanup)
            self.get_logger().info("shut down: finalized, exiting")
        finally:
            if not self.finished.done():
                self.finished.set_result(True)
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A callback raised past :meth:`_step` (a bug): release everything, back to unconfigured."""
        self._quietly("deactivate", self._deactivate)
        self._quietly("cleanup", self._cleanup)
        return SUCCESS

    def _step(self, name: str, step: Callable[[], None], undo: Callable[[], None] | None = None
              ) -> TransitionCallbackReturn:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a refused transition, never a dead process
            self.last_failure = f"{name} failed: {failure_reason(exc)}"
            self.get_logger().error(f"{self.last_failure}; the node stays {_STAYS[name]}")
            if undo is not None:
                self._quietly(f"undoing the failed {name}", undo)
            return FAILURE
        self.last_failure = ""
        return SUCCESS

    def _quietly(self, name: str, step: Callable[[], None]) -> None:
        """``step()``; an error is logged, not raised (shutdown and error handling go on)."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - release as much as possible
            self.get_logger().error(f"{name} failed: {failure_reason(exc)}")

    def _refuse_impossible_transitions(self) -> None:
        """Answer ``success: false`` to a transition the current state does not have, instead of letting rclpy's
        RCLError end the spin (Jazzy); the state is unchanged (the state machine refused before any callback)."""
        service = getattr(self, "_service_change_state", None)
        if service is None:  # enable_communication_interface=False: no services
            return
        answer = service.callback

        def change_state(request: Any, response: Any) -> Any:
            try:
                return answer(request, response)
            except RCLError as exc:
                transition = request.transition.label or f"id {request.transition.id}"
                self.get_logger().error(f"transition {transition} refused: not possible in state "
                                        f"{self.state_label} ({exc})")
                response.success = False
                return response

        service.callback = change_state


__all__ = ["FINALIZED_LINGER_S", "ManagedNode", "failure_reason"]
