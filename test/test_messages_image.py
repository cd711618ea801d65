"""Image / CompressedImage decoding (lingbot_depth_ros.messages.image): every encoding of the one table, on
messages as the node receives them (rclpy) and as batch / eval / fuse read them from bags (rosbags)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from message_origins import ORIGINS, received
from sensor_msgs.msg import CompressedImage, Image

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages import encoding_table
from lingbot_depth_ros.messages.compressed import compress_depth, compress_image
from lingbot_depth_ros.messages.encoding_table import COLOR_ENCODINGS, DEPTH_ENCODINGS, ENCODINGS
from lingbot_depth_ros.messages.encodings import Encoding
from lingbot_depth_ros.messages.image import depth_m_from_message, depth_m_zero_none, image_pixels, rgb_from_message

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
ALL_NAMES = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3", "rgb16", "bgr16", "mono16", "16UC1",
             "32FC1", "uyvy", "yuv422", "yuyv", "yuv422_yuy2", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8",
             "bayer_grbg8")


def image(origin: str, data: bytes, encoding: str, height: int, width: int, step: int,
          big_endian: bool = False) -> object:
    """An Image with exactly these fields, as ``origin`` deserializes it."""
    return received(Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian), step=step,
                          data=data), origin)


def tight(origin: str, pixels: np.ndarray, encoding: str) -> object:
    """``pixels`` (native byte order, tight rows) as an Image of ``encoding``."""
    pixels = np.ascontiguousarray(pixels)
    return image(origin, pixels.tobytes(), encoding, pixels.shape[0], pixels.shape[1],
                 pixels.shape[1] * pixels.itemsize * (1 if pixels.ndim == 2 else pixels.shape[2]),
                 big_endian=sys.byteorder == "big" and pixels.itemsize > 1)


def smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    """Gentle colour gradients (a few levels per pixel): 4:2:2 and Bayer lose little of them."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.dstack([40 + 2.5 * x, 210 - 2.0 * y, 60 + 1.5 * x + 1.5 * y]).clip(0, 255).astype(np.uint8)


def test_the_table_holds_every_encoding_the_node_reads() -> None:
    assert set(ALL_NAMES) <= set(ENCODINGS)  # a new family adds names; none of these may go
    assert set(DEPTH_ENCODINGS) == {"16UC1", "mono16", "32FC1"}
    assert set(ALL_NAMES) - {"16UC1", "32FC1"} <= set(COLOR_ENCODINGS)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_gives_back_its_pixels(origin: str, encoding: str) -> None:
    entry = ENCODINGS[encoding]
    shape = (7, 10) if entry.channels == 1 else (7, 10, entry.channels)
    if entry.dtype == np.float32:
        pixels = RNG.random(shape, dtype=np.float32) * 10
    else:
        pixels = RNG.integers(0, np.iinfo(entry.dtype).max, size=shape, dtype=entry.dtype)
    back = image_pixels(tight(origin, pixels, encoding))
    assert back.dtype == entry.dtype and back.dtype.isnative and np.array_equal(back, pixels)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding", COLOR_ENCODINGS)
def test_every_colour_encoding_decodes_the_image_it_encodes(origin: str, encoding: str) -> None:
    entry = ENCODINGS[encoding]
    assert entry.from_rgb is not None
    rgb = smooth_rgb()
    if entry.monochrome:
        rgb = np.repeat(rgb[..., 1:2], 3, axis=2)
    out = rgb_from_message(tight(origin, entry.from_rgb(rgb), encoding))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).max() <= entry.rgb_tolerance


@pytest.mark.parametrize("origin", ORIGINS)
def test_row_padding_is_skipped(origin: str) -> None:
    step = 11 * 3 + 5
    padded = np.zeros((7, step), np.uint8)
    padded[:, : 33] = RGB.reshape(7, 33)
    padded[:, 33:] = 255  # garbage in the padding must not leak into pixels
    assert np.array_equal(rgb_from_message(image(origin, padded.tobytes(), "rgb8", 7, 11, step)), RGB)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding,dtype", [("16UC1", ">u2"), ("32FC1", ">f4"), ("rgb16", ">u2")])
