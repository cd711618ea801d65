"""Test harness: the node in its own process, and an in-test rclpy node that feeds and records it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from waiting import wait_until

from lingbot_depth_ros.deploy.node_process import stop_node
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.depth_node import DepthNode
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image, numpy_to_image

REPO_ROOT = Path(__file__).resolve().parents[1]
RELIABLE_INPUT = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class NodeProcess:
    """``python -m lingbot_depth_ros.ros.depth_node`` in a subprocess with parameters; stderr+stdout to a log."""

    def __init__(self, params: dict[str, Any] | None = None, log_path: Path | None = None,
                 params_file: Path | None = None, extra_args: list[str] | None = None,
                 namespace: str | None = None) -> None:
        args = [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args"]
        if namespace:
            args += ["-r", f"__ns:={namespace}"]
        if params_file:
            args += ["--params-file", str(params_file)]
        for key, value in (params or {}).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        args += extra_args or []
        self.args = args
        self.log_path = log_path or (Path(os.environ.get("TMPDIR", "/tmp"))
                                     / f"depth_node_{os.getpid()}_{time.time_ns()}.log")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the node logs ``ready:``; fails at once (with the log) if it exits first. The deadline is generous
        (a node importing torch + transformers + diffusers took over 30 s with both cores busy): it costs only
        the time the node takes."""
        def ready() -> bool:
            if self.proc.poll() is not None and "ready:" not in self.log():
                raise AssertionError(f"node exited with {self.proc.returncode}:\n{self.log()}")
            return "ready:" in self.log()

        wait_until(ready, timeout, "the node to log 'ready:'", detail=lambda: f"log:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def __exit__(self, *exc: Any) -> None:
        stop_node(self.proc, timeout_s=10)  # SIGINT (clean shutdown), then SIGTERM, then SIGKILL
        self._log.close()


def spin_in_background(context: rclpy.Context, *nodes: Node) -> tuple[SingleThreadedExecutor, threading.Thread]:
    """Spin ``nodes`` (all of ``context``) with their own executor on a daemon thread; see :func:`stop_spinning`."""
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)

    def spin() -> None:
        with contextlib.suppress(Exception):  # shutdown ends the spin
            executor.spin()

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    return executor, thread


def stop_spinning(executor: SingleThreadedExecutor, thread: threading.Thread, context: rclpy.Context,
                  *nodes: Node) -> None:
    """End what :func:`spin_in_background` started: executor, ``nodes``, ``context``, thread."""
    executor.shutdown(timeout_sec=2)
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(timeout=5)


class StampClock:
    """Increasing stamps [ns] 0.1 s apart from ``start_s`` [s], far from any other test's stamps."""

    def __init__(self, start_s: float) -> None:
        self.value = int(start_s * 1e9)

    def next(self) -> int:
        self.value += 100_000_000
        return self.value


