"""Header stamps of serialized ROS 2 messages, read straight from the CDR bytes. No rclpy, no rosbags."""

from __future__ import annotations

import struct

from lingbot_depth_ros.errors import InputError


def cdr_stamp_ns(data: bytes) -> int:
    """Header stamp [ns] of a serialized message whose first field is std_msgs/Header.

    ``data``: the CDR bytes (4-byte encapsulation header, then ``stamp.sec`` int32 and ``stamp.nanosec``
    uint32 in the encapsulation's byte order).

    Raises:
        InputError: fewer than 12 bytes.
    """
    if len(data) < 12:
        raise InputError("serialized message too short to hold a header")
    endian = "<" if data[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec
