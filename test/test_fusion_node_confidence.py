"""depth_fusion_node with fusion.confidence_weighting over real rclpy topics (issue 20, fusion): a feeder publishes
depth/image, then depth/confidence (the depth node's order), camera_info and colour of a wall at 2.03 m whose left
half reads 2.15 m at confidence 0.05 in every other frame. Weighted, fused/points keeps the wall where it is;
with weighting off the same frames pull it half way. A confidence of another size, and a depth frame whose
confidence never comes, are fused unweighted, counted in diagnostics and warned once; fusion.confidence_min
is set at run time and refused outside 0..1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import spin_in_background, stop_spinning
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from waiting import repeat_until, wait_until

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_to_xyz
from lingbot_depth_ros.ros.fusion_node import DepthFusionNode
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image

pytest.importorskip("open3d")

K = CameraIntrinsics(fx=80.0, fy=80.0, cx=39.5, cy=29.5, width=80, height=60)
TRUE_Z_M, WRONG_Z_M = 2.03, 2.15


def _header(stamp_ns: int) -> Header:
    h = Header(frame_id="camera_optical_frame")
    h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return h


def _frame(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Depth [m] and confidence of frame ``i``: odd frames carry the wrong left half at confidence 0.05."""
    depth = np.full((K.height, K.width), TRUE_Z_M, np.float32)
    confidence = np.full(depth.shape, 0.9, np.float32)
    if i % 2:
        depth[:, :40], confidence[:, :40] = WRONG_Z_M, 0.05
    return depth, confidence


class _Feeder:
    """The fusion node and a feeder node spinning in this process, on a namespace of their own."""

    def __init__(self, context: rclpy.Context, node: DepthFusionNode, ns: str) -> None:
        self.node, self.test = node, rclpy.create_node("fusion_confidence_feeder", context=context)
        self.clouds: list[PointCloud2] = []
        self.diags: list[DiagnosticArray] = []
        self.test.create_subscription(PointCloud2, "/fused/points", self.clouds.append, 1)
        self.test.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, 10)
        self.pubs = {name: self.test.create_publisher(kind, f"{ns}/{name}", qos_profile_sensor_data)
                     for name, kind in (("depth/image", Image), ("depth/confidence", Image),
                                        ("depth/camera_info", CameraInfo), ("image", Image))}
        self.stamp_ns = 1_700_000_000_000_000_000

    def handled(self) -> int:
        return self.node.fusion.stats.frames_integrated + sum(self.node.drops.values())

    def publish(self, depth: np.ndarray, confidence: np.ndarray | None, *, expect_fused: bool = True,
                handled: int = 1) -> None:
        """One frame: camera_info and colour first, then depth, then (if any) its confidence; waits until the
        node has fused (or dropped) it when ``expect_fused`` (``handled`` frames: 2 when it also flushes one that
        waited for its confidence)."""
        self.stamp_ns += 100_000_000
        header = _header(self.stamp_ns)
        cam = self.node.cameras[0]
        self.pubs["depth/camera_info"].publish(intrinsics_to_camera_info(K, header))
        self.pubs["image"].publish(numpy_to_image(np.full((K.height, K.width, 3), 120, np.uint8), "rgb8", header))
        wait_until(lambda: cam.info is not None and self.stamp_ns in cam.colour, 10, "camera_info and colour")
        before = self.handled()
        self.pubs["depth/image"].publish(depth_m_to_image(depth, header))
        if confidence is not None:
            self.pubs["depth/confidence"].publish(numpy_to_image(confidence.astype(np.float32), "32FC1", header))
        if expect_fused:
            wait_until(lambda: self.handled() >= before + handled and cam.pending is None, 15,
                       "the depth frame to be fused or dropped",
                       detail=lambda: f"drops {dict(self.node.drops)}, pending {cam.pending is not None}")
        else:  # it waits for its confidence: taken as pending
            wait_until(lambda: cam.pending is not None and cam.pending.header.stamp == header.stamp, 15,
                       "the depth frame to wait for its confidence")

    def fused_xyz(self) -> np.ndarray:
        """The fused/points cloud published after the last frame."""
        self.clouds.clear()
        wait_until(lambda: self.clouds, 10, "a fused/points cloud after the last frame")
        return pointcloud2_to_xyz(self.clouds[-1])

    def diagnostics(self) -> dict[str, str]:
        reports = len(self.diags)
        self.node.diagnostics.force_update()
        wait_until(lambda: len(self.diags) > reports, 10, "the forced diagnostics")
        statuses = [s for a in self.diags[reports:] for s in a.status if "fusion" in s.name]
        assert statuses, "no fusion diagnostics"
        return {kv.key: kv.value for kv in statuses[-1].values}


