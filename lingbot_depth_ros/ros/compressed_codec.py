"""numpy -> sensor_msgs/CompressedImage (rclpy) for the ``compressed`` and ``compressedDepth`` transports, and the
transports' topic names.

The payload codecs are :mod:`lingbot_depth_ros.messages.compressed`; decoding a message of either transport is
:mod:`lingbot_depth_ros.messages.image` (ROS-free, shared with the offline tools), re-exported here for the node.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from lingbot_depth_ros.messages import image as decoders
from lingbot_depth_ros.messages.compressed import compress_depth, compress_image

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


def rgb_from_message(msg: Image | CompressedImage) -> np.ndarray:
    """Colour input of either transport -> (H, W, 3) uint8 RGB
    (:func:`lingbot_depth_ros.messages.image.rgb_from_message`)."""
    return decoders.rgb_from_message(msg)


def depth_m_from_message(msg: Image | CompressedImage) -> np.ndarray:
    """Sparse depth of either transport -> (H, W) float32 depth [m], NaN = none
    (:func:`lingbot_depth_ros.messages.image.depth_m_from_message`)."""
    return decoders.depth_m_from_message(msg)
