"""Depth encodings (REP 118): ``16UC1`` and ``mono16`` in millimetres (0 and the 0xFFFF driver sentinel = no
measurement), ``32FC1`` in metres (0, NaN, inf and negative = none). Converted by the one conversion every
path shares, :func:`lingbot_depth_ros.io.depth_files.depth_m_from_pixels`."""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.io.depth_files import depth_m_from_pixels
from lingbot_depth_ros.messages.encodings import Encoding

FAMILY = (
    Encoding("16UC1", np.dtype(np.uint16), 1, to_depth_m=depth_m_from_pixels),
    Encoding("mono16", np.dtype(np.uint16), 1, to_depth_m=depth_m_from_pixels),
    Encoding("32FC1", np.dtype(np.float32), 1, to_depth_m=depth_m_from_pixels),
)
