"""numpy -> sensor_msgs/Image (the rclpy encoders of ros/image_codec.py): layout, REP 118 depth, clear refusals.
Decoding is tested once, for every encoding and both message origins, in test_messages_image.py."""

from __future__ import annotations

import numpy as np
import pytest
from message_origins import received

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.encoding_table import ENCODINGS
from lingbot_depth_ros.messages.image import image_pixels
from lingbot_depth_ros.ros.image_codec import depth_m_to_image, numpy_to_image

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_is_written_with_tight_rows(encoding: str) -> None:
    entry = ENCODINGS[encoding]
    shape = (7, 10) if entry.channels == 1 else (7, 10, entry.channels)
    pixels = (RNG.random(shape) * 200).astype(entry.dtype)
    msg = numpy_to_image(pixels, encoding)
    assert (msg.height, msg.width, msg.encoding) == (7, 10, encoding)
    assert msg.step == 10 * entry.channels * entry.dtype.itemsize and len(msg.data) == 7 * msg.step
    assert np.array_equal(image_pixels(received(msg, "rclpy")), pixels)


def test_depth_output_rep118() -> None:
    depth = np.array([[1.234, np.nan], [-1.0, 70.0]], dtype=np.float32)
    f = depth_m_to_image(depth, encoding="32FC1")
    out = image_pixels(f)
    assert f.encoding == "32FC1" and out[0, 0] == np.float32(1.234)
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and out[1, 1] == 70.0
    mm = image_pixels(depth_m_to_image(depth, encoding="16UC1"))
    assert mm.tolist() == [[1234, 0], [0, 0]]  # 70 m does not fit 16-bit mm: invalid (0), not wrapped
    with pytest.raises(EncodingError, match="must be 32FC1 or 16UC1"):
        depth_m_to_image(depth, encoding="mono16")


def test_numpy_to_image_checks_shape_against_encoding() -> None:
    with pytest.raises(EncodingError, match="does not fit encoding rgb8"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(EncodingError, match="does not fit encoding uyvy"):
        numpy_to_image(np.zeros((2, 4, 3), np.uint8), "uyvy")
    with pytest.raises(EncodingError, match="unsupported image encoding 'nv21'"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "nv21")
