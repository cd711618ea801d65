"""Test helper: a managed node's lifecycle services (lifecycle_msgs ChangeState / GetState), called from the test
process the way ``ros2 lifecycle set`` or Nav2's lifecycle manager call them."""

from __future__ import annotations

from typing import Any

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from waiting import wait_until

CONFIGURE = Transition.TRANSITION_CONFIGURE
CLEANUP = Transition.TRANSITION_CLEANUP
ACTIVATE = Transition.TRANSITION_ACTIVATE
DEACTIVATE = Transition.TRANSITION_DEACTIVATE
UNCONFIGURED_SHUTDOWN = Transition.TRANSITION_UNCONFIGURED_SHUTDOWN
INACTIVE_SHUTDOWN = Transition.TRANSITION_INACTIVE_SHUTDOWN
ACTIVE_SHUTDOWN = Transition.TRANSITION_ACTIVE_SHUTDOWN


class LifecycleClient:
    """``<target>/change_state`` and ``<target>/get_state`` of a managed node, from ``node`` (spun elsewhere:
    a :class:`ros_harness.RosHarness` node)."""

    def __init__(self, node: Node, target: str, timeout: float = 30.0) -> None:
        self._node = node
        self._change = node.create_client(ChangeState, f"{target}/change_state")
        self._get = node.create_client(GetState, f"{target}/get_state")
        assert self._change.wait_for_service(timeout_sec=timeout), f"no {target}/change_state service"
        assert self._get.wait_for_service(timeout_sec=timeout), f"no {target}/get_state service"

    def _call(self, client: Any, request: Any, timeout: float) -> Any:
        future = client.call_async(request)
        wait_until(future.done, timeout, f"an answer from {client.srv_name}")
        return future.result()

    def state(self, timeout: float = 30.0) -> str:
        """The node's primary state label: unconfigured, inactive, active or finalized."""
        return str(self._call(self._get, GetState.Request(), timeout).current_state.label)

    def change(self, transition: int, timeout: float = 120.0) -> bool:
        """Request ``transition`` (a lifecycle_msgs Transition id); whether it succeeded."""
        request = ChangeState.Request()
        request.transition.id = transition
        return bool(self._call(self._change, request, timeout).success)

    def close(self) -> None:
        self._node.destroy_client(self._change)
        self._node.destroy_client(self._get)
