"""8-bit colour and grey encodings: rgb8, bgr8, rgba8, bgra8, mono8, and the OpenCV type names 8UC3 (= bgr8,
as cv_bridge reads it) and 8UC1 (= mono8). Grey is replicated to three channels; alpha is dropped."""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.messages.encodings import Encoding, FromRgb, ToRgb

_U8 = np.dtype(np.uint8)


def _converted(conversion: int | None) -> ToRgb:
    """Pixels -> RGB with one OpenCV conversion (None: already RGB)."""
    def to_rgb(pixels: np.ndarray) -> np.ndarray:
        if conversion is None:
            return np.ascontiguousarray(pixels)
        return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    return to_rgb


def _written(conversion: int | None) -> FromRgb:
    """RGB -> pixels with one OpenCV conversion (None: RGB as it is)."""
    def from_rgb(rgb: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        return rgb if conversion is None else cv2.cvtColor(rgb, conversion)
    return from_rgb


FAMILY = (
    Encoding("rgb8", _U8, 3, to_rgb=_converted(None), from_rgb=_written(None)),
    Encoding("bgr8", _U8, 3, to_rgb=_converted(cv2.COLOR_BGR2RGB), from_rgb=_written(cv2.COLOR_RGB2BGR)),
    Encoding("rgba8", _U8, 4, to_rgb=_converted(cv2.COLOR_RGBA2RGB), from_rgb=_written(cv2.COLOR_RGB2RGBA)),
    Encoding("bgra8", _U8, 4, to_rgb=_converted(cv2.COLOR_BGRA2RGB), from_rgb=_written(cv2.COLOR_RGB2BGRA)),
    Encoding("mono8", _U8, 1, to_rgb=_converted(cv2.COLOR_GRAY2RGB), from_rgb=_written(cv2.COLOR_RGB2GRAY),
             monochrome=True),
    Encoding("8UC1", _U8, 1, to_rgb=_converted(cv2.COLOR_GRAY2RGB), from_rgb=_written(cv2.COLOR_RGB2GRAY),
             monochrome=True),
    Encoding("8UC3", _U8, 3, to_rgb=_converted(cv2.COLOR_BGR2RGB), from_rgb=_written(cv2.COLOR_RGB2BGR)),
)