class Recorder:
    """Messages of one topic, with their receive times."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.times: list[float] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def wait(self, predicate: Callable[[list[Any]], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def by_stamp(self, stamp_ns_value: int) -> Any | None:
        for m in self.messages:
            if m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec == stamp_ns_value:
                return m
        return None


class RosHarness:
    """An rclpy node in the test process: publishes inputs to, and records outputs of, the node under test."""

    OUTPUTS = {"depth/image": Image, "depth/camera_info": CameraInfo, "depth/colorized": Image, "points": PointCloud2}

    def __init__(self, namespace: str = "", input_qos=qos_profile_sensor_data,
                 extra_outputs: dict | None = None) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(f"test_harness_{os.getpid()}", context=self.context)
        prefix = (namespace.rstrip("/") + "/") if namespace else ""
        self.pub_image = self.node.create_publisher(Image, prefix + "image", input_qos)
        self.pub_info = self.node.create_publisher(CameraInfo, prefix + "camera_info", input_qos)
        self.pub_sparse = self.node.create_publisher(Image, prefix + "sparse_depth", input_qos)
        self.pub_lidar = self.node.create_publisher(PointCloud2, prefix + "lidar_points", input_qos)
        self.recorders: dict[str, Recorder] = {}
        self.subscriptions: dict[str, Any] = {}
        outputs = dict(self.OUTPUTS, **(extra_outputs or {}))
        for topic, msg_type in outputs.items():
            self.recorders[topic] = Recorder()
            self.subscriptions[topic] = self.node.create_subscription(
                msg_type, prefix + topic, self.recorders[topic], qos_profile_sensor_data)
        self.executor, self._thread = spin_in_background(self.context, self.node)

    def wait_connected(self, timeout: float = 20.0, sparse: bool = True, lidar: bool = False) -> None:
        pubs = [self.pub_image, self.pub_info] + ([self.pub_sparse] if sparse else []) + \
            ([self.pub_lidar] if lidar else [])
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in pubs) and
                   self.node.count_publishers(self.subscriptions["depth/image"].topic_name) > 0, timeout,
                   "the node under test to connect to the harness topics")

    @staticmethod
    def header(stamp_ns: int, frame_id: str = "camera_color_optical_frame") -> Header:
        h = Header()
        h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        h.frame_id = frame_id
        return h

    def publish_frame(self, rgb: np.ndarray, intrinsics: CameraIntrinsics | None, sparse_m: np.ndarray | None,
                      stamp_ns: int, *, encoding: str = "rgb8", sparse_encoding: str = "16UC1",
                      frame_id: str = "camera_color_optical_frame", info: CameraInfo | None = None) -> None:
        header = self.header(stamp_ns, frame_id)
        if sparse_m is not None:
            self.pub_sparse.publish(depth_m_to_image(sparse_m, header, sparse_encoding))
        if info is None and intrinsics is not None:
            info = intrinsics_to_camera_info(intrinsics, header)
        if info is not None:
            info.header = header
            self.pub_info.publish(info)
        pixels = rgb
        if encoding == "bgr8":
            pixels = np.ascontiguousarray(rgb[..., ::-1])
        elif encoding in ("rgba8", "bgra8"):
            base = rgb if encoding == "rgba8" else rgb[..., ::-1]
            pixels = np.concatenate([base, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
        elif encoding == "mono8":
            pixels = np.ascontiguousarray(rgb[..., 1])
        self.pub_image.publish(numpy_to_image(pixels, encoding, header))

    def close(self) -> None:
        stop_spinning(self.executor, self._thread, self.context, self.node)


def publish_until_depth(harness: RosHarness, rgb: np.ndarray, intrinsics: CameraIntrinsics,
                        sparse_m: np.ndarray | None, stamp: int, timeout: float = 30.0) -> np.ndarray:
    """Publish the frame (stamp, then stamp + 1, + 2 [ns]: the first frames may race the node's subscriptions)
    until ``depth/image`` answers one; that answer as (H, W) float32 depth [m] (asserted 32FC1)."""
    recorder = harness.recorders["depth/image"]
    for attempt in range(3):
        harness.publish_frame(rgb, intrinsics, sparse_m, stamp + attempt)
        sent = [stamp + a for a in range(attempt + 1)]
        if recorder.wait(lambda _, sent=sent: any(recorder.by_stamp(s) is not None for s in sent), timeout):
            break
    msg = next((recorder.by_stamp(stamp + a) for a in range(3) if recorder.by_stamp(stamp + a) is not None), None)
    assert msg is not None, "no depth/image"
    assert msg.encoding == "32FC1"
    return depth_m_from_image(msg)



@contextlib.contextmanager
def _spinning_depth_node(estimator: DepthEstimator | None, overrides: list[Parameter]) -> Iterator[DepthNode]:
    """A DepthNode built with ``overrides`` in its own context, spinning on a thread until the block ends."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = DepthNode(estimator=estimator, context=context, parameter_overrides=overrides)
    except BaseException:
        rclpy.shutdown(context=context)
        raise
    executor, thread = spin_in_background(context, node)
    try:
        yield node
    finally:
        stop_spinning(executor, thread, context, node)


@contextlib.contextmanager
def in_process_node(estimator: DepthEstimator, **params: Any) -> Iterator[tuple[DepthNode, RosHarness]]:
    """A DepthNode with ``estimator`` spinning in this process (own context), and a harness talking to it."""
    overrides = [Parameter(name, value=value) for name, value in params.items()]
    with _spinning_depth_node(estimator, overrides) as node:
        harness = RosHarness()
        try:
            cloud = params.get("sparse_input") == "pointcloud"
            harness.wait_connected(sparse=not cloud, lidar=cloud)
            # The node's own writers must have matched the harness readers too, or the first outputs are lost.
            channel = node.channels[0]
            wait_until(lambda: all(p.get_subscription_count() > 0 for p in
                                   (channel.pub_depth, channel.pub_info, channel.pub_colorized)), 10,
                       "the node's outputs to match the harness subscriptions")
            yield node, harness
        finally:
            harness.close()


@contextlib.contextmanager
def node_with_harness(params: dict[str, Any], log_path: Path) -> Iterator[tuple[NodeProcess, RosHarness]]:
    """The node in its own process with ``params``, and a connected harness in this one."""
    with NodeProcess(params, log_path=log_path) as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            harness.wait_connected()
            yield node, harness
        finally:
            harness.close()


@contextlib.contextmanager
def multi_camera_node(estimator: DepthEstimator | None, cameras: list[str], /,
                      **params: Any) -> Iterator[tuple[DepthNode, dict[str, RosHarness]]]:
    """A DepthNode serving ``cameras`` (one process, one estimator: ``estimator``, or the one the parameters
    name when None) spinning in this process, and one connected harness per camera namespace."""
    overrides = [Parameter(name, value=value) for name, value in params.items()]
    if cameras:  # an empty list has no ROS parameter type: leaving it unset is "no cameras"
        overrides.append(Parameter("cameras", value=list(cameras)))
    with _spinning_depth_node(estimator, overrides) as node:
        harnesses: dict[str, RosHarness] = {}
        try:
            reliable = params.get("input_qos") == "reliable"
            for camera in cameras:
                harnesses[camera] = RosHarness(namespace=camera, input_qos=RELIABLE_INPUT if reliable else
                                               qos_profile_sensor_data)
            for harness in harnesses.values():
                harness.wait_connected()
            if cameras:
                wait_until(lambda: all(c.pub_depth.get_subscription_count() > 0 for c in node.channels), 10,
                           "every camera's depth output to match its harness subscription")
            yield node, harnesses
        finally:
            for harness in harnesses.values():
                harness.close()
