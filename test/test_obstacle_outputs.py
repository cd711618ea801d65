"""ObstacleOutputs and LidarInput over real rclpy topics (one process, two nodes, a real DDS graph)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import spin_in_background, stop_spinning
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray
from waiting import wait_until

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform, camera_pose_from_mounting
from lingbot_depth_ros.navigation.obstacle_report import schema_errors
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.obstacle_outputs import (
    LidarInput,
    ObstacleOutputs,
    rigid_transform_from_msg,
    transform_msg_from_rigid,
)

pytestmark = pytest.mark.ros

K = CameraIntrinsics(fx=320.0, fy=320.0, cx=319.5, cy=239.5, width=640, height=480)
QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


def floor_and_box_depth(pose: RigidTransform) -> np.ndarray:
    """Depth of the floor plus a box 1.0 m ahead (|y| <= 0.2 m, 0.5 m tall), seen from ``pose``."""
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape)], -1).reshape(-1, 3)
    dirs = rays @ pose.rotation.T
    o = pose.translation
    safe = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
    best = np.where(dirs[:, 2] < 0, -o[2] / safe[:, 2], np.inf)
    t1, t2 = (np.array([1.0, -0.2, 0.0]) - o) / safe, (np.array([1.3, 0.2, 0.5]) - o) / safe
    near, far = np.minimum(t1, t2).max(1), np.maximum(t1, t2).min(1)
    best = np.where((far >= near) & (near > 0), np.minimum(best, near), best)
    return np.where(best < 20, best, np.nan).astype(np.float32).reshape(K.height, K.width)


class Graph:
    """A context with a producer node (under test) and a listener node, spun in a background thread."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.producer = Node("obstacle_outputs_producer", context=self.context)
        self.listener = Node("obstacle_outputs_listener", context=self.context)
        self.received: dict[str, list[Any]] = {}
        self._cond = threading.Condition()
        self.executor, self._thread = spin_in_background(self.context, self.producer, self.listener)

    def record(self, topic: str, msg_type: Any) -> None:
        self.received[topic] = []

        def callback(msg: Any) -> None:
            with self._cond:
                self.received[topic].append(msg)
                self._cond.notify_all()
        self.listener.create_subscription(msg_type, topic, callback, QOS)

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        stop_spinning(self.executor, self._thread, self.context, self.producer, self.listener)


@pytest.fixture()
def graph():
    g = Graph()
    try:
        yield g
    finally:
        g.close()


def test_obstacle_topics_carry_the_analysis(graph: Graph) -> None:
    params = {"obstacles.use_tf": False, "obstacles.camera.height_m": 0.5, "obstacles.camera.pitch_rad": 0.2,
              "obstacles.camera.x_m": 0.1, "obstacles.scan_mode": "dense", "obstacles.dense_rays": 45,
              "obstacles.caution_distance_m": 1.5}
    outputs = ObstacleOutputs(graph.producer, params, QOS)
    for topic, msg_type in (("obstacles/scan", LaserScan), ("obstacles/recommendation", String),
                            ("obstacles/markers", MarkerArray)):
        graph.record(topic, msg_type)
    wait_until(lambda: all(pub.get_subscription_count() > 0 for pub in
                           (outputs.pub_scan, outputs.pub_recommendation, outputs.pub_markers)), 15,
               "the listener to connect to the three obstacle topics")
    pose = camera_pose_from_mounting(height_m=0.5, pitch_rad=0.2, x_m=0.1)
    image_header = Header(stamp=Time(sec=42, nanosec=7), frame_id="camera_color_optical_frame")
    report = outputs.process(floor_and_box_depth(pose), K, image_header, scan_time_s=0.1)
    assert report is not None
    assert graph.wait(lambda: all(len(graph.received[t]) >= 1 for t in graph.received))

    scan = graph.received["obstacles/scan"][0]
    assert scan.header.frame_id == "base_link" and (scan.header.stamp.sec, scan.header.stamp.nanosec) == (42, 7)
    assert len(scan.ranges) == 45
    ranges = np.asarray(scan.ranges)
    angles = scan.angle_min + scan.angle_increment * np.arange(45)
    ahead = np.abs(angles) < math.radians(8)
    # The box face is 1.0 m ahead of the base origin: rays towards it read ~1.0 / cos(angle).
    np.testing.assert_allclose(ranges[ahead], 1.0 / np.cos(angles[ahead]), atol=0.05)
    side = np.abs(angles) > math.radians(30)   # floor only there: never an obstacle
    assert not np.isfinite(ranges[side]).any()
    # Seen far enough: free (+inf). The outermost bins are only seen by the bottom image corners (the pitched
    # camera's floor footprint is wider than its horizon), i.e. only near floor: unknown (NaN), never free.
    assert np.isinf(ranges[side & (np.abs(angles) < math.radians(40))]).all()

    doc = json.loads(graph.received["obstacles/recommendation"][0].data)
    assert schema_errors(doc) == [] and doc["frame_id"] == "base_link"
    assert doc["stamp"] == {"sec": 42, "nanosec": 7}
    center = doc["sectors"][1]
    assert center["name"] == "center" and center["status"] == "caution"
    assert center["distance_m"] == pytest.approx(1.0, abs=0.03)
    assert doc["recommendation"] in ("turn_left", "turn_right")

    markers = graph.received["obstacles/markers"][0].markers
    assert len(markers) == 1 + 2 * 3 + 1 and markers[-1].text in ("TURN LEFT", "TURN RIGHT")


