"""The ROS side of ``lingbot-depth-eval``: publish recorded frames on a depth node's inputs over real
rclpy topics and record what the node publishes (serialized, with receive times).

Frames are published *unchanged* (serialized CDR, header stamps kept): per frame camera_info, sparse
depth (and optionally the LiDAR cloud), the camera pose (a bag with poses), then the image. What comes back
is returned raw (:class:`RecordedRun`); matching it to the frames and scoring it is the caller's
(:mod:`lingbot_depth_ros.replay.evaluate` with :func:`lingbot_depth_ros.evaluation.replay.score_run`).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tqdm import tqdm

from lingbot_depth_ros.bags.stamps import cdr_stamp_ns
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.deploy.node_process import check_alive
from lingbot_depth_ros.errors import LingbotDepthError

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
RECEIVE_RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: /tf_static as tf2_ros's static broadcaster publishes it (late joiners still get it)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
_ROLE_TYPES = {"camera_info": CameraInfo, "sparse_depth": Image, "lidar_points": PointCloud2,
               "camera_pose": PoseStamped, "image": Image}
#: the pose goes out before the image, so the node has it when it looks the image stamp up
_SEND_ORDER = ("camera_info", "sparse_depth", "lidar_points", "camera_pose", "image")
#: the input roles a replay can send, in the order they go out per frame
SEND_ROLES = _SEND_ORDER


class ReplayFrame(Protocol):
    """One frame to send: its index, header stamp [ns] and serialized messages by role
    (``camera_info``, ``sparse_depth``, ``lidar_points``, ``camera_pose``, ``image``; missing roles are not
    sent)."""

    @property
    def index(self) -> int: ...

    @property
    def stamp_ns(self) -> int: ...

    @property
    def raw(self) -> Mapping[str, bytes]: ...


@dataclass(frozen=True)
class ReplaySettings:
    """How to replay: ``send_roles`` (subset of :data:`SEND_ROLES`) go to ``topics``; ``optional_roles``: sent
    roles that need no subscriber before the replay starts (the camera pose, for a node that may not read it);
    ``rate`` is a
    multiple of the recorded rate, or None = next frame once the previous one's depth came back or
    ``timeout_s`` [s] passed; ``wait_s`` [s] for the node to connect; ``output_qos`` ``reliable`` or
    ``sensor_data``; ``clock``: publish ``/clock`` with the frame stamps; ``tf_static``: a serialized
    tf2_msgs/TFMessage to publish on ``topics.tf_static`` (when tf2_msgs is installed)."""

    topics: StreamTopics = field(default_factory=StreamTopics)
    send_roles: tuple[str, ...] = ("camera_info", "image")
    optional_roles: tuple[str, ...] = ()
    rate: float | None = 1.0
    timeout_s: float = 10.0
    wait_s: float = 30.0
    record_points: bool = False
    output_qos: str = "reliable"
    clock: bool = False
    progress: bool = True
    tf_static: bytes | None = None


@dataclass
class RecordedRun:
    """What a replay sent and got back.

    ``sent_ns``: frame index -> monotonic time [ns] its image was published;
    ``depth_outputs``: header stamp [ns] -> (monotonic receive time [ns], serialized sensor_msgs/Image);
    ``points_outputs``: header stamp [ns] -> serialized sensor_msgs/PointCloud2 (with ``record_points``);
    ``tf_published``: whether ``tf_static`` went out on /tf_static.
    """

    sent_ns: dict[int, int]
    depth_outputs: dict[int, tuple[int, bytes]]
    points_outputs: dict[int, bytes]
    tf_published: bool


def tf_message_type() -> Any | None:
    """tf2_msgs/TFMessage when tf2_msgs is installed, else None (no /tf_static can be published)."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage


class ReplayNode(Node):
    """Publishes bag messages on the node's inputs and records its outputs with receive times."""

    def __init__(self, topics: StreamTopics, *, send_roles: tuple[str, ...], record_points: bool, output_qos: str,
                 clock: bool, context: rclpy.Context, tf_static: bytes | None = None,
                 optional_roles: tuple[str, ...] = ()) -> None:
        super().__init__("lingbot_depth_replay", context=context)
        self.publishers_by_role = {role: self.create_publisher(_ROLE_TYPES[role], getattr(topics, role), RELIABLE)
                                   for role in send_roles}
        self.optional_roles = optional_roles
        receive_qos = RECEIVE_RELIABLE if output_qos == "reliable" else qos_profile_sensor_data
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        self.depth_outputs: dict[int, tuple[int, bytes]] = {}
        self.points_outputs: dict[int, bytes] = {}
        self.depth_topic = topics.depth
        self.create_subscription(Image, topics.depth, self._on_depth, receive_qos, raw=True)
        if record_points:
            self.create_subscription(PointCloud2, topics.points, self._on_points, receive_qos, raw=True)
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if clock else None
        self._bag_time_ns: int | None = None
        if self.clock_pub is not None:
            self.create_timer(0.05, self._republish_clock)
        self.tf_published = False
        tf_type = tf_message_type() if tf_static is not None else None
        if tf_type is not None:
            self.create_publisher(tf_type, topics.tf_static, TF_STATIC_QOS).publish(tf_static)
            self.tf_published = True

    def _on_depth(self, data: bytes) -> None:
        received = time.monotonic_ns()
        stamp = cdr_stamp_ns(data)
        with self.arrived:
            self.depth_outputs.setdefault(stamp, (received, data))
            self.arrived.notify_all()

    def _on_points(self, data: bytes) -> None:
        stamp = cdr_stamp_ns(data)
        with self._lock:
            self.points_outputs.setdefault(stamp, data)

    def publish_clock(self, stamp_ns: int) -> None:
        if self.clock_pub is None:
            return
        self._bag_time_ns = stamp_ns if self._bag_time_ns is None else max(self._bag_time_ns, stamp_ns)
        self._send_clock(self._bag_time_ns)

    def _republish_clock(self) -> None:
        if self._bag_time_ns is not None:
            self._send_clock(self._bag_time_ns)

    def _send_clock(self, stamp_ns: int) -> None:
        if self.clock_pub is None:
            return
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        self.clock_pub.publish(msg)

    def missing_peers(self) -> list[str]:
        """What is not connected yet: input topics without a subscriber, a depth topic without a publisher."""
        missing = [f"nothing subscribes to {p.topic_name}" for role, p in self.publishers_by_role.items()
                   if role not in self.optional_roles and p.get_subscription_count() == 0]
        if self.count_publishers(self.depth_topic) == 0:
            missing.append(f"nothing publishes {self.depth_topic}")
        return missing

    def wait_for(self, stamp_ns: int, deadline: float) -> bool:
        """Block until the depth for ``stamp_ns`` arrived or the monotonic ``deadline`` [s] passed."""
        with self.arrived:
            while stamp_ns not in self.depth_outputs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.arrived.wait(min(remaining, 0.1))
            return True


