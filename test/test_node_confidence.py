"""depth/confidence over real rclpy topics (issue 20 §1): header and size of depth/image, 32FC1, 0..1, NaN exactly
where the depth is NaN; confidence.enabled switches it off and on at run time. The confidence gates (§2) on
points, obstacles/scan and the sectors, set at run time: gated pixels NaN in the cloud, gated rays NaN (never
+Inf), sectors seen only through gated pixels "unknown"; out-of-range gates refused with the reason."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import Recorder, RosHarness, in_process_node, publish_until_depth
from sensor_msgs.msg import Image, LaserScan
from std_msgs.msg import String
from waiting import wait_until

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_to_xyz
from lingbot_depth_ros.ros.image_codec import image_to_numpy
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import SceneFrame

pytestmark = pytest.mark.ros


def _stamp(msg: Image) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_confidence_topic_matches_depth_and_follows_the_parameter() -> None:
    frames = list(SceneGenerator(320, 240, seed=5, n_boxes=8, lidar=LidarConfig.preset(32)).frames(3))
    with in_process_node(create_estimator("classical")) as (node, harness):
        confidence = Recorder()
        harness.node.create_subscription(Image, "depth/confidence", confidence, qos_profile_sensor_data)
        channel = node.channels[0]
        wait_until(lambda: channel.pub_confidence.get_subscription_count() > 0, 10,
                   "depth/confidence to match the harness subscription")
        depth_rec, points = harness.recorders["depth/image"], harness.recorders["points"]

        frame = frames[0]
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        depth_msg = next(m for m in depth_rec.messages if frame.stamp_ns <= _stamp(m) <= frame.stamp_ns + 2)
        assert confidence.wait(lambda msgs: any(_stamp(m) == _stamp(depth_msg) for m in msgs), 10)
        conf_msg = confidence.by_stamp(_stamp(depth_msg))
        assert conf_msg.header == depth_msg.header and conf_msg.encoding == "32FC1"
        assert (conf_msg.height, conf_msg.width) == (depth_msg.height, depth_msg.width)
        depth, conf = image_to_numpy(depth_msg), image_to_numpy(conf_msg)
        assert np.isnan(depth).any() and np.array_equal(np.isnan(conf), np.isnan(depth))
        values = conf[np.isfinite(conf)]
        assert values.min() >= 0.0 and values.max() <= 1.0 and values.std() > 0.01

        # off at run time: depth and points still come, the confidence does not
        assert node.set_parameters([Parameter("confidence.enabled", value=False)])[0].successful
        frame = frames[1]
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        assert points.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)
        assert not any(_stamp(m) >= frame.stamp_ns for m in confidence.messages)

        # and on again
        assert node.set_parameters([Parameter("confidence.enabled", value=True)])[0].successful
        frame = frames[2]
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        assert confidence.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)


def _subscribe(harness: RosHarness, topic: str, msg_type: type) -> Recorder:
    recorder = Recorder()
    harness.node.create_subscription(msg_type, topic, recorder, qos_profile_sensor_data)
    return recorder


def test_gates_blank_the_cloud_scan_and_sectors_over_real_topics() -> None:
    # seen from 1.2 m, 5 deg down, the centre sector is clear with nothing inside max range: a +Inf ray
    frames = list(SceneGenerator(320, 240, seed=5, camera_height_m=1.2, camera_pitch_deg=5.0,
                                 lidar=LidarConfig.preset(32)).frames(3))
    params = {"obstacles.camera.height_m": 1.2, "obstacles.camera.pitch_rad": math.radians(5.0),
              "obstacles.use_tf": False, "cloud.stride": 1}
    with in_process_node(create_estimator("classical"), **params) as (node, harness):
        confidence = _subscribe(harness, "depth/confidence", Image)
        scan = _subscribe(harness, "obstacles/scan", LaserScan)
        sectors = _subscribe(harness, "obstacles/recommendation", String)
        channel = node.channels[0]
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in (
            channel.pub_confidence, channel.obstacles.pub_scan, channel.obstacles.pub_recommendation)), 10,
            "the confidence and obstacle outputs to match the harness subscriptions")
        points = harness.recorders["points"]

        def run(frame: SceneFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
            before = len(sectors.messages)  # (the recommendation String has no header: counted)
            publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
            for recorder in (confidence, scan, points):
                assert recorder.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)
            assert sectors.wait(lambda msgs: len(msgs) > before, 10)
            last = {name: next(m for m in reversed(r.messages) if _stamp(m) >= frame.stamp_ns)
                    for name, r in (("c", confidence), ("s", scan), ("p", points))}
            last["r"] = sectors.messages[-1]
            cloud = pointcloud2_to_xyz(last["p"], skip_nans=False).reshape(frame.rgb.shape[0], frame.rgb.shape[1], 3)
            statuses = [s["status"] for s in json.loads(last["r"].data)["sectors"]]
            return image_to_numpy(last["c"]), np.asarray(last["s"].ranges), cloud, statuses

        conf, ranges, cloud, statuses = run(frames[0])  # no gate: a free ray, no unknown sector
        assert np.isposinf(ranges).any() and "unknown" not in statuses
        assert np.array_equal(np.isnan(cloud[..., 2]), np.isnan(conf))

        for name in ("confidence.points_min", "confidence.scan_min", "confidence.sectors_min"):
            refused = node.set_parameters([Parameter(name, value=1.5)])[0]
            assert not refused.successful and name in refused.reason and "1" in refused.reason
        gates = [Parameter("confidence.points_min", value=0.9), Parameter("confidence.scan_min", value=1.0),
                 Parameter("confidence.sectors_min", value=1.0)]
        assert all(r.successful for r in node.set_parameters(gates))
        conf, ranges, cloud, statuses = run(frames[1])
        low = conf < 0.9
        assert low.any() and np.array_equal(np.isnan(cloud[..., 2]), np.isnan(conf) | low)
        assert np.isnan(ranges).all() and statuses == ["unknown"] * len(statuses)  # never +Inf / clear

        # the scan and the sectors are gated separately
        assert node.set_parameters([Parameter("confidence.scan_min", value=0.0)])[0].successful
        _, ranges, _, statuses = run(frames[2])
        assert np.isposinf(ranges).any() and statuses == ["unknown"] * len(statuses)


def test_confidence_is_made_only_while_a_subscriber_or_a_gate_uses_it() -> None:
    """Lazy: with confidence.enabled (the default) and nobody subscribed to depth/confidence and no gate, the map
    is not computed (it costs about 2x the classical estimator); a subscriber or a gate makes it again."""
    frames = list(SceneGenerator(160, 120, seed=6, n_boxes=4, lidar=LidarConfig.preset(32)).frames(3))
    with in_process_node(create_estimator("classical")) as (node, harness):
        made: list[int] = []
        compute = node.pipeline.confidence
        node.pipeline.confidence = lambda *args, **kwargs: made.append(1) or compute(*args, **kwargs)
        points = harness.recorders["points"]

        frame = frames[0]  # nobody uses the confidence: not made
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        assert points.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)
        assert made == [] and node.estimator.confidence_cues is False

        # a gate on the scan uses it, with no subscriber
        assert node.set_parameters([Parameter("confidence.scan_min", value=0.5)])[0].successful
        frame = frames[1]
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        assert points.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)
        assert made, "a confidence gate needs the map"
        assert node.set_parameters([Parameter("confidence.scan_min", value=0.0)])[0].successful

        # a subscriber to depth/confidence gets it
        confidence = _subscribe(harness, "depth/confidence", Image)
        wait_until(lambda: node.channels[0].pub_confidence.get_subscription_count() > 0, 10,
                   "depth/confidence to match the harness subscription")
        frame = frames[2]
        publish_until_depth(harness, frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
        assert confidence.wait(lambda msgs: any(_stamp(m) >= frame.stamp_ns for m in msgs), 10)