def test_without_tf2_the_parameters_pose_is_used(graph: Graph) -> None:
    outputs = ObstacleOutputs(graph.producer, {"obstacles.use_tf": True}, QOS)
    try:
        import tf2_ros  # noqa: F401
        has_tf2 = True
    except ImportError:
        has_tf2 = False
    assert outputs.transforms.uses_tf == has_tf2
    if not has_tf2:
        pose = outputs.transforms.lookup("base_link", "camera", Time(sec=1), outputs.fallback_pose)
        assert pose is outputs.fallback_pose


def test_lidar_cloud_becomes_sparse_depth_at_hand_computed_pixels(graph: Graph) -> None:
    lidar = LidarInput(graph.producer, {"lidar.use_tf": False, "lidar.z_m": 0.1})
    # LiDAR frame (x forward, y left, z up), 0.1 m above the camera: (4, 1, 0) -> optical (-1, -0.1, 4).
    cloud = xyz_to_pointcloud2(np.array([[4.0, 1.0, 0.0], [2.0, 0.0, -0.1], [-3.0, 0.0, 0.0], [np.nan, 0, 0]],
                                        dtype=np.float32),
                               Header(stamp=Time(sec=5), frame_id="lidar"))
    info = intrinsics_to_camera_info(K)
    depth = lidar.sparse_depth(cloud, info, "camera_color_optical_frame", 640, 480)
    assert depth.shape == (480, 640) and np.count_nonzero(depth) == 2   # the point behind is dropped
    assert depth[math.floor(239.5 - 320 * 0.1 / 4 + 0.5), math.floor(319.5 - 320 / 4 + 0.5)] == pytest.approx(4.0)
    # (2, 0, -0.1) is on the optical axis: u = cx = 319.5, v = cy = 239.5 round half up to pixel (320, 240).
    assert depth[240, 320] == pytest.approx(2.0)
    with pytest.raises(InputError, match="camera_info is for 640x480"):
        lidar.sparse_depth(cloud, info, "camera_color_optical_frame", 320, 240)


def test_transform_message_round_trip() -> None:
    t = RigidTransform.from_xyz_rpy(0.1, -0.2, 0.3, 0.4, -0.5, 0.6)
    assert rigid_transform_from_msg(transform_msg_from_rigid(t)).almost_equal(t, atol=1e-12)


def test_reconfigure_applies_new_values_or_refuses_inconsistent_ones(graph: Graph) -> None:
    from lingbot_depth_ros.errors import ConfigError
    outputs = ObstacleOutputs(graph.producer, {"obstacles.use_tf": False}, QOS)
    outputs.reconfigure({"obstacles.num_sectors": 5, "obstacles.camera.height_m": 1.2})
    assert outputs.config.num_sectors == 5 and outputs.fallback_pose.translation[2] == pytest.approx(1.2)
    with pytest.raises(ConfigError, match="blocked_distance_m"):
        outputs.reconfigure({"obstacles.blocked_distance_m": 3.0})
    assert outputs.config.num_sectors == 5  # unchanged after the refused update
