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


def test_depth_16uc1_is_millimetres_with_zero_and_0xffff_invalid() -> None:
    mm = np.array([[0, 1000], [1500, 65534], [65535, 1]], dtype=np.uint16)
    depth = depth_m_from_image(numpy_to_image(mm, "16UC1"))
    assert np.isnan(depth[0, 0]) and np.isnan(depth[2, 0])  # 0 (REP 118) and the 0xFFFF driver sentinel
    np.testing.assert_allclose(depth[0, 1:], [1.0])
    np.testing.assert_allclose(depth[1], [1.5, 65.534], rtol=1e-6)
    np.testing.assert_allclose(depth[2, 1:], [0.001], rtol=1e-6)


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
    (_manual(bytes(12), "nv21", 2, 3, 6), "unsupported image encoding 'nv21'"),
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


# -- colour encodings robots publish (usb_cam YUV 4:2:2, Bayer, 16-bit, OpenCV type names) ----------------

def _smooth_rgb(h: int = 24, w: int = 32, pairs: bool = True) -> np.ndarray:
    """Smooth RGB, linear in x and y (bilinear demosaicing reproduces it), horizontally pair-constant when
    ``pairs`` (4:2:2 chroma subsampling then loses nothing)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x2 = 2 * (x // 2) if pairs else x
    return np.dstack([30 + 6 * x2, 220 - 7 * y, 60 + 2 * x2 + 3 * y]).clip(0, 255).astype(np.uint8)


def _yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """BT.601 video-range Y'CbCr 4:2:2 of ``rgb`` (H, W even) as (H, W, 2) bytes in ``order`` (uyvy or yuyv)."""
    r, g, b = (rgb[..., c].astype(np.float64) / 255.0 for c in range(3))
    luma = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    y0, y1 = luma[:, 0::2], luma[:, 1::2]
    u, v = (cb[:, 0::2] + cb[:, 1::2]) / 2, (cr[:, 0::2] + cr[:, 1::2]) / 2
    quad = [u, y0, v, y1] if order == "uyvy" else [y0, u, y1, v]
    packed = np.stack(quad, axis=-1).round().clip(0, 255).astype(np.uint8)  # (H, W/2, 4)
    return packed.reshape(rgb.shape[0], rgb.shape[1], 2)


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Bayer mosaic of ``rgb``: ``pattern`` (e.g. 'rggb') names the 2x2 cell at the top-left pixel, row-major."""
    out = np.zeros(rgb.shape[:2], np.uint8)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(pattern[k])]
    return out


@pytest.mark.parametrize("encoding,order", [("uyvy", "uyvy"), ("yuv422", "uyvy"), ("yuyv", "yuyv"),
                                            ("yuv422_yuy2", "yuyv")])
def test_yuv422_byte_orders(encoding: str, order: str) -> None:
    rgb = _smooth_rgb()
    msg = numpy_to_image(_yuv422(rgb, order), encoding)
    assert msg.step == 32 * 2
    out = rgb_from_image(msg)
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).max() <= 3
    other = "yuyv" if order == "uyvy" else "uyvy"  # the other byte order decodes to wrong colours
    swapped = rgb_from_image(numpy_to_image(_yuv422(rgb, other), encoding))
    assert np.abs(swapped.astype(int) - rgb).mean() > 20


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_demosaic_to_the_mosaicked_image(pattern: str) -> None:
    rgb = _smooth_rgb(32, 48, pairs=False)
    out = rgb_from_image(numpy_to_image(_mosaic(rgb, pattern), f"bayer_{pattern}8"))
    interior = (slice(2, -2), slice(2, -2))
    assert np.abs(out[interior].astype(int) - rgb[interior]).max() <= 4
    for wrong in {"rggb", "bggr", "gbrg", "grbg"} - {pattern}:  # OpenCV's shifted names would land here
        bad = rgb_from_image(numpy_to_image(_mosaic(rgb, pattern), f"bayer_{wrong}8"))
        assert np.abs(bad[interior].astype(int) - rgb[interior]).mean() > 10


@pytest.mark.parametrize("encoding", ["mono16", "rgb16", "bgr16", "8UC3", "8UC1"])
def test_16_bit_and_opencv_type_encodings(encoding: str) -> None:
    rgb = RGB
    gray = RGB[..., 1]
    pixels = {"mono16": gray.astype(np.uint16) * 256 + 200,  # high byte kept: (g * 256 + 200) >> 8 == g
              "rgb16": rgb.astype(np.uint16) * 257, "bgr16": rgb[..., ::-1].astype(np.uint16) * 256 + 255,
              "8UC3": rgb[..., ::-1], "8UC1": gray}[encoding]
    out = rgb_from_image(numpy_to_image(np.ascontiguousarray(pixels), encoding))
    expected = np.dstack([gray] * 3) if encoding in ("mono16", "8UC1") else rgb
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_big_endian_rgb16() -> None:
    values = (RGB.astype(np.uint16) * 257).astype(">u2")
    out = rgb_from_image(_manual(values.tobytes(), "rgb16", 7, 11, 11 * 6, big_endian=True))
    assert np.array_equal(out, RGB)


@pytest.mark.parametrize("encoding,pixels,match", [
    ("nv21", None, "unsupported image encoding 'nv21' for the colour image"),
    ("bayer_rggb16", None, "unsupported image encoding 'bayer_rggb16' for the colour image"),
    ("uyvy", np.zeros((2, 3, 2), np.uint8), "odd width 3"),
    ("bayer_grbg8", np.zeros((1, 8), np.uint8), "smaller than one 2x2"),
])
def test_unsupported_or_malformed_colour_encodings(encoding: str, pixels: np.ndarray | None, match: str) -> None:
    msg = numpy_to_image(pixels, encoding) if pixels is not None else _manual(bytes(24), encoding, 2, 3, 12)
    with pytest.raises(EncodingError, match=match):
        rgb_from_image(msg)