def replay_frames(frames: Sequence[ReplayFrame], settings: ReplaySettings, label: str, *,
                  node_process: subprocess.Popen[bytes] | None = None, node_log: Path | None = None) -> RecordedRun:
    """Publish ``frames`` (stamp order) on the inputs of the node listening on ``settings.topics`` and record
    its outputs; ``label`` names the run on the progress bar. ``node_process`` / ``node_log``: a node started
    for this replay, checked to be alive (its log's tail in the error).

    Raises:
        LingbotDepthError: no node connected within ``wait_s``, or the node process died.
    """
    unknown = set(settings.send_roles) - set(SEND_ROLES)
    if unknown:
        raise ValueError(f"unknown send roles {sorted(unknown)}; known: {', '.join(SEND_ROLES)}")
    context = rclpy.Context()
    rclpy.init(args=[], context=context)  # our own CLI arguments are not ROS arguments
    node: ReplayNode | None = None
    executor = SingleThreadedExecutor(context=context)
    spinner: threading.Thread | None = None
    try:
        node = ReplayNode(settings.topics, send_roles=settings.send_roles, record_points=settings.record_points,
                          output_qos=settings.output_qos, clock=settings.clock, context=context,
                          tf_static=settings.tf_static, optional_roles=settings.optional_roles)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, name="replay_spin", daemon=True)
        spinner.start()
        deadline = time.monotonic() + settings.wait_s
        while missing := node.missing_peers():
            check_alive(node_process, node_log)
            if time.monotonic() > deadline:
                raise LingbotDepthError(
                    f"no depth node connected within {settings.wait_s:.0f} s: {'; '.join(missing)}. Start the "
                    "node with matching remaps (or in namespace /camera), use --no-sparse for a monocular node "
                    "or a node reading sparse_input:=pointcloud (with --send-lidar), or use --start-node")
            time.sleep(0.05)
        time.sleep(0.3)  # let the other side finish matching too
        sent_ns: dict[int, int] = {}
        # disable=None: no bar (no \r in logs) when stderr is not a terminal
        progress = tqdm(total=len(frames), desc=f"replay {label}", unit="frame",
                        disable=None if settings.progress else True)
        start_wall = time.monotonic()
        first_stamp = frames[0].stamp_ns
        for frame in frames:
            if settings.rate is not None:
                due = start_wall + (frame.stamp_ns - first_stamp) / 1e9 / settings.rate
                while (delay := due - time.monotonic()) > 0:
                    time.sleep(min(delay, 0.05))
            node.publish_clock(frame.stamp_ns)
            for role in _SEND_ORDER:
                if role in node.publishers_by_role and role in frame.raw:
                    if role == "image":
                        sent_ns[frame.index] = time.monotonic_ns()
                    node.publishers_by_role[role].publish(frame.raw[role])
            if settings.rate is None:
                node.wait_for(frame.stamp_ns, time.monotonic() + settings.timeout_s)
            check_alive(node_process, node_log)
            progress.set_postfix_str(f"sent, {len(node.depth_outputs)} answered", refresh=False)
            progress.update()
        final_deadline = time.monotonic() + settings.timeout_s
        for frame in frames:
            if not node.wait_for(frame.stamp_ns, final_deadline):
                break
        time.sleep(0.05)
        progress.set_postfix_str(f"sent, {len(node.depth_outputs)} answered", refresh=False)
        progress.close()
        with node.arrived:
            depth_outputs = dict(node.depth_outputs)
            points_outputs = dict(node.points_outputs)
        tf_published = node.tf_published
    finally:
        executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)
        if spinner is not None:
            spinner.join(timeout=2.0)
    return RecordedRun(sent_ns=sent_ns, depth_outputs=depth_outputs, points_outputs=points_outputs,
                       tf_published=tf_published)
