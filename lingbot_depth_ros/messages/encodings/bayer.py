"""8-bit Bayer mosaics straight from the sensor: ``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``,
``bayer_grbg8``. The name is the 2x2 colour pattern at the top-left pixel, row-major; demosaiced bilinearly by
OpenCV. Its constants name the same full pattern (``COLOR_BayerRGGB2RGB`` is the legacy, shifted
``COLOR_BayerBG2RGB``); the tests check each against a synthetic mosaic."""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.encodings import Encoding, FromRgb, ToRgb

_U8 = np.dtype(np.uint8)
_CELL = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) of the pattern's letters in the 2x2 cell


def _decoder(name: str, conversion: int) -> ToRgb:
    def to_rgb(pixels: np.ndarray) -> np.ndarray:
        if pixels.shape[0] < 2 or pixels.shape[1] < 2:
            raise EncodingError(f"{name} image {pixels.shape[1]}x{pixels.shape[0]} is smaller than one 2x2 Bayer "
                                "cell")
        return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    return to_rgb


def _mosaic(pattern: str) -> FromRgb:
    """RGB -> the (H, W) mosaic a sensor with ``pattern`` (e.g. ``rggb``) records of it."""
    def from_rgb(rgb: np.ndarray) -> np.ndarray:
        out = np.zeros(rgb.shape[:2], np.uint8)
        for letter, (dy, dx) in zip(pattern, _CELL):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(letter)]
        return out
    return from_rgb


FAMILY = tuple(
    Encoding(f"bayer_{pattern}8", _U8, 1, to_rgb=_decoder(f"bayer_{pattern}8", conversion),
             from_rgb=_mosaic(pattern), rgb_tolerance=4)
    for pattern, conversion in (("rggb", cv2.COLOR_BayerRGGB2RGB), ("bggr", cv2.COLOR_BayerBGGR2RGB),
                                ("gbrg", cv2.COLOR_BayerGBRG2RGB), ("grbg", cv2.COLOR_BayerGRBG2RGB)))
