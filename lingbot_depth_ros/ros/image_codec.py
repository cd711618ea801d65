"""sensor_msgs/Image <-> numpy, vectorized and copy-light (our own small cv_bridge equivalent).

Colour input (:func:`rgb_from_image`): rgb8, bgr8, rgba8, bgra8, mono8, 8UC1 (= mono8), 8UC3 (= bgr8,
as cv_bridge), rgb16 / bgr16 / mono16 (high byte kept), YUV 4:2:2 (``uyvy`` and its deprecated alias
``yuv422``: U Y0 V Y1; ``yuyv`` and its deprecated alias ``yuv422_yuy2``: Y0 U Y1 V; BT.601 video range as
OpenCV/cv_bridge convert it) and 8-bit Bayer (``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``,
``bayer_grbg8``; the name is the 2x2 pattern at the top-left pixel; bilinear demosaicing).
Depth (:func:`depth_m_from_image`): 16UC1 / mono16 [mm], 32FC1 [m] (REP 118). Row padding (``step`` >
width * pixel size) and big-endian multi-byte data are handled.
"""

from __future__ import annotations

import array
import sys

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.io.depth_files import DEPTH_MM_SENTINEL, depth_m_from_pixels  # noqa: F401 (re-exported)

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "rgb16": (np.dtype(np.uint16), 3),
    "bgr16": (np.dtype(np.uint16), 3),
    "uyvy": (np.dtype(np.uint8), 2),
    "yuv422": (np.dtype(np.uint8), 2),
    "yuyv": (np.dtype(np.uint8), 2),
    "yuv422_yuy2": (np.dtype(np.uint8), 2),
    "bayer_rggb8": (np.dtype(np.uint8), 1),
    "bayer_bggr8": (np.dtype(np.uint8), 1),
    "bayer_gbrg8": (np.dtype(np.uint8), 1),
    "bayer_grbg8": (np.dtype(np.uint8), 1),
}
# Colour encoding -> OpenCV conversion to RGB (None: already RGB). The OpenCV constants name the full
# 2x2 Bayer pattern at the top-left pixel (COLOR_BayerRGGB2RGB == the legacy, shifted COLOR_BayerBG2RGB);
# test_image_codec checks each against a synthetic mosaic.
_TO_RGB: dict[str, int | None] = {
    "rgb8": None, "bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB, "8UC1": cv2.COLOR_GRAY2RGB, "8UC3": cv2.COLOR_BGR2RGB,
    "rgb16": None, "bgr16": cv2.COLOR_BGR2RGB, "mono16": cv2.COLOR_GRAY2RGB,
    "uyvy": cv2.COLOR_YUV2RGB_UYVY, "yuv422": cv2.COLOR_YUV2RGB_UYVY,
    "yuyv": cv2.COLOR_YUV2RGB_YUYV, "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV,
    "bayer_rggb8": cv2.COLOR_BayerRGGB2RGB, "bayer_bggr8": cv2.COLOR_BayerBGGR2RGB,
    "bayer_gbrg8": cv2.COLOR_BayerGBRG2RGB, "bayer_grbg8": cv2.COLOR_BayerGRBG2RGB,
}
COLOR_ENCODINGS = tuple(_TO_RGB)
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
_HOST_BIG_ENDIAN = sys.byteorder == "big"


