"""depth/confidence over real rclpy topics (issue 20 §1): header and size of depth/image, 32FC1, 0..1, NaN exactly
where the depth is NaN; confidence.enabled switches it off and on at run time."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import Recorder, in_process_node, publish_until_depth
from sensor_msgs.msg import Image
from waiting import wait_until

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.ros.image_codec import image_to_numpy
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator

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
