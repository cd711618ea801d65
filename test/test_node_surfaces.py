"""The depth node's surface outputs over real rclpy: surfaces (JSON) and surfaces/markers, off by default,
switched on at run time, rate-limited without holding back depth/image."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_harness import Recorder, in_process_node
from std_msgs.msg import String
from surface_scenes import Scene, box
from visualization_msgs.msg import Marker, MarkerArray

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.surfaces import schema_errors

pytestmark = pytest.mark.ros
K = CameraIntrinsics(300.0, 300.0, 159.5, 119.5, 320, 240)
HEIGHT_M, PITCH_RAD, BOX_TOP_M = 1.2, math.radians(22.0), 0.45


def _frame() -> tuple[np.ndarray, np.ndarray]:
    depth = Scene(box((3.0, 0.0), (0.6, 0.8, BOX_TOP_M)), spheres=[], cylinders=[]).depth(
        K, camera_pose_from_mounting(HEIGHT_M, PITCH_RAD), noise_rel=0.001)
    sparse = np.zeros_like(depth)
    sparse[::3, ::3] = np.nan_to_num(depth[::3, ::3])
    gray = np.clip(np.nan_to_num(depth) * 40, 0, 255).astype(np.uint8)
    return np.dstack([gray, gray, gray]), sparse


def test_surfaces_published_when_enabled_and_rate_limited() -> None:
    rgb, sparse = _frame()
    params = {"obstacles.camera.height_m": HEIGHT_M, "obstacles.camera.pitch_rad": PITCH_RAD,
              "obstacles.use_tf": False, "surfaces.rate_hz": 0.2}
    with in_process_node(create_estimator("classical"), **params) as (node, harness):
        surfaces, markers = Recorder(), Recorder()
        harness.node.create_subscription(String, "surfaces", surfaces, 10)
        harness.node.create_subscription(MarkerArray, "surfaces/markers", markers, 10)
        depth = harness.recorders["depth/image"]
        stamp = 1_000_000_000
        harness.publish_frame(rgb, K, sparse, stamp)
        assert depth.wait(lambda m: len(m) >= 1, 30)
        assert not surfaces.wait(lambda m: len(m) >= 1, 1.5), "surfaces.enabled defaults to false"

        result = node.set_parameters([Parameter("surfaces.enabled", value=True)])[0]
        assert result.successful, result.reason
        for i in range(1, 4):  # rate_hz 0.2: the first of these is analysed, the others are skipped
            harness.publish_frame(rgb, K, sparse, stamp + i * 100_000_000)
            assert depth.wait(lambda m, n=i + 1: len(m) >= n, 30), "depth/image held back by the surfaces"
        assert surfaces.wait(lambda m: len(m) >= 1, 30) and markers.wait(lambda m: len(m) >= 1, 30)
        assert not surfaces.wait(lambda m: len(m) >= 2, 1.0), "surfaces.rate_hz not applied"
        channel = node.channels[0]
        assert channel.surfaces.analyses == 1 and channel.surfaces.skipped_rate == 2

    doc = json.loads(surfaces.messages[0].data)
    assert schema_errors(doc) == [] and doc["frame_id"] == "base_link"
    assert doc["stamp"] == {"sec": 1, "nanosec": 100_000_000}  # stamped like the depth image it analysed
    tops = [s for s in doc["surfaces"] if s["kind"] == "horizontal"]
    assert any(s["kind"] == "floor" for s in doc["surfaces"])
    assert len(tops) == 1 and tops[0]["height_m"] == pytest.approx(BOX_TOP_M, abs=0.03)
    array = markers.messages[0].markers
    assert array[0].action == Marker.DELETEALL and all(m.header.frame_id == "base_link" for m in array)
    namespaces = {m.ns for m in array[1:]}
    assert {"surface_outline", "surface_normal", "surface_label"} <= namespaces
    assert sum(m.ns == "surface_outline" for m in array) == len(doc["surfaces"])


def test_invalid_surface_parameters_are_refused() -> None:
    with in_process_node(create_estimator("nearest"), **{"surfaces.enabled": True}) as (node, _):
        result = node.set_parameters([Parameter("surfaces.max_tilt_deg", value=50.0)])[0]
        assert not result.successful and "surfaces.max_tilt_deg" in result.reason
        assert node.set_parameters([Parameter("surfaces.clearance_m", value=0.3)])[0].successful
        assert node.channels[0].surfaces.settings["config"].clearance_m == 0.3
