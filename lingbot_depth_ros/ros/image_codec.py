"""numpy -> sensor_msgs/Image (rclpy), vectorized and copy-light: the encoders of our small cv_bridge equivalent.

Decoding (Image -> numpy, every encoding) is ROS-free and shared with the offline tools:
:mod:`lingbot_depth_ros.messages.image`; this module gives its functions their rclpy-typed names. The pixel layout of
each encoding comes from the one table, :mod:`lingbot_depth_ros.messages.encoding_table`.
"""

from __future__ import annotations

import array
import sys

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.io.depth_files import DEPTH_MM_SENTINEL  # noqa: F401 (re-exported for the node)
from lingbot_depth_ros.messages import image as decoders
from lingbot_depth_ros.messages.encoding_table import ENCODINGS, listed

_HOST_BIG_ENDIAN = sys.byteorder == "big"


def image_to_numpy(msg: Image) -> np.ndarray:
    """The pixels of an Image (:func:`lingbot_depth_ros.messages.image.image_pixels`)."""
    return decoders.image_pixels(msg)


def rgb_from_image(msg: Image) -> np.ndarray:
    """Colour Image -> (H, W, 3) uint8 RGB (:func:`lingbot_depth_ros.messages.image.rgb_from_image`)."""
    return decoders.rgb_from_image(msg)


def depth_m_from_image(msg: Image) -> np.ndarray:
    """Depth Image -> (H, W) float32 [m], NaN = none (:func:`lingbot_depth_ros.messages.image.depth_m_from_image`)."""
    return decoders.depth_m_from_image(msg)


def byte_array(pixels: np.ndarray) -> array.array:
    """Copy a C-contiguous array's bytes into the ``array.array('B')`` that uint8[] message fields hold."""
    data = array.array("B", b"\0") * pixels.nbytes  # allocation without an intermediate bytes copy
    np.frombuffer(data, dtype=np.uint8)[:] = pixels.reshape(-1).view(np.uint8)
    return data


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """numpy -> Image with a tight ``step``, native byte order, and the given header.

    Args:
        pixels: (H, W) or (H, W, C) array whose dtype and channels match ``encoding``.
        encoding: one of :data:`~lingbot_depth_ros.messages.encoding_table.ENCODINGS`.
        header: copied into the message (stamp and frame_id), or an empty header.
    """
    entry = ENCODINGS.get(encoding)
    if entry is None:
        raise EncodingError(f"unsupported image encoding '{encoding}' (supported: {listed(ENCODINGS)})")
    dtype, channels = entry.dtype, entry.channels
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
