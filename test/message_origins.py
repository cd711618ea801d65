"""Messages as the node receives them (rclpy) and as a bag reader gets them (rosbags), from the same fields.

A message is built with rclpy's message classes, serialized to CDR (the bytes a DDS topic and a rosbag2 file
carry) and deserialized by the library of its origin: ``rclpy`` (rclpy.serialization: ``uint8[]`` fields come
back as array.array, float arrays as numpy) or ``rosbags`` (the Jazzy typestore ``lingbot-depth batch`` reads
bags with: numpy arrays, dataclasses). Without rosbags (the Kilted venv) the ``rosbags`` cases are skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from rclpy.serialization import deserialize_message, serialize_message

ORIGINS = ("rclpy", "rosbags")


def ros_type_name(msg: Any) -> str:
    """``sensor_msgs/msg/Image`` of an rclpy ``sensor_msgs.msg.Image``."""
    return f"{type(msg).__module__.split('.')[0]}/msg/{type(msg).__name__}"


def received(msg: Any, origin: str) -> Any:
    """``msg`` (an rclpy message) after the wire, deserialized as ``origin`` (``rclpy`` or ``rosbags``) does."""
    data = serialize_message(msg)
    if origin == "rclpy":
        return deserialize_message(data, type(msg))
    assert origin == "rosbags", origin
    pytest.importorskip("rosbags", reason="rosbags is not installed (the bag readers' origin)")
    from lingbot_depth_ros.bags.messages import TYPESTORE

    return TYPESTORE.deserialize_cdr(data, ros_type_name(msg))
