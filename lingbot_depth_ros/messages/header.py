"""std_msgs/Header of a decoded message of any origin (rclpy or rosbags)."""

from __future__ import annotations

from typing import Any


def stamp_ns(msg: Any) -> int:
    """Header stamp of ``msg`` (any message with ``header.stamp.sec`` / ``.nanosec``) [ns]."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