def test_big_endian_data_comes_back_native(origin: str, encoding: str, dtype: str) -> None:
    channels = ENCODINGS[encoding].channels
    values = ((np.arange(3 * 4 * channels).reshape(3, 4, channels).squeeze() + 1) * 257).astype(dtype)
    msg = image(origin, values.tobytes(), encoding, 3, 4, 4 * channels * values.dtype.itemsize, big_endian=True)
    back = image_pixels(msg)
    assert back.dtype.isnative and np.array_equal(back, values.astype(back.dtype))


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_16_bit_depth_is_millimetres_with_zero_and_0xffff_invalid(origin: str, encoding: str) -> None:
    mm = np.array([[0, 1000], [1500, 65534], [65535, 1]], dtype=np.uint16)
    msg = tight(origin, mm, encoding)
    depth = depth_m_from_message(msg)
    assert depth.dtype == np.float32
    assert np.isnan(depth[0, 0]) and np.isnan(depth[2, 0])  # 0 (REP 118) and the 0xFFFF driver sentinel
    np.testing.assert_allclose(depth[0, 1:], [1.0])
    np.testing.assert_allclose(depth[1], [1.5, 65.534], rtol=1e-6)
    np.testing.assert_allclose(depth[2, 1:], [0.001], rtol=1e-6)
    assert np.array_equal(depth_m_zero_none(msg), np.nan_to_num(depth, nan=0.0))