@contextmanager
def _fusion_node(weighting: bool, **params: Any) -> Iterator[_Feeder]:
    context = rclpy.Context()
    rclpy.init(context=context)
    ns = f"/fconf{abs(hash((weighting, time.time_ns()))) % 100000}"
    overrides = [Parameter("cameras", value=[ns]), Parameter("fusion.pose_source", value="none"),
                 Parameter("fusion.voxel_size_m", value=0.04), Parameter("fusion.integration_rate_hz", value=0.0),
                 Parameter("fusion.publish_rate_hz", value=5.0), Parameter("fusion.weight_threshold", value=0.5),
                 Parameter("fusion.max_depth_m", value=4.0), Parameter("fusion.confidence_weighting", value=weighting)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = DepthFusionNode(context=context, parameter_overrides=overrides)
    feeder = _Feeder(context, node, ns)
    executor, thread = spin_in_background(context, node, feeder.test)
    try:
        inputs = ["depth/image", "depth/camera_info", "image"] + (["depth/confidence"] if weighting else [])
        wait_until(lambda: all(feeder.pubs[n].get_subscription_count() > 0 for n in inputs) and
                   node.points_pub.get_subscription_count() > 0, 10, "the fusion node and the feeder to connect")
        yield feeder
    finally:
        stop_spinning(executor, thread, context, node, feeder.test)


def _left_z(xyz: np.ndarray) -> float:
    left = xyz[xyz[:, 0] < -0.2]
    assert len(left) > 50
    return float(np.median(left[:, 2]))


def test_weighting_keeps_low_confidence_depth_from_moving_the_map() -> None:
    with _fusion_node(weighting=False) as feeder:
        assert feeder.pubs["depth/confidence"].get_subscription_count() == 0  # off: not subscribed
        for i in range(6):
            feeder.publish(*_frame(i))
        unweighted_z = _left_z(feeder.fused_xyz())
        assert feeder.diagnostics()["confidence_weighting"] == "false"
    with _fusion_node(weighting=True) as feeder:
        for i in range(6):
            feeder.publish(*_frame(i))
        weighted_z = _left_z(feeder.fused_xyz())
        diag = feeder.diagnostics()
    assert unweighted_z - TRUE_Z_M > 0.04, unweighted_z  # half the frames say 2.15 m: the wall moves half way
    assert abs(weighted_z - TRUE_Z_M) < 0.012, weighted_z  # 3 x 0.05 against 3 x 0.9: a few mm at most
    assert diag["frames_weighted"] == "6" and diag["frames_unweighted_no_confidence"] == "0", diag
    assert diag["confidence_weighting"] == "true" and diag["confidence_min"] == "0"


def test_missing_or_mismatched_confidence_fuses_unweighted_counted_and_warned_once() -> None:
    with _fusion_node(weighting=True) as feeder:
        node = feeder.node
        depth, confidence = _frame(0)
        feeder.publish(depth, confidence)
        feeder.publish(depth, np.full((30, 40), 0.9, np.float32))  # another size: fused unweighted at once
        feeder.publish(depth, np.full((30, 40), 0.9, np.float32))
        assert "fused unweighted (confidence_size)" in node.last_warning and "40x30" in node.last_warning
        feeder.publish(depth, None, expect_fused=False)  # its confidence never comes: waits ...
        feeder.publish(depth, confidence, handled=2)  # ... and is fused unweighted when the next one arrives
        # publish() waits on frames_integrated, counted inside integrate(); frames_weighted is counted just after it
        wait_until(lambda: node.frames_weighted >= 2, 10, "the second weighted frame to be counted")
        diag = feeder.diagnostics()
        assert diag["frames_weighted"] == "2", diag
        assert diag["frames_unweighted_confidence_size"] == "2", diag
        assert diag["frames_unweighted_no_confidence"] == "1", diag
        assert diag["frames_unweighted_bad_confidence"] == "0" and diag["frames_dropped"] == "0", diag
        assert node.fusion.stats.frames_integrated == 5
        warned = [key for key in node._warned if key.startswith("unweighted")]
        assert sorted(k.split()[1] for k in warned) == ["confidence_size", "no_confidence"]  # once per reason
        # confidence_min at run time: refused outside 0..1, taken by the next frame inside it
        refused = node.set_parameters([Parameter("fusion.confidence_min", value=1.5)])[0]
        assert not refused.successful and "fusion.confidence_min=1.5 is above its maximum 1" in refused.reason
        assert node.set_parameters([Parameter("fusion.confidence_min", value=0.95)])[0].successful
        before = node.fusion.stats.frames_empty
        feeder.publish(depth, confidence)  # every pixel (0.9) below 0.95: nothing to fuse, dropped as empty
        assert node.fusion.config.confidence_min == 0.95
        assert node.fusion.stats.frames_empty == before + 1 and node.drops["empty_depth"] == 1
        assert "below confidence_min 0.95" in node.last_warning


def test_with_the_depth_node_every_frame_is_fused_weighted() -> None:
    """The real depth node (classical) publishes depth/confidence because the fusion node subscribes it, just after
    depth/image; the fusion node waits for it and fuses every frame weighted, none unweighted or dropped."""
    from ros_harness import in_process_node

    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator

    frame = SceneGenerator(320, 240, seed=5, lidar=LidarConfig.preset(32)).frame(0)
    with in_process_node(create_estimator("classical")) as (depth_node, harness):
        context = rclpy.Context()
        rclpy.init(context=context)
        fusion = DepthFusionNode(context=context, parameter_overrides=[
            Parameter("cameras", value=[""]), Parameter("fusion.pose_source", value="none"),
            Parameter("fusion.voxel_size_m", value=0.04), Parameter("fusion.integration_rate_hz", value=0.0),
            Parameter("fusion.publish_rate_hz", value=0.0), Parameter("fusion.weight_threshold", value=0.5),
            Parameter("fusion.max_depth_m", value=5.0), Parameter("fusion.confidence_weighting", value=True)])
        executor, thread = spin_in_background(context, fusion)
        try:
            channel = depth_node.channels[0]
            wait_until(lambda: channel.pub_confidence.get_subscription_count() > 0 and
                       channel.pub_depth.get_subscription_count() > 1, 10, "the fusion node to subscribe")
            stamps = iter(range(frame.stamp_ns, frame.stamp_ns + 10**10, 100_000_000))

            def fuse_one(what: str, done: Callable[[], bool]) -> None:
                """Publish the frame (again, at a new stamp) until ``done``: the first frames may race the
                subscriptions (a depth frame that lost its confidence then is fused unweighted, counted)."""
                repeat_until(lambda: harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m,
                                                           next(stamps)), done, 30, what, period_s=1.0,
                             detail=lambda: f"drops {dict(fusion.drops)}, unweighted {dict(fusion.unweighted)}")
                wait_until(lambda: fusion.cameras[0].pending is None, 10, "no depth frame waiting for its confidence")

            fuse_one("a first weighted frame", lambda: fusion.frames_weighted > 0)
            before = (fusion.frames_weighted, sum(fusion.unweighted.values()), sum(fusion.drops.values()))
            for k in range(3):
                fuse_one(f"frame {k} to be fused", lambda k=k: fusion.frames_weighted > before[0] + k)
            assert fusion.frames_weighted == before[0] + 3, fusion.frames_weighted
            assert (sum(fusion.unweighted.values()), sum(fusion.drops.values())) == before[1:], dict(fusion.unweighted)
            xyz, _ = fusion.fusion.point_cloud()
            assert len(xyz) > 500  # the weighted map of the classical completion of the scene
            grid = fusion.fusion._grid
            weights = grid.attribute("weight").numpy()[grid.hashmap().active_buf_indices().numpy()].ravel()
            weights = weights[weights > 0]
            # sums of confidences (< 1 per frame where the completion is unsure), not whole frame counts
            assert np.mean(np.abs(weights - np.round(weights)) > 0.01) > 0.5
        finally:
            stop_spinning(executor, thread, context, fusion)
