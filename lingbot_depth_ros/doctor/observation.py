"""What the doctor saw on the live graph, as plain records (no rclpy): filled by ``ros/graph_probe.py``, judged by
:mod:`lingbot_depth_ros.doctor.streams` and :mod:`lingbot_depth_ros.doctor.graph`.

Messages are read duck-typed (the fields of sensor_msgs, as the decoders in ``messages/`` read them), so the
records hold rclpy messages and test doubles alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from lingbot_depth_ros.messages.header import stamp_ns

KEEP_MESSAGES = 3  # last messages kept per topic for decoding (encoding, units, CameraInfo geometry)
KEEP_ARRIVALS = 400  # arrivals kept per topic (40 s of a 10 Hz stream)


@dataclass(frozen=True)
class Endpoint:
    """A publisher or subscription on a topic: its node (fully qualified), message type and QoS
    (``reliability``: reliable / best_effort, ``durability``: volatile / transient_local, lower case)."""

    node: str
    msg_type: str
    reliability: str
    durability: str


@dataclass(frozen=True)
class Arrival:
    """One message received: ROS receive time and header stamp [ns], ``frame_id``, ``layout`` (``rgb8 640x480``,
    ``jpeg``, ``30000 points``) and ``size`` (width, height) [px] when the message has one."""

    receive_ns: int
    stamp_ns: int
    frame_id: str
    layout: str
    size: tuple[int, int] | None


def describe(msg: Any, receive_ns: int) -> Arrival:
    """The :class:`Arrival` of an Image, CompressedImage, CameraInfo or PointCloud2 received at ``receive_ns``."""
    frame_id = str(msg.header.frame_id)
    if hasattr(msg, "encoding"):  # Image
        size = (int(msg.width), int(msg.height))
        layout = f"{msg.encoding} {size[0]}x{size[1]}"
    elif hasattr(msg, "format"):  # CompressedImage: the size is known only once decoded
        size, layout = None, str(msg.format) or "(no format)"
    elif hasattr(msg, "fields"):  # PointCloud2
        size, layout = None, f"{int(msg.width) * int(msg.height)} points"
    else:  # CameraInfo
        size = (int(msg.width), int(msg.height))
        layout = f"{size[0]}x{size[1]}"
    return Arrival(receive_ns, stamp_ns(msg), frame_id, layout, size)


@dataclass
class TopicObservation:
    """One topic: the types advertised on it, its publishers, the subscriptions of the observed node on it, and
    what arrived while the doctor listened (``listened_s`` [s])."""

    topic: str
    types: list[str] = field(default_factory=list)
    publishers: list[Endpoint] = field(default_factory=list)
    node_subscriptions: list[Endpoint] = field(default_factory=list)
    arrivals: deque[Arrival] = field(default_factory=lambda: deque(maxlen=KEEP_ARRIVALS))
    messages: deque[Any] = field(default_factory=lambda: deque(maxlen=KEEP_MESSAGES))
    received: int = 0
    listened_s: float = 0.0
    subscribed_type: str = ""  # the type the doctor subscribed with ('' = not subscribed)

    def add(self, msg: Any, receive_ns: int) -> None:
        self.arrivals.append(describe(msg, receive_ns))
        self.messages.append(msg)
        self.received += 1

    @property
    def rate_hz(self) -> float | None:
        """Arrival rate [Hz] over the arrivals kept, None with fewer than two."""
        if len(self.arrivals) < 2:
            return None
        span_s = (self.arrivals[-1].receive_ns - self.arrivals[0].receive_ns) / 1e9
        return (len(self.arrivals) - 1) / span_s if span_s > 0 else None

    @property
    def last(self) -> Any:
        """The last message received (None before the first; the judges read it only after an arrival)."""
        return self.messages[-1] if self.messages else None


@dataclass(frozen=True)
class DiagnosticStatus:
    """One status of a DiagnosticArray: ``name``, ``level`` (0 OK, 1 WARN, 2 ERROR, 3 STALE), ``message``,
    ``values`` (key -> value)."""

    name: str
    level: int
    message: str
    values: dict[str, str]


@dataclass
class GraphObservation:
    """Everything the probe saw in ``listened_s`` [s].

    ``topics``: the node's input topics and its outputs (fully qualified name -> observation);
    ``graph_topics``: every topic on the graph with its types (for suggestions); ``node_found``: the node is on
    the graph; ``node_subscriptions``: topic -> types the node subscribes to; ``node_parameters``: the values its
    parameter service returned (None: not asked or no answer); ``lifecycle_state``: its lifecycle state label
    (None: not a lifecycle node, or no answer); ``diagnostics``: the last status of each name on /diagnostics;
    ``tf``: (target frame, source frame) -> '' when the transform is available, else why not (None: tf2_ros not
    installed, nothing asked).
    """

    listened_s: float = 0.0
    topics: dict[str, TopicObservation] = field(default_factory=dict)
    graph_topics: dict[str, list[str]] = field(default_factory=dict)
    node_found: bool = False
    node_subscriptions: dict[str, list[str]] = field(default_factory=dict)
    node_parameters: dict[str, Any] | None = None
    lifecycle_state: str | None = None
    diagnostics: dict[str, DiagnosticStatus] = field(default_factory=dict)
    tf: dict[tuple[str, str], str] | None = None

    def topic(self, name: str) -> TopicObservation:
        """The observation of ``name`` (an empty one when the probe never looked at it)."""
        return self.topics.get(name) or TopicObservation(name, listened_s=self.listened_s)
