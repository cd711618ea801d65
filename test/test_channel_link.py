"""The narrow view a camera channel has of the depth node: TopicScope (topics, logger, clock of one camera)
over a real rclpy node, and the warning limiter the channel logs through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from lingbot_depth_ros.ros.channel_link import TopicScope
from lingbot_depth_ros.streams.warning_limiter import WarningLimiter


@pytest.fixture()
def node() -> Iterator[Node]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("channel_link_test", context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_a_camera_scope_puts_relative_names_under_the_camera(node: Node) -> None:
    front = TopicScope(node, "/front/")
    assert front.prefix == "front"
    assert front.create_publisher(String, "depth/image", 1).topic_name == "/front/depth/image"
    assert front.create_publisher(String, "/diagnostics", 1).topic_name == "/diagnostics"
    assert front.resolve_topic_name("image") == "/front/image"
    assert front.get_logger().name == "channel_link_test.front"
    single = TopicScope(node, "")  # the one camera of a node without ``cameras``: today's names
    assert single.create_publisher(String, "depth/image", 1).topic_name == "/depth/image"
    assert single.get_logger().name == "channel_link_test"
    assert front.get_clock() is node.get_clock()


def test_a_scope_serves_tf2s_transform_listener_calls(node: Node) -> None:
    """tf2_ros.TransformListener(buffer, scope) subscribes to /tf and /tf_static with a callback group keyword
    and destroys both subscriptions on unregister: both go to the node itself."""
    scope = TopicScope(node, "front")
    subscription = scope.create_subscription(String, "/tf", lambda msg: None, 10,
                                             callback_group=ReentrantCallbackGroup())
    assert subscription.topic_name == "/tf" and subscription in node.subscriptions
    assert scope.destroy_subscription(subscription)
    assert subscription not in node.subscriptions


def test_a_scope_offers_nothing_else_of_the_node(node: Node) -> None:
    scope = TopicScope(node, "front")
    for name in ("create_timer", "declare_parameter", "values", "estimator", "destroy_node"):
        assert not hasattr(scope, name), name


def test_warnings_of_one_kind_are_logged_every_interval_with_the_count_held_back() -> None:
    limiter = WarningLimiter(interval_s=2.0)
    assert limiter.line("image is 640x480 but expected 320x240", 100.0) == "image is 640x480 but expected 320x240"
    assert limiter.line("image is 10x10 but expected 320x240", 100.5) is None  # same kind: numbers differ only
    assert limiter.line("image is nan wide", 101.0) == "image is nan wide"  # another kind
    assert limiter.line("image is 11x11 but expected 320x240", 101.9) is None
    assert limiter.line("image is 12x12 but expected 320x240", 102.1) == \
        "image is 12x12 but expected 320x240 (2 similar suppressed)"
    assert limiter.line("image is 13x13 but expected 320x240", 104.2) == "image is 13x13 but expected 320x240"


def test_the_limiter_forgets_every_kind_beyond_its_bound() -> None:
    limiter = WarningLimiter(interval_s=2.0, max_kinds=3)
    for i, word in enumerate(("alpha", "beta", "gamma", "delta")):
        assert limiter.line(f"{word} failed", 10.0 + i * 0.01) is not None
    assert limiter.line("alpha failed", 10.5) is None  # four kinds remembered: within the interval still
    assert limiter.line("epsilon failed", 10.6) is not None  # a fifth kind clears the memory first
    assert limiter.line("alpha failed", 10.7) == "alpha failed"
