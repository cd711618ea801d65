"""LiDAR PointCloud2 as sparse input and the obstacle outputs, end to end over real rclpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ros_harness import NodeProcess, RosHarness
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.navigation.obstacle_report import schema_errors
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.image_codec import image_to_numpy
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytestmark = pytest.mark.ros
OBSTACLE_TOPICS = {"obstacles/scan": LaserScan, "obstacles/recommendation": String,
                   "obstacles/markers": MarkerArray}


@pytest.fixture(scope="module")
def scene() -> list:
    generator = SceneGenerator(640, 480, seed=4, camera_height_m=1.2, camera_pitch_deg=5.0,
                               lidar_offset_m=(0.0, 0.0, 0.12))
    return list(generator.frames(3))


def test_pointcloud_input_completes_depth_and_obstacles_are_published(tmp_path, scene) -> None:
    params = {"estimator": "classical", "sparse_input": "pointcloud", "lidar.z_m": 0.12,
              "obstacles.camera.height_m": 1.2, "obstacles.camera.pitch_rad": math.radians(5.0),
              "obstacles.base_frame": "base_link"}
    with NodeProcess(params, log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        harness = RosHarness(extra_outputs=OBSTACLE_TOPICS)
        try:
            harness.wait_connected(sparse=False, lidar=True)
            for frame in scene:
                header = harness.header(frame.stamp_ns, "lidar")
                harness.pub_lidar.publish(xyz_to_pointcloud2(frame.lidar_points_lidar, header))
                harness.publish_frame(frame.rgb, frame.intrinsics, None, frame.stamp_ns)
                rec = harness.recorders["depth/image"]
                stamp = frame.stamp_ns
                assert rec.wait(lambda m, rec=rec, stamp=stamp: rec.by_stamp(stamp) is not None, 20), \
                    node.log()[-3000:]
            for topic in OBSTACLE_TOPICS:
                rec = harness.recorders[topic]
                assert rec.wait(lambda m: len(m) >= len(scene), 10), f"no {topic}"
        finally:
            harness.close()

    # completion from the projected cloud is accurate against the scene's ground truth
    frame = scene[-1]
    depth = image_to_numpy(harness.recorders["depth/image"].by_stamp(frame.stamp_ns))
    valid = np.isfinite(depth)
    assert valid.mean() > 0.6
    err = depth[valid] - frame.depth_gt_m[valid]
    rmse = float(np.sqrt(np.mean(err ** 2)))
    # as good as completing the scene's own projected LiDAR depth directly (same estimator)
    direct = DepthPipeline(create_estimator("classical")).process(
        frame.rgb, frame.sparse_depth_m, frame.intrinsics, OutputSettings()).depth_m
    ok = np.isfinite(direct)
    direct_rmse = float(np.sqrt(np.mean((direct[ok] - frame.depth_gt_m[ok]) ** 2)))
    assert rmse < 1.1 * direct_rmse + 0.02 and rmse < 0.5, (rmse, direct_rmse)
    # the projection lands where the scene's own LiDAR model says: near-zero error at LiDAR pixels
    hits = frame.sparse_depth_m > 0
    assert np.median(np.abs(depth[hits & valid] - frame.sparse_depth_m[hits & valid])) < 0.02

    # obstacle outputs: one scan ray per sector in the base frame, a schema-valid JSON, markers
    scan = harness.recorders["obstacles/scan"].messages[-1]
    assert scan.header.frame_id == "base_link" and len(scan.ranges) == 3
    assert (scan.header.stamp.sec, scan.header.stamp.nanosec) == divmod(frame.stamp_ns, 1_000_000_000)
    doc = json.loads(harness.recorders["obstacles/recommendation"].messages[-1].data)
    assert schema_errors(doc) == []
    assert [s["name"] for s in doc["sectors"]] == ["left", "center", "right"]
    assert doc["recommendation"] in ("forward", "turn_left", "turn_right", "stop")
    for sector, ray in zip(doc["sectors"], reversed(scan.ranges)):  # scan rays go right->left (CCW)
        if sector["distance_m"] is not None:
            assert ray == pytest.approx(sector["distance_m"], rel=1e-4)
    markers = harness.recorders["obstacles/markers"].messages[-1]
    assert len(markers.markers) >= 1 + 2 * 3
