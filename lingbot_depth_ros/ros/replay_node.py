"""The ROS side of ``lingbot-depth-eval``: publish a loaded bag on a depth node's inputs over real
rclpy topics and record what the node publishes (serialized, with receive times).

Bag messages are published *unchanged* (serialized CDR, header stamps kept): per frame camera_info,
sparse depth (and optionally the LiDAR cloud), then the image. The node's depth outputs are matched
to the frames by header stamp; scoring is ROS-free (:func:`lingbot_depth_ros.evaluation.replay.score_run`).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tqdm import tqdm

from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.evaluation.frames import RunResult
from lingbot_depth_ros.deploy.node_process import check_alive
from lingbot_depth_ros.evaluation.replay import Clouds, LoadedBag, ReplayOptions, cdr_stamp_ns, require_lidar, \
    score_run
from lingbot_depth_ros.bags.topics import StreamTopics

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
RECEIVE_RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
#: /tf_static as tf2_ros's static broadcaster publishes it (late joiners still get it)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
_ROLE_TYPES = {"camera_info": CameraInfo, "sparse_depth": Image, "lidar_points": PointCloud2, "image": Image}
_SEND_ORDER = ("camera_info", "sparse_depth", "lidar_points", "image")


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
                 clock: bool, context: rclpy.Context, tf_static: bytes | None = None) -> None:
        super().__init__("lingbot_depth_replay", context=context)
        self.publishers_by_role = {role: self.create_publisher(_ROLE_TYPES[role], getattr(topics, role), RELIABLE)
                                   for role in send_roles}
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
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        self.clock_pub.publish(msg)

    def missing_peers(self) -> list[str]:
        """What is not connected yet: input topics without a subscriber, a depth topic without a publisher."""
        missing = [f"nothing subscribes to {p.topic_name}" for p in self.publishers_by_role.values()
                   if p.get_subscription_count() == 0]
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


def replay_run(bag: LoadedBag, options: ReplayOptions, label: str, *,
               node_process: subprocess.Popen[bytes] | None = None, node_log: Path | None = None
               ) -> tuple[RunResult, Clouds]:
    """Replay ``bag`` into the node listening on ``options.topics`` and score its outputs.

    Returns:
        The run's result and, with ``record_points``, the node's clouds per frame index.

    Raises:
        LingbotDepthError: no node connected within ``wait_s``, the node process died, or
            ``send_lidar`` with a bag without clouds.
    """
    roles = ["camera_info", "image"]
    if options.send_sparse and any("sparse_depth" in f.raw for f in bag.frames):
        roles.append("sparse_depth")
    if options.send_lidar:
        require_lidar(bag)
        roles.append("lidar_points")
    context = rclpy.Context()
    rclpy.init(args=[], context=context)  # our own CLI arguments are not ROS arguments
    node: ReplayNode | None = None
    executor = SingleThreadedExecutor(context=context)
    spinner: threading.Thread | None = None
    try:
        node = ReplayNode(options.topics, send_roles=tuple(roles), record_points=options.record_points,
                          output_qos=options.output_qos, clock=options.clock, context=context,
                          tf_static=bag.tf_static if options.send_lidar and options.publish_tf else None)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, name="replay_spin", daemon=True)
        spinner.start()
        deadline = time.monotonic() + options.wait_s
        while missing := node.missing_peers():
            check_alive(node_process, node_log)
            if time.monotonic() > deadline:
                raise LingbotDepthError(
                    f"no depth node connected within {options.wait_s:.0f} s: {'; '.join(missing)}. Start the "
                    "node with matching remaps (or in namespace /camera), use --no-sparse for a monocular node "
                    "or a node reading sparse_input:=pointcloud (with --send-lidar), or use --start-node")
            time.sleep(0.05)
        time.sleep(0.3)  # let the other side finish matching too
        sent_ns: dict[int, int] = {}
        # disable=None: no bar (no \r in logs) when stderr is not a terminal
        progress = tqdm(total=len(bag.frames), desc=f"replay {label}", unit="frame",
                        disable=None if options.progress else True)
        start_wall = time.monotonic()
        first_stamp = bag.frames[0].stamp_ns
        for frame in bag.frames:
            if options.rate is not None:
                due = start_wall + (frame.stamp_ns - first_stamp) / 1e9 / options.rate
                while (delay := due - time.monotonic()) > 0:
                    time.sleep(min(delay, 0.05))
            node.publish_clock(frame.stamp_ns)
            for role in _SEND_ORDER:
                if role in node.publishers_by_role and role in frame.raw:
                    if role == "image":
                        sent_ns[frame.index] = time.monotonic_ns()
                    node.publishers_by_role[role].publish(frame.raw[role])
            if options.rate is None:
                node.wait_for(frame.stamp_ns, time.monotonic() + options.timeout_s)
            check_alive(node_process, node_log)
            progress.set_postfix_str(f"sent, {len(node.depth_outputs)} answered", refresh=False)
            progress.update()
        final_deadline = time.monotonic() + options.timeout_s
        for frame in bag.frames:
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
    result, clouds = score_run(bag, options, label, sent_ns, depth_outputs, points_outputs)
    if options.send_lidar:
        result.settings["tf_static_published"] = tf_published
    return result, clouds