@pytest.mark.parametrize("origin", ORIGINS)
def test_32fc1_zero_nan_inf_negative_are_invalid(origin: str) -> None:
    msg = tight(origin, np.array([[0.0, np.nan, np.inf, -1.0, 2.5]], dtype=np.float32), "32FC1")
    depth = depth_m_from_message(msg)
    assert np.isnan(depth[0, :4]).all() and depth[0, 4] == np.float32(2.5)
    assert depth_m_zero_none(msg).tolist() == [[0.0, 0.0, 0.0, 0.0, 2.5]]


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("fields,match", [
    ((bytes(12), "nv21", 2, 3, 6), "unsupported image encoding 'nv21'"),
    ((bytes(0), "rgb8", 0, 0, 0), "empty rgb8 image"),
    ((bytes(10), "rgb8", 2, 3, 9), "data has 10 bytes, expected step\\*height = 18"),
    ((bytes(12), "rgb8", 2, 3, 6), "step 6 < 9 bytes per row"),
    ((bytes(20), "16UC1", 2, 3, 7), "step 7 < 6|not a multiple"),
])
def test_bad_images_are_rejected_clearly(origin: str, fields: tuple, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        image_pixels(image(origin, *fields))


@pytest.mark.parametrize("origin", ORIGINS)
def test_colour_and_depth_encodings_are_not_confused(origin: str) -> None:
    with pytest.raises(EncodingError, match="unsupported image encoding '32FC1' for the colour image"):
        rgb_from_message(tight(origin, np.zeros((2, 2), np.float32), "32FC1"))
    with pytest.raises(EncodingError, match="depth encoding 'rgb8' is not supported .*REP 118"):
        depth_m_from_message(tight(origin, RGB, "rgb8"))


# -- what each family's conversion means (the round trips above cannot tell two wrong halves) ----------------

@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding", ["uyvy", "yuv422", "yuyv", "yuv422_yuy2"])
def test_yuv422_byte_orders(origin: str, encoding: str) -> None:
    rgb = smooth_rgb()
    order = "uyvy" if encoding in ("uyvy", "yuv422") else "yuyv"
    assert np.abs(rgb_from_message(tight(origin, ENCODINGS[order].from_rgb(rgb), encoding)).astype(int) -
                  rgb).max() <= 3
    other = "yuyv" if order == "uyvy" else "uyvy"  # the other byte order decodes to wrong colours
    swapped = rgb_from_message(tight(origin, ENCODINGS[other].from_rgb(rgb), encoding))
    assert np.abs(swapped.astype(int) - rgb).mean() > 20
    # BT.601 video range by hand: white is Y 235, U = V = 128
    white = np.array([[[128, 235], [128, 235]]] if order == "uyvy" else [[[235, 128], [235, 128]]], np.uint8)
    assert rgb_from_message(tight(origin, white, encoding)).min() >= 254


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_name_the_top_left_cell(origin: str, pattern: str) -> None:
    rgb = smooth_rgb()
    mosaic = np.zeros(rgb.shape[:2], np.uint8)  # by hand: the letter at (row, column) of each 2x2 cell
    for letter, (dy, dx) in zip(pattern, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(letter)]
    assert np.array_equal(ENCODINGS[f"bayer_{pattern}8"].from_rgb(rgb), mosaic)
    assert np.abs(rgb_from_message(tight(origin, mosaic, f"bayer_{pattern}8")).astype(int) - rgb).max() <= 4
    for wrong in {"rggb", "bggr", "gbrg", "grbg"} - {pattern}:  # OpenCV's shifted names would land here
        bad = rgb_from_message(tight(origin, mosaic, f"bayer_{wrong}8"))
        assert np.abs(bad.astype(int) - rgb).mean() > 10


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding", ["mono16", "rgb16", "bgr16", "8UC3", "8UC1", "bgr8", "rgba8", "bgra8"])
def test_channel_orders_and_high_bytes(origin: str, encoding: str) -> None:
    gray = RGB[..., 1]
    alpha = np.full(RGB.shape[:2] + (1,), 7, np.uint8)
    pixels = {"mono16": gray.astype(np.uint16) * 256 + 200,  # high byte kept: (g * 256 + 200) >> 8 == g
              "rgb16": RGB.astype(np.uint16) * 257, "bgr16": RGB[..., ::-1].astype(np.uint16) * 256 + 255,
              "8UC3": RGB[..., ::-1], "8UC1": gray, "bgr8": RGB[..., ::-1],
              "rgba8": np.concatenate([RGB, alpha], axis=2),
              "bgra8": np.concatenate([RGB[..., ::-1], alpha], axis=2)}[encoding]
    out = rgb_from_message(tight(origin, pixels, encoding))
    expected = np.dstack([gray] * 3) if encoding in ("mono16", "8UC1") else RGB
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("encoding,fields,match", [
    ("nv21", (bytes(24), "nv21", 2, 3, 12), "unsupported image encoding 'nv21' for the colour image"),
    ("bayer_rgbg8", (bytes(24), "bayer_rgbg8", 2, 3, 12),
     "unsupported image encoding 'bayer_rgbg8' for the colour image"),
    ("uyvy", (bytes(12), "uyvy", 2, 3, 6), "odd width 3"),
    ("bayer_grbg8", (bytes(8), "bayer_grbg8", 1, 8, 8), "smaller than one 2x2"),
])
def test_unsupported_or_malformed_colour_images(origin: str, encoding: str, fields: tuple, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        rgb_from_message(image(origin, *fields))


# -- compressed / compressedDepth messages (the payload codecs: test_compressed_codec.py) -----------------------

def compressed(origin: str, payload: object) -> object:
    return received(CompressedImage(format=payload.format, data=payload.data), origin)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("codec", ["jpeg", "png"])
def test_compressed_colour_messages(origin: str, codec: str) -> None:
    rgb = smooth_rgb()
    out = rgb_from_message(compressed(origin, compress_image(rgb, codec, quality=95)))
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).max() <= (4 if codec == "jpeg" else 0)
    with pytest.raises(EncodingError, match="not a PNG or JPEG file"):
        rgb_from_message(received(CompressedImage(format="jpeg", data=b"not an image at all"), origin))


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_compressed_16uc1_depth_equals_the_raw_depth_message(origin: str, codec: str) -> None:
    depth = np.where(RNG.random((24, 32)) < 0.3, RNG.uniform(0.3, 60.0, (24, 32)), 0).astype(np.float32)
    mm = np.round(depth * 1000).astype(np.uint16)
    raw = depth_m_from_message(tight(origin, mm, "16UC1"))
    out = depth_m_from_message(compressed(origin, compress_depth(depth, codec, "16UC1")))
    assert out.dtype == np.float32 and np.array_equal(out, raw, equal_nan=True)


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_compressed_32fc1_inverse_depth(origin: str, codec: str) -> None:
    depth = np.where(RNG.random((24, 32)) < 0.3, RNG.uniform(0.5, 8.0, (24, 32)), np.nan).astype(np.float32)
    out = depth_m_from_message(compressed(origin, compress_depth(depth, codec, "32FC1")))
    assert np.array_equal(np.isnan(out), np.isnan(depth))
    valid = ~np.isnan(depth)
    assert np.abs(out[valid] - depth[valid]).max() < depth[valid].max() ** 2 / 100.0  # quantization step


@pytest.mark.parametrize("origin", ORIGINS)
def test_compressed_depth_on_the_colour_path_and_back_are_refused(origin: str) -> None:
    depth_msg = compressed(origin, compress_depth(np.ones((4, 4), np.float32), "png", "16UC1"))
    with pytest.raises(EncodingError, match="is a compressedDepth depth payload, not a colour image"):
        rgb_from_message(depth_msg)
    with pytest.raises(EncodingError, match="is not a compressedDepth payload"):
        depth_m_from_message(compressed(origin, compress_image(RGB, "png")))


# -- one module per family -----------------------------------------------------------------------------------

FAMILY_MODULE = '''
import numpy as np
from lingbot_depth_ros.messages.encodings import Encoding

FAMILY = (Encoding("rbg8", np.dtype(np.uint8), 3, to_rgb=lambda p: np.ascontiguousarray(p[..., [0, 2, 1]]),
                   from_rgb=lambda rgb: np.ascontiguousarray(rgb[..., [0, 2, 1]])),)
'''


def test_a_new_encoding_is_one_new_family_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table takes every module of messages/encodings: a module defining ``rbg8`` there (here: in a folder
    added to that package's path) makes it an encoding with all its meanings, and nothing else changes."""
    from lingbot_depth_ros.messages import encodings

    (tmp_path / "rbg_family.py").write_text(FAMILY_MODULE)
    monkeypatch.setattr(encodings, "__path__", [*encodings.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, f"{encodings.__name__}.rbg_family", raising=False)
    try:
        table = encoding_table._load_families()
    finally:
        sys.modules.pop(f"{encodings.__name__}.rbg_family", None)
    assert set(table) == set(ENCODINGS) | {"rbg8"}
    assert {name: table[name] for name in ENCODINGS} == dict(ENCODINGS)
    rgb = smooth_rgb(4, 6)
    rbg = table["rbg8"]
    assert np.array_equal(rbg.to_rgb(rbg.from_rgb(rgb)), rgb) and not np.array_equal(rbg.from_rgb(rgb), rgb)


def test_families_sharing_a_name_must_agree_on_its_layout() -> None:
    u16, u8 = np.dtype(np.uint16), np.dtype(np.uint8)
    merged = encoding_table.merge([Encoding("mono16", u16, 1, to_rgb=np.asarray, monochrome=True),
                                   Encoding("mono16", u16, 1, to_depth_m=np.asarray)])
    assert merged["mono16"].to_rgb is np.asarray and merged["mono16"].to_depth_m is np.asarray
    assert merged["mono16"].monochrome
    with pytest.raises(ValueError, match="two layouts"):
        encoding_table.merge([Encoding("x", u8, 1), Encoding("x", u16, 1)])
    with pytest.raises(ValueError, match="to_rgb by two families"):
        encoding_table.merge([Encoding("x", u8, 1, to_rgb=np.asarray), Encoding("x", u8, 1, to_rgb=np.asarray)])