def image_to_numpy(msg: Image) -> np.ndarray:
    """View an Image's pixels as numpy (no copy when the rows are unpadded and byte order native).

    Returns:
        (H, W) array for one-channel encodings, (H, W, C) otherwise, dtype per :data:`ENCODINGS`.

    Raises:
        EncodingError: unsupported encoding, empty image, or a buffer/step that does not match.
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise EncodingError(f"unsupported image encoding '{encoding}' (supported: {', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise EncodingError(f"empty {encoding} image ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise EncodingError(f"{encoding} image {width}x{height}: step {step} < {row_bytes} bytes per row")
    if step % dtype.itemsize:
        raise EncodingError(f"{encoding} image: step {step} is not a multiple of the pixel size {dtype.itemsize}")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < step * height:
        raise EncodingError(f"{encoding} image {width}x{height}: data has {buffer.size} bytes, "
                            f"expected step*height = {step * height}")
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    big_endian = bool(msg.is_bigendian) and dtype.itemsize > 1
    pixels = rows.view(dtype.newbyteorder(">") if big_endian else dtype)
    if big_endian != _HOST_BIG_ENDIAN and dtype.itemsize > 1:
        pixels = pixels.astype(dtype)  # to native byte order
    return pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)


def rgb_from_image(msg: Image) -> np.ndarray:
    """Colour image message (any of :data:`COLOR_ENCODINGS`) -> (H, W, 3) uint8 RGB.

    Mono is replicated to three channels; 16-bit encodings keep their high byte (value >> 8).
    """
    encoding = msg.encoding
    if encoding not in COLOR_ENCODINGS:
        raise EncodingError(f"unsupported image encoding '{encoding}' for the colour image "
                            f"(supported: {', '.join(COLOR_ENCODINGS)})")
    pixels = image_to_numpy(msg)
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if encoding in ("uyvy", "yuv422", "yuyv", "yuv422_yuy2") and pixels.shape[1] % 2:
        raise EncodingError(f"{encoding} image has an odd width {pixels.shape[1]} (4:2:2 pairs pixels)")
    if encoding.startswith("bayer_") and (pixels.shape[0] < 2 or pixels.shape[1] < 2):
        raise EncodingError(f"{encoding} image {pixels.shape[1]}x{pixels.shape[0]} is smaller than one 2x2 "
                            "Bayer cell")
    conversion = _TO_RGB[encoding]
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def depth_m_from_image(msg: Image) -> np.ndarray:
    """Depth image message -> (H, W) float32 depth [m], NaN where there is no measurement.

    16UC1/mono16 are millimetres with 0 (REP 118) or 0xFFFF (:data:`DEPTH_MM_SENTINEL`, a common driver
    sentinel) = none; 32FC1 is metres with 0, NaN, inf or < 0 = none.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise EncodingError(f"depth encoding '{msg.encoding}' is not supported (use 16UC1 in mm or 32FC1 in m, "
                            "REP 118)")
    return depth_m_from_pixels(image_to_numpy(msg))


def byte_array(pixels: np.ndarray) -> array.array:
    """Copy a C-contiguous array's bytes into the ``array.array('B')`` that uint8[] message fields hold."""
    data = array.array("B", b"\0") * pixels.nbytes  # allocation without an intermediate bytes copy
    np.frombuffer(data, dtype=np.uint8)[:] = pixels.reshape(-1).view(np.uint8)
    return data


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """numpy -> Image with a tight ``step``, native byte order, and the given header.

    Args:
        pixels: (H, W) or (H, W, C) array whose dtype and channels match ``encoding``.
        encoding: one of :data:`ENCODINGS`.
        header: copied into the message (stamp and frame_id), or an empty header.
    """
    if encoding not in ENCODINGS:
        raise EncodingError(f"unsupported image encoding '{encoding}' (supported: {', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    shape_channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.ndim not in (2, 3) or shape_channels != channels or pixels.dtype != dtype:
        raise EncodingError(f"array of shape {pixels.shape} dtype {pixels.dtype} does not fit encoding "
                            f"{encoding} ({channels} channel(s) of {dtype})")
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_BIG_ENDIAN)
    msg.step = int(pixels.shape[1] * channels * dtype.itemsize)
    msg.data = byte_array(pixels)
    return msg


def depth_m_to_image(depth_m: np.ndarray, header: Header | None = None, encoding: str = "32FC1") -> Image:
    """(H, W) depth [m] (NaN/inf/<=0 invalid) -> 32FC1 [m] with NaN, or 16UC1 [mm] with 0 (REP 118)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        invalid = ~(np.isfinite(depth) & (depth > 0))
    if encoding == "32FC1":
        if invalid.any():
            depth = depth.copy()
            depth[invalid] = np.nan
        return numpy_to_image(depth, "32FC1", header)
    if encoding == "16UC1":
        mm = np.zeros(depth.shape, dtype=np.uint16)
        ok = ~invalid & (depth <= 65.535)
        mm[ok] = np.round(depth[ok] * 1000.0).astype(np.uint16)
        return numpy_to_image(mm, "16UC1", header)
    raise EncodingError(f"depth output encoding must be 32FC1 or 16UC1, got '{encoding}'")
