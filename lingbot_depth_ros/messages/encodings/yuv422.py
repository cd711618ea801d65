"""YUV 4:2:2 (usb_cam and other V4L2 drivers): ``uyvy`` and its deprecated alias ``yuv422`` (bytes U Y0 V Y1),
``yuyv`` and its deprecated alias ``yuv422_yuy2`` (Y0 U Y1 V). Two bytes per pixel, one U/V pair per two pixels;
BT.601 video range, converted as OpenCV / cv_bridge convert it. The width must be even."""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.encodings import Encoding, FromRgb, ToRgb

_U8 = np.dtype(np.uint8)


def _decoder(name: str, conversion: int) -> ToRgb:
    def to_rgb(pixels: np.ndarray) -> np.ndarray:
        if pixels.shape[1] % 2:
            raise EncodingError(f"{name} image has an odd width {pixels.shape[1]} (4:2:2 pairs pixels)")
        return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    return to_rgb


def _encoder(order: str) -> FromRgb:
    """RGB (even width) -> (H, W, 2) bytes in ``order`` (``uyvy`` or ``yuyv``): BT.601 video-range Y'CbCr, the
    chroma of each horizontal pixel pair averaged."""
    def from_rgb(rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[1] % 2:
            raise EncodingError(f"4:2:2 needs an even width, got {rgb.shape[1]}")
        r, g, b = (rgb[..., c].astype(np.float64) / 255.0 for c in range(3))
        luma = 16 + 65.481 * r + 128.553 * g + 24.966 * b
        cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
        cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
        y0, y1 = luma[:, 0::2], luma[:, 1::2]
        u, v = (cb[:, 0::2] + cb[:, 1::2]) / 2, (cr[:, 0::2] + cr[:, 1::2]) / 2
        quad = [u, y0, v, y1] if order == "uyvy" else [y0, u, y1, v]
        packed = np.stack(quad, axis=-1).round().clip(0, 255).astype(np.uint8)  # (H, W/2, 4)
        return packed.reshape(rgb.shape[0], rgb.shape[1], 2)
    return from_rgb


FAMILY = tuple(
    Encoding(name, _U8, 2, to_rgb=_decoder(name, conversion), from_rgb=_encoder(order), rgb_tolerance=3)
    for name, order, conversion in (("uyvy", "uyvy", cv2.COLOR_YUV2RGB_UYVY),
                                    ("yuv422", "uyvy", cv2.COLOR_YUV2RGB_UYVY),
                                    ("yuyv", "yuyv", cv2.COLOR_YUV2RGB_YUYV),
                                    ("yuv422_yuy2", "yuyv", cv2.COLOR_YUV2RGB_YUYV)))
