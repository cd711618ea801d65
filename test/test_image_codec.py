"""Image <-> numpy conversions: round trips, endianness, padding, and clear rejections."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.ros.image_codec import (depth_m_from_image, depth_m_to_image, image_to_numpy, numpy_to_image,
                                              rgb_from_image)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding,channels,dtype", [
    ("rgb8", 3, np.uint8), ("bgr8", 3, np.uint8), ("rgba8", 4, np.uint8), ("bgra8", 4, np.uint8),
    ("mono8", 1, np.uint8), ("16UC1", 1, np.uint16), ("mono16", 1, np.uint16), ("32FC1", 1, np.float32)])
def test_round_trip_every_encoding(encoding: str, channels: int, dtype: type) -> None:
    shape = (7, 11) if channels == 1 else (7, 11, channels)
    if dtype is np.float32:
        pixels = RNG.random(shape, dtype=np.float32) * 10
    else:
        pixels = RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
    msg = numpy_to_image(pixels, encoding)
    assert (msg.height, msg.width, msg.encoding) == (7, 11, encoding)
    assert msg.step == 11 * channels * np.dtype(dtype).itemsize
    back = image_to_numpy(msg)
    assert back.dtype == dtype and np.array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_colour_encodings_become_rgb(encoding: str) -> None:
    if encoding == "rgb8":
        pixels = RGB
    elif encoding == "bgr8":
        pixels = RGB[..., ::-1]
    elif encoding == "rgba8":
        pixels = np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])
    elif encoding == "bgra8":
        pixels = np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 7, np.uint8)])
    else:
        pixels = RGB[..., 0]
    rgb = rgb_from_image(numpy_to_image(np.ascontiguousarray(pixels), encoding))
    expected = np.repeat(RGB[..., :1], 3, axis=2) if encoding == "mono8" else RGB
    assert rgb.shape == (7, 11, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, expected)


def _manual(pixels_bytes: bytes, encoding: str, h: int, w: int, step: int, big_endian: bool = False) -> Image:
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian = h, w, encoding, step, int(big_endian)
    msg.data = pixels_bytes
    return msg


def test_row_padding_is_skipped() -> None:
    step = 11 * 3 + 5
    padded = np.zeros((7, step), np.uint8)
    padded[:, : 33] = RGB.reshape(7, 33)
    padded[:, 33:] = 255  # garbage in the padding must not leak into pixels
    out = rgb_from_image(_manual(padded.tobytes(), "rgb8", 7, 11, step))
    assert np.array_equal(out, RGB)


@pytest.mark.parametrize("encoding,dtype", [("16UC1", ">u2"), ("32FC1", ">f4")])
def test_big_endian_depth(encoding: str, dtype: str) -> None:
    values = ((np.arange(12).reshape(3, 4) + 1) * (0.5 if encoding == "32FC1" else 1)).astype(dtype)
    assert not values.dtype.isnative
    back = image_to_numpy(_manual(values.tobytes(), encoding, 3, 4, 4 * values.dtype.itemsize, big_endian=True))
    assert back.dtype.isnative
    assert np.array_equal(back, values.astype(back.dtype))


def test_depth_16uc1_is_millimetres_with_zero_invalid() -> None:
    mm = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    depth = depth_m_from_image(numpy_to_image(mm, "16UC1"))
    assert np.isnan(depth[0, 0])
    np.testing.assert_allclose(depth[0, 1:], [1.0])
    np.testing.assert_allclose(depth[1], [1.5, 65.535], rtol=1e-6)


def test_depth_32fc1_zero_nan_inf_negative_are_invalid() -> None:
    m = np.array([[0.0, np.nan, np.inf, -1.0, 2.5]], dtype=np.float32)
    depth = depth_m_from_image(numpy_to_image(m, "32FC1"))
    assert np.isnan(depth[0, :4]).all() and depth[0, 4] == np.float32(2.5)


def test_depth_output_rep118() -> None:
    depth = np.array([[1.234, np.nan], [-1.0, 70.0]], dtype=np.float32)
    f = depth_m_to_image(depth, encoding="32FC1")
    out = image_to_numpy(f)
    assert f.encoding == "32FC1" and out[0, 0] == np.float32(1.234)
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and out[1, 1] == 70.0
    mm = image_to_numpy(depth_m_to_image(depth, encoding="16UC1"))
    assert mm.tolist() == [[1234, 0], [0, 0]]  # 70 m does not fit 16-bit mm: invalid (0), not wrapped


@pytest.mark.parametrize("msg,match", [
    (_manual(bytes(12), "yuv422", 2, 3, 6), "unsupported image encoding 'yuv422'"),
    (_manual(bytes(0), "rgb8", 0, 0, 0), "empty rgb8 image"),
    (_manual(bytes(10), "rgb8", 2, 3, 9), "data has 10 bytes, expected step\\*height = 18"),
    (_manual(bytes(12), "rgb8", 2, 3, 6), "step 6 < 9 bytes per row"),
    (_manual(bytes(20), "16UC1", 2, 3, 7), "step 7 < 6|not a multiple"),
])
def test_bad_images_rejected_clearly(msg: Image, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        image_to_numpy(msg)


def test_colour_and_depth_encodings_are_not_confused() -> None:
    with pytest.raises(EncodingError, match="unsupported image encoding '32FC1' for the colour image"):
        rgb_from_image(numpy_to_image(np.zeros((2, 2), np.float32), "32FC1"))
    with pytest.raises(EncodingError, match="REP 118"):
        depth_m_from_image(numpy_to_image(RGB, "rgb8"))


def test_numpy_to_image_checks_shape_against_encoding() -> None:
    with pytest.raises(EncodingError, match="does not fit encoding rgb8"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
