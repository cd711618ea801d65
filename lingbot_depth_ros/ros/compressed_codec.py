"""sensor_msgs/CompressedImage <-> numpy for the ``compressed`` and ``compressedDepth`` transports.

Thin adapter over :mod:`lingbot_depth_ros.messages.compressed` (the codecs). Decoded depth goes through
:func:`depth_m_from_image`, so a compressed and a raw sparse depth image follow the same REP 118 rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from lingbot_depth_ros.messages.compressed import (compress_depth, compress_image, decode_compressed_depth,
                                             decode_compressed_image)
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, numpy_to_image, rgb_from_image

COMPRESSED_SUFFIX = {"compressed": "/compressed", "compressedDepth": "/compressedDepth"}


def transport_topic(resolved_base: str, transport: str) -> str:
    """image_transport's topic for ``transport`` of the (already remapped) base topic: raw -> the base itself,
    compressed -> ``<base>/compressed``, compressedDepth -> ``<base>/compressedDepth``."""
    return resolved_base if transport == "raw" else resolved_base.rstrip("/") + COMPRESSED_SUFFIX[transport]


def _message(payload: Any, header: Header | None) -> CompressedImage:
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = payload.format
    msg.data = payload.data
    return msg


def compressed_image_msg(rgb: np.ndarray, header: Header | None = None, codec: str = "jpeg",
                         quality: int = 95) -> CompressedImage:
    """(H, W, 3) uint8 RGB -> CompressedImage (jpeg or png) as image_transport's compressed plugin writes it."""
    return _message(compress_image(rgb, codec, quality), header)


def compressed_depth_msg(depth_m: np.ndarray, header: Header | None = None, codec: str = "png",
                         encoding: str = "16UC1", **options: Any) -> CompressedImage:
    """(H, W) depth [m] -> compressedDepth CompressedImage (png or rvl; 16UC1 mm or 32FC1 inverse depth);
    ``options``: ``depth_max_m``, ``depth_quantization`` of :func:`compress_depth`."""
    return _message(compress_depth(depth_m, codec, encoding, **options), header)


def rgb_from_compressed(msg: CompressedImage) -> np.ndarray:
    """CompressedImage (jpeg/png) -> (H, W, 3) uint8 RGB. Raises EncodingError for a bad payload."""
    return decode_compressed_image(msg.format, bytes(msg.data))


def depth_m_from_compressed(msg: CompressedImage) -> np.ndarray:
    """compressedDepth CompressedImage -> (H, W) float32 depth [m], NaN where there is no measurement."""
    pixels, encoding = decode_compressed_depth(msg.format, bytes(msg.data))
    return depth_m_from_image(numpy_to_image(pixels, "16UC1" if encoding == "mono16" else encoding, msg.header))


def rgb_from_message(msg: Image | CompressedImage) -> np.ndarray:
    """Colour input of either transport -> (H, W, 3) uint8 RGB."""
    return rgb_from_compressed(msg) if isinstance(msg, CompressedImage) else rgb_from_image(msg)


def depth_m_from_message(msg: Image | CompressedImage) -> np.ndarray:
    """Sparse depth of either transport -> (H, W) float32 depth [m], NaN = none."""
    return depth_m_from_compressed(msg) if isinstance(msg, CompressedImage) else depth_m_from_image(msg)
