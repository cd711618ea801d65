"""What a camera channel of the depth node sees of the node: a topic scope and a few explicit hooks.

The depth node (:mod:`lingbot_depth_ros.ros.depth_node`) gives each
:class:`~lingbot_depth_ros.ros.camera_channel.CameraChannel` a :class:`TopicScope` of itself (topics,
logger, clock) and one :class:`NodeLink` (settings, estimator traits, hand-off, estimator diagnostics).
The channel holds nothing else of the node, so the dependency runs one way: node -> channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol

from rclpy.clock import Clock
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

from lingbot_depth_ros.pipeline.temporal_stage import STANDING, FramePose
from lingbot_depth_ros.ros.diagnostics import StatusWrapper


class EstimatorView(Protocol):
    """The traits of the node's estimator a camera channel reads (every DepthEstimator has them)."""

    @property
    def name(self) -> str: ...

    @property
    def supported_modes(self) -> AbstractSet[str]: ...

    @property
    def learned(self) -> bool: ...  # the LiDAR agreement guard checks only learned estimators

    def describe(self) -> str: ...


@dataclass(frozen=True)
class NodeLink:
    """The node's side of a camera channel.

    ``settings()``: the node's current parameter values (name -> value; a new mapping after each accepted
    change, never modified in place). ``estimator()``: the estimator in use (it can be rebuilt by a parameter
    change). ``hand_off``: the condition that guards every channel's single slot (and the node's settings
    and estimator); a channel puts its newest synchronized set in its slot with it held and notifies it.
    ``diagnose_estimator(stat)``: adds the values of the one estimator shared by every camera to a status.
    ``pose_at(camera, stamp_ns, frame_id)``: the camera's pose at an image stamp (``temporal.pose_source``).
    """

    settings: Callable[[], Mapping[str, Any]]
    estimator: Callable[[], EstimatorView]
    hand_off: threading.Condition
    diagnose_estimator: Callable[[StatusWrapper], None]
    pose_at: Callable[[str, int, str], FramePose] = lambda camera, stamp_ns, frame_id: STANDING


class NodeScope(Protocol):
    """What the node's outputs and inputs (obstacles, LiDAR input, surfaces, tf2's TransformListener) call on a
    node: an rclpy ``Node`` or one camera's :class:`TopicScope` of it."""

    def create_publisher(self, msg_type: Any, topic: str, qos_profile: QoSProfile | int) -> Any: ...

    def get_logger(self) -> Any: ...

    def get_clock(self) -> Clock: ...


@dataclass
class _Input:
    """A subscription asked for through a scope: its arguments, and the subscription while the inputs are open."""

    msg_type: Any
    topic: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    subscription: Subscription | None = None


class TopicScope:
    """The node as seen by one camera: relative topic names go under ``prefix``, the logger is the camera's.

    Absolute names (``/tf``, ``/diagnostics``) and ``~`` names are left alone. Offers what the channel and
    its outputs (obstacles, LiDAR input, surfaces, tf2's TransformListener) call on a node, nothing more.

    The scope owns what is made through it: :meth:`close_inputs` / :meth:`open_inputs` remove and re-make every
    subscription (the managed node's deactivate / activate), :meth:`close` also destroys the publishers
    (cleanup). ``inputs_open`` False: subscriptions asked for are made only by the next :meth:`open_inputs`.
    """

    def __init__(self, node: Node, prefix: str, *, inputs_open: bool = True) -> None:
        self._node = node
        self.prefix = prefix.strip("/")
        self._logger = node.get_logger().get_child(self.prefix) if self.prefix else node.get_logger()
        self.inputs_open = inputs_open
        self._inputs: list[_Input] = []
        self._publishers: list[Publisher] = []

    def topic(self, name: str) -> str:
        """``name`` under this camera's prefix (relative names only)."""
        return name if not self.prefix or name.startswith(("/", "~")) else f"{self.prefix}/{name}"

    def create_publisher(self, msg_type: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
        publisher = self._node.create_publisher(msg_type, self.topic(topic), *args, **kwargs)
        self._publishers.append(publisher)
        return publisher

    def create_subscription(self, msg_type: Any, topic: str, *args: Any, **kwargs: Any) -> Subscription | None:
        """The subscription, made now while the inputs are open (None while closed: made when they open)."""
        entry = _Input(msg_type, self.topic(topic), args, kwargs)
        self._inputs.append(entry)
        if self.inputs_open:
            self._subscribe(entry)
        return entry.subscription

    def destroy_subscription(self, subscription: Subscription | None) -> bool:
        """Destroy a subscription made through this scope; it is not re-made by :meth:`open_inputs` either."""
        for entry in self._inputs:
            if subscription is not None and entry.subscription is subscription:
                self._inputs.remove(entry)
                return self._node.destroy_subscription(subscription)
        return False

    def _subscribe(self, entry: _Input) -> None:
        entry.subscription = self._node.create_subscription(entry.msg_type, entry.topic, *entry.args, **entry.kwargs)

    def open_inputs(self) -> None:
        """Make every subscription asked for (no-op while open)."""
        if not self.inputs_open:
            self.inputs_open = True
            for entry in self._inputs:
                self._subscribe(entry)

    def close_inputs(self) -> None:
        """Destroy every subscription (no message reaches the callbacks afterwards); :meth:`open_inputs` re-makes
        them."""
        self.inputs_open = False
        for entry in self._inputs:
            if entry.subscription is not None:
                self._node.destroy_subscription(entry.subscription)
                entry.subscription = None

    def close(self) -> None:
        """Destroy every subscription and publisher made through this scope (nothing is re-made)."""
        self.close_inputs()
        self._inputs.clear()
        for publisher in self._publishers:
            self._node.destroy_publisher(publisher)
        self._publishers.clear()

    def resolve_topic_name(self, topic: str, **kwargs: Any) -> str:
        return self._node.resolve_topic_name(self.topic(topic), **kwargs)

    def get_logger(self) -> Any:
        return self._logger

    def get_clock(self) -> Clock:
        return self._node.get_clock()
