"""sensor_msgs/Image and sensor_msgs/CompressedImage -> numpy, for messages of any origin (no rclpy).

The node's messages (rclpy ``sensor_msgs.msg``) and a bag's (``rosbags`` deserialized classes) have the same
fields, and only those fields are read, so one decoder serves the node, ``lingbot-depth batch``, ``-eval``,
``fuse`` and the bag readers: a camera the node handles is handled offline too, with the same numbers.

- :func:`image_pixels`: the pixels of an Image in its encoding's layout (row padding and byte order handled).
- :func:`rgb_from_image` / :func:`depth_m_from_image`: the colour / depth meaning of an Image, per the one
  encoding table (:mod:`lingbot_depth_ros.messages.encoding_table`).
- :func:`rgb_from_compressed` / :func:`depth_m_from_compressed`: image_transport's ``compressed`` (JPEG/PNG) and
  ``compressedDepth`` (PNG/RVL) payloads (:mod:`lingbot_depth_ros.messages.compressed`).
- :func:`rgb_from_message` / :func:`depth_m_from_message`: either transport (a CompressedImage has ``format``).

Colour comes back as (H, W, 3) uint8 RGB; depth as (H, W) float32 metres with NaN where there is no
measurement, the same REP 118 rules for raw and compressed depth.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.buffers import byte_view
from lingbot_depth_ros.messages.compressed import decode_compressed_depth, decode_compressed_image
from lingbot_depth_ros.messages.encoding_table import COLOR_ENCODINGS, ENCODINGS, listed

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13

_HOST_BIG_ENDIAN = sys.byteorder == "big"


class ImageMessage(Protocol):
    """The fields of sensor_msgs/Image that are read (rclpy and rosbags messages have them)."""

    @property
    def encoding(self) -> str: ...
    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def is_bigendian(self) -> int: ...
    @property
    def data(self) -> Any: ...


class CompressedImageMessage(Protocol):
    """The fields of sensor_msgs/CompressedImage that are read."""

    @property
    def format(self) -> str: ...
    @property
    def data(self) -> Any: ...


def image_pixels(msg: ImageMessage) -> np.ndarray:
    """View an Image's pixels as numpy (no copy when the rows are unpadded and the byte order native).

    Returns:
        (H, W) array for one-channel encodings, (H, W, C) otherwise, in the dtype of the encoding
        (:data:`~lingbot_depth_ros.messages.encoding_table.ENCODINGS`), native byte order.

    Raises:
        EncodingError: unsupported encoding, empty image, or a buffer/step that does not match.
    """
    encoding = msg.encoding
    entry = ENCODINGS.get(encoding)
    if entry is None:
        raise EncodingError(f"unsupported image encoding '{encoding}' (supported: {listed(ENCODINGS)})")
    dtype, channels = entry.dtype, entry.channels
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise EncodingError(f"empty {encoding} image ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise EncodingError(f"{encoding} image {width}x{height}: step {step} < {row_bytes} bytes per row")
    if step % dtype.itemsize:
        raise EncodingError(f"{encoding} image: step {step} is not a multiple of the pixel size {dtype.itemsize}")
    buffer = byte_view(msg.data)
    if buffer.size < step * height:
        raise EncodingError(f"{encoding} image {width}x{height}: data has {buffer.size} bytes, "
                            f"expected step*height = {step * height}")
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    big_endian = bool(msg.is_bigendian) and dtype.itemsize > 1
    pixels = rows.view(dtype.newbyteorder(">") if big_endian else dtype)
    if big_endian != _HOST_BIG_ENDIAN and dtype.itemsize > 1:
        pixels = pixels.astype(dtype)  # to native byte order
    return pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)


def rgb_from_image(msg: ImageMessage) -> np.ndarray:
    """Colour Image (any of :data:`~lingbot_depth_ros.messages.encoding_table.COLOR_ENCODINGS`) -> (H, W, 3)
    uint8 RGB. Grey is replicated to three channels; 16-bit encodings keep their high byte."""
    entry = ENCODINGS.get(msg.encoding)
    if entry is None or entry.to_rgb is None:
        raise EncodingError(f"unsupported image encoding '{msg.encoding}' for the colour image "
                            f"(supported: {listed(COLOR_ENCODINGS)})")
    return entry.to_rgb(image_pixels(msg))


def depth_m_from_image(msg: ImageMessage) -> np.ndarray:
    """Depth Image -> (H, W) float32 depth [m], NaN where there is no measurement.

    16UC1/mono16 are millimetres with 0 (REP 118) or 0xFFFF (a common driver sentinel) = none; 32FC1 is metres
    with 0, NaN, inf or < 0 = none.
    """
    entry = ENCODINGS.get(msg.encoding)
    if entry is None or entry.to_depth_m is None:
        raise EncodingError(f"depth encoding '{msg.encoding}' is not supported (use 16UC1 in mm or 32FC1 in m, "
                            "REP 118)")
    return entry.to_depth_m(image_pixels(msg))


def rgb_from_compressed(msg: CompressedImageMessage) -> np.ndarray:
    """CompressedImage (``compressed`` transport: JPEG/PNG) -> (H, W, 3) uint8 RGB.

    Raises:
        EncodingError: a format or payload that is not a readable JPEG/PNG image.
    """
    return decode_compressed_image(msg.format, bytes(byte_view(msg.data)))


def depth_m_from_compressed(msg: CompressedImageMessage) -> np.ndarray:
    """CompressedImage (``compressedDepth`` transport: PNG/RVL, 16UC1 or 32FC1) -> (H, W) float32 depth [m],
    NaN = none, by the same conversion as a raw depth Image of that encoding.

    Raises:
        EncodingError: a format or payload that is not a readable compressedDepth image.
    """
    pixels, encoding = decode_compressed_depth(msg.format, bytes(byte_view(msg.data)))
    to_depth_m = ENCODINGS[encoding].to_depth_m
    assert to_depth_m is not None  # decode_compressed_depth admits depth encodings only
    return to_depth_m(pixels)


def is_compressed(msg: ImageMessage | CompressedImageMessage) -> TypeIs[CompressedImageMessage]:
    """True for a CompressedImage (it has ``format``; an Image has ``encoding``)."""
    return hasattr(msg, "format")


def rgb_from_message(msg: ImageMessage | CompressedImageMessage) -> np.ndarray:
    """Colour input of either transport -> (H, W, 3) uint8 RGB."""
    return rgb_from_compressed(msg) if is_compressed(msg) else rgb_from_image(msg)


def depth_m_from_message(msg: ImageMessage | CompressedImageMessage) -> np.ndarray:
    """Depth of either transport -> (H, W) float32 depth [m], NaN = none."""
    return depth_m_from_compressed(msg) if is_compressed(msg) else depth_m_from_image(msg)


def depth_m_zero_none(msg: ImageMessage | CompressedImageMessage) -> np.ndarray:
    """:func:`depth_m_from_message` with 0 instead of NaN where there is no measurement (the bag readers' and
    the evaluation's convention)."""
    return np.nan_to_num(depth_m_from_message(msg), nan=0.0)
