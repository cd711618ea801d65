"""The ``uint8[]`` field of a message as numpy, whichever library made the message."""

from __future__ import annotations

from typing import Any

import numpy as np


def byte_view(data: Any) -> np.ndarray:
    """A message's ``uint8[]`` data as a flat uint8 array, without a copy where the buffer allows.

    ``data``: ``array.array('B')`` (rclpy), a uint8 numpy array (rosbags), bytes / bytearray / memoryview, or a
    list of ints.
    """
    if isinstance(data, np.ndarray):
        flat = data.reshape(-1)
        return flat if flat.dtype == np.uint8 else np.ascontiguousarray(flat).view(np.uint8)
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)
