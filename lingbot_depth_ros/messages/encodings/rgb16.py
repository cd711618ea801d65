"""16-bit colour and grey encodings as colour images: rgb16, bgr16, mono16 (the high byte of each value is kept;
mono16 is also depth in millimetres, see :mod:`lingbot_depth_ros.messages.encodings.depth`)."""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.messages.encodings import Encoding, FromRgb, ToRgb

_U16 = np.dtype(np.uint16)


def _high_byte(conversion: int | None) -> ToRgb:
    """16-bit pixels -> 8-bit (value >> 8) -> RGB with one OpenCV conversion (None: already RGB)."""
    def to_rgb(pixels: np.ndarray) -> np.ndarray:
        eight = (pixels >> 8).astype(np.uint8)
        return eight if conversion is None else cv2.cvtColor(eight, conversion)
    return to_rgb


def _widened(conversion: int | None) -> FromRgb:
    """RGB -> 16-bit pixels (value * 257, so the high byte is the 8-bit value) after one OpenCV conversion."""
    def from_rgb(rgb: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        eight = rgb if conversion is None else cv2.cvtColor(rgb, conversion)
        return eight.astype(np.uint16) * np.uint16(257)
    return from_rgb


FAMILY = (
    Encoding("rgb16", _U16, 3, to_rgb=_high_byte(None), from_rgb=_widened(None)),
    Encoding("bgr16", _U16, 3, to_rgb=_high_byte(cv2.COLOR_BGR2RGB), from_rgb=_widened(cv2.COLOR_RGB2BGR)),
    Encoding("mono16", _U16, 1, to_rgb=_high_byte(cv2.COLOR_GRAY2RGB), from_rgb=_widened(cv2.COLOR_RGB2GRAY),
             monochrome=True),
)
