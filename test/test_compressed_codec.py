"""compressed / compressedDepth payloads: RVL against a plain sequential reference, wire format, errors."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.compressed import (
    CONFIG_HEADER,
    RvlOversizeError,
    compress_depth,
    compress_image,
    decode_compressed_depth,
    decode_compressed_image,
    parse_depth_format,
    rvl_decode,
    rvl_decode_sequential,
    rvl_encode,
    rvl_max_bytes,
    rvl_max_values,
)

RNG = np.random.default_rng(7)


# -- a deliberately naive RVL (one value at a time), written from the algorithm's description ---------

def reference_rvl_encode(values: list[int]) -> bytes:
    nibbles: list[int] = []

    def vle(value: int) -> None:
        while True:
            nibble = value & 7
            value >>= 3
            nibbles.append(nibble | (8 if value else 0))
            if not value:
                return

    i, previous = 0, 0
    while i < len(values):
        zeros = 0
        while i < len(values) and values[i] == 0:
            zeros, i = zeros + 1, i + 1
        vle(zeros)
        run = []
        while i < len(values) and values[i] != 0:
            run.append(values[i])
            i += 1
        vle(len(run))
        for current in run:
            delta = current - previous
            vle(2 * delta if delta >= 0 else -2 * delta - 1)
            previous = current
    nibbles += [0] * (-len(nibbles) % 8)
    words = [sum(n << (28 - 4 * k) for k, n in enumerate(nibbles[j:j + 8])) for j in range(0, len(nibbles), 8)]
    return struct.pack(f"<{len(words)}I", *words)


def test_rvl_matches_a_hand_computed_stream() -> None:
    # (zeros 2) (nonzeros 1) (delta 5 -> zig-zag 10 = 0b001_010: nibbles 0xA, 0x1) -> nibbles 2 1 A 1
    assert rvl_encode(np.array([0, 0, 5], np.uint16)) == struct.pack("<I", 0x21A10000)
    assert rvl_decode(struct.pack("<I", 0x21A10000), 3).tolist() == [0, 0, 5]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (17, 29), (120, 160)])
@pytest.mark.parametrize("density", [0.0, 0.02, 0.5, 1.0])
def test_rvl_is_bit_exact_with_the_reference_and_round_trips(shape: tuple[int, int], density: float) -> None:
    values = RNG.integers(1, 65536, size=shape) * (RNG.random(shape) < density)
    values = values.astype(np.uint16)
    values.reshape(-1)[: min(values.size, 5)] = [65535, 1, 65535, 0, 300][: min(values.size, 5)]  # big deltas
    encoded = rvl_encode(values)
    assert encoded == reference_rvl_encode(values.reshape(-1).tolist())
    np.testing.assert_array_equal(rvl_decode(encoded, values.size).reshape(shape), values)


def test_rvl_corrupt_streams_raise() -> None:
    encoded = rvl_encode(RNG.integers(1, 60000, size=(40, 40)).astype(np.uint16))
    with pytest.raises(EncodingError, match="ends"):
        rvl_decode(encoded[: len(encoded) // 2], 1600)
    with pytest.raises(EncodingError, match="run ends at pixel"):
        rvl_decode(rvl_encode(np.zeros(100, np.uint16)), 50)  # a 100-zero run in a 50-pixel image
    with pytest.raises(EncodingError, match="longer than 32 bits"):
        rvl_decode(b"\xff" * 64 + bytes(4), 10)


def _outcome(decode, data: bytes, n: int) -> tuple[str, bytes]:
    try:
        return "ok", decode(data, n).tobytes()
    except EncodingError as exc:
        return "error", str(exc).encode()


def test_vectorised_rvl_decoder_equals_the_sequential_walk_on_good_and_corrupt_streams() -> None:
    """The pointer-doubling run walk gives the very values, or the very error, of the one-run-per-step walk:
    truncated streams, flipped bytes, wrong pixel counts, padding, dense and sparse images."""
    cases = 0
    for trial in range(300):
        shape = (int(RNG.integers(1, 40)), int(RNG.integers(1, 40)))
        density = float(RNG.choice([0.0, 0.02, 0.3, 0.5, 1.0]))
        values = (RNG.integers(1, 65536, size=shape) * (RNG.random(shape) < density)).astype(np.uint16)
        data = bytearray(rvl_encode(values))
        if trial % 2 and data:
            for _ in range(int(RNG.integers(1, 6))):
                data[int(RNG.integers(0, len(data)))] = int(RNG.integers(0, 256))
        if trial % 3 == 0:
            data = data[: int(RNG.integers(0, len(data) + 1))]
        n = values.size + int(RNG.choice([0, 0, 0, -1, 1, -values.size // 2]))
        got, want = _outcome(rvl_decode, bytes(data), n), _outcome(rvl_decode_sequential, bytes(data), n)
        assert got == want, (trial, got[1][:200], want[1][:200])
        cases += got[0] == "ok"
    assert 50 < cases < 300  # both decodable and broken streams were compared


def _nibble_stream(nibbles: list[int]) -> bytes:
    """Nibbles packed as RVL packs them: 8 per little-endian 32-bit word, most significant first."""
    nib = np.asarray(nibbles, np.uint32)
    nib = np.concatenate([nib, np.zeros(-nib.size % 8, np.uint32)]).reshape(-1, 8)
    return (nib << np.arange(28, -1, -4, dtype=np.uint32)).sum(axis=1, dtype=np.uint32).astype("<u4").tobytes()


def _peak_bytes(decode: Callable[[], object]) -> tuple[int, str]:
    """(peak bytes traced while ``decode()`` runs, "ok" or the error's class name)."""
    tracemalloc.start()
    try:
        decode()
        outcome = "ok"
    except EncodingError as exc:
        outcome = type(exc).__name__
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, outcome


@pytest.mark.parametrize("decode", [rvl_decode, rvl_decode_sequential])
def test_rvl_stream_longer_than_its_image_allows_is_refused_unread(decode: Callable[[bytes, int], np.ndarray]) -> None:
    """The review's payload: 8 MB of zero bytes for a 640x480 image (3.4 GB and 6 s before the fix): refused at
    once with the specific error, without unpacking it (nothing near the payload's size is allocated)."""
    zeros = bytes(8_000_000)
    with pytest.raises(RvlOversizeError, match=r"8000000 bytes is longer than any encoding of 307200 pixels"):
        decode(zeros, 307200)
    peak, outcome = _peak_bytes(lambda: decode(zeros, 307200))
    assert outcome == "RvlOversizeError" and peak < 64 * 1024, peak
    # within the byte bound but with more varints (zero nibbles) than 3 per pixel: refused as well
    with pytest.raises(RvlOversizeError, match=r"holds \d+ values, more than any encoding of 1000 pixels"):
        decode(bytes(rvl_max_values(1000)), 1000)
    # the payload is refused through the compressedDepth decoder too (the node drops the frame on EncodingError)
    payload = CONFIG_HEADER.pack(0, 0, 0) + struct.pack("<II", 640, 480) + bytes(8_000_000)
    with pytest.raises(RvlOversizeError):
        decode_compressed_depth("16UC1; compressedDepth rvl", payload)


def test_rvl_bounds_admit_every_real_encoding() -> None:
    """The bounds are safe: the longest streams the encoder makes (alternating pixels with large deltas, dense
    large deltas) are well inside them and decode exactly."""
    n = 4096
    alternating = np.zeros(n, np.uint16)
    alternating[::2] = np.tile([65535, 1], n // 4)
    dense = np.tile(np.array([65535, 1], np.uint16), n // 2)
    for values in (alternating, dense, np.zeros(n, np.uint16), RNG.integers(1, 65536, n).astype(np.uint16)):
        encoded = rvl_encode(values)
        assert len(encoded) <= rvl_max_bytes(n) and len(encoded) * 2 <= rvl_max_values(n) * 11
        np.testing.assert_array_equal(rvl_decode(encoded, n), values)


PIXELS = 20_000


@pytest.mark.parametrize("name, payload", [
    ("zero bytes at the byte bound", bytes(rvl_max_bytes(PIXELS))),
    ("zero varints at the value bound", bytes(rvl_max_values(PIXELS) // 2)),
    ("one-pixel (1, 0) pairs", _nibble_stream([1, 0] * PIXELS)),
    ("empty (0, 0) pairs", _nibble_stream([0, 0] * (3 * PIXELS // 2))),
    ("11-nibble varints at the byte bound", _nibble_stream(([15] * 10 + [7]) * (3 * PIXELS))),
    ("alternating pixels, large deltas", rvl_encode(np.tile(np.array([65535, 0, 1, 0], np.uint16), PIXELS // 4))),
])
def test_rvl_decoder_memory_is_bounded_by_the_pixel_count(name: str, payload: bytes) -> None:
    """Whatever the stream, the decoder allocates O(pixels): at most 256 bytes per pixel (the old decoder
    unpacked any length and kept ~log2(stream) pointer tables of the whole stream: > 1 kB per pixel here)."""
    peak, outcome = _peak_bytes(lambda: rvl_decode(payload, PIXELS))
    assert peak <= 256 * PIXELS + 64 * 1024, (name, outcome, peak / PIXELS)


# -- compressedDepth -----------------------------------------------------------------------------------

def sparse_depth_m(shape: tuple[int, int] = (48, 64), density: float = 0.1) -> np.ndarray:
    depth = (RNG.uniform(0.3, 9.5, size=shape) * (RNG.random(shape) < density)).astype(np.float32)
    depth[0, 0], depth[0, 1] = np.nan, np.inf
    return depth


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_16uc1_is_lossless_millimetres(codec: str) -> None:
    depth = sparse_depth_m()
    payload = compress_depth(depth, codec, "16UC1")
    assert payload.format == f"16UC1; compressedDepth {codec}"
    pixels, encoding = decode_compressed_depth(payload.format, payload.data)
    expected = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * 1000.0), 0).astype(np.uint16)
    assert encoding == "16UC1" and pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("codec", ["png", "rvl"])
def test_32fc1_inverse_depth_within_quantization_error(codec: str) -> None:
    depth = sparse_depth_m(density=0.5)
    depth[1, 1] = 12.0  # beyond the default depth_max (10 m): dropped
    payload = compress_depth(depth, codec, "32FC1")
    decoded, encoding = decode_compressed_depth(payload.format, payload.data)
    assert encoding == "32FC1" and decoded.dtype == np.float32
    valid = np.isfinite(depth) & (depth > 0) & (depth < 10.0)
    np.testing.assert_array_equal(np.isfinite(decoded), valid)
    quant_a = 100.0 * 101.0  # depth_quantization Z0 = 100: A = Z0 (Z0 + 1)
    # the encoder truncates A / d + B to an integer: the decoded depth is >= d and less than d^2 / (A - d) above it
    error = decoded[valid] - depth[valid]
    bound = depth[valid] ** 2 / (quant_a - depth[valid])
    assert np.all(error >= -1e-5) and np.all(error <= bound + 1e-5)
    assert error.max() > 0.1 * bound.max()  # it really is quantized (not lossless by accident)


@pytest.mark.parametrize("codec", ["png", "rvl"])
@pytest.mark.parametrize("depth_max_m", [None, 5.0])
def test_32fc1_depth_at_depth_max_comes_back_invalid(codec: str, depth_max_m: float | None) -> None:
    """compressed_depth_image_transport keeps depth < depth_max only: a pixel exactly at depth_max is dropped
    (NaN after decoding), one just below it is kept (kills a ``<=`` mutant of the encoder's limit)."""
    limit = 10.0 if depth_max_m is None else depth_max_m  # 10 m: the transport's default depth_max
    depth = np.full((4, 6), 2.0, np.float32)
    depth[0, 0] = depth[3, 5] = limit
    depth[1, 1] = np.nextafter(np.float32(limit), np.float32(0))  # the largest float32 below the limit
    depth[2, 2] = np.float32(limit) * np.float32(1.001)
    payload = compress_depth(depth, codec, "32FC1", depth_max_m=depth_max_m)
    decoded, _ = decode_compressed_depth(payload.format, payload.data)
    assert np.isnan(decoded[0, 0]) and np.isnan(decoded[3, 5]) and np.isnan(decoded[2, 2])
    assert np.isfinite(decoded[1, 1]) and abs(decoded[1, 1] - limit) < 0.05 * limit
    assert np.isfinite(decoded[0, 1]) and abs(decoded[0, 1] - 2.0) < 0.01


def test_wire_format_assembled_by_hand_is_decoded() -> None:
    """A payload built from the published layout alone: int32 format, float32 A, float32 B, then a PNG."""
    inverse = np.array([[0, 1000], [2000, 65535]], np.uint16)
    quant_a, quant_b = 10100.0, -1009.0
    png = cv2.imencode(".png", inverse)[1].tobytes()
    data = struct.pack("<iff", 0, quant_a, quant_b) + png
    depth, _ = decode_compressed_depth("32FC1; compressedDepth png", data)
    assert np.isnan(depth[0, 0])
    np.testing.assert_allclose(depth[0, 1], quant_a / (1000 - quant_b), rtol=1e-6)
    np.testing.assert_allclose(depth[1, 1], quant_a / (65535 - quant_b), rtol=1e-6)
    mm, encoding = decode_compressed_depth("16UC1; compressedDepth", struct.pack("<iff", 0, 0, 0) + png)
    assert encoding == "16UC1" and mm.tolist() == inverse.tolist()  # the older format string means png
    rvl = struct.pack("<iffII", 0, 0, 0, 2, 2) + reference_rvl_encode(inverse.reshape(-1).tolist())
    np.testing.assert_array_equal(decode_compressed_depth("16UC1; compressedDepth rvl", rvl)[0], inverse)


@pytest.mark.parametrize("fmt,match", [
    ("rgb8; jpeg compressed bgr8", "not a compressedDepth payload"),
    ("png", "not a compressedDepth payload"),
    ("16UC1; compressedDepth zstd", "unsupported compressedDepth codec 'zstd'"),
    ("8UC1; compressedDepth png", "is not a depth encoding"),
])
def test_depth_format_strings_rejected_clearly(fmt: str, match: str) -> None:
    with pytest.raises(EncodingError, match=match):
        parse_depth_format(fmt)


def test_corrupt_depth_payloads_raise_specific_errors() -> None:
    good = compress_depth(sparse_depth_m(), "png", "16UC1")
    with pytest.raises(EncodingError, match="shorter than its 12-byte config header"):
        decode_compressed_depth(good.format, good.data[:12])
    with pytest.raises(EncodingError, match="not a PNG or JPEG file"):
        decode_compressed_depth(good.format, good.data[:12] + b"garbage" * 10)
    with pytest.raises(EncodingError, match="could not decode"):
        decode_compressed_depth(good.format, good.data[:60])  # header intact, PNG truncated
    rgb_png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    with pytest.raises(EncodingError, match="not single-channel|expected 16-bit"):
        decode_compressed_depth(good.format, good.data[:12] + rgb_png)
    with pytest.raises(EncodingError, match="larger than"):
        decode_compressed_depth("16UC1; compressedDepth rvl", CONFIG_HEADER.pack(0, 0, 0) + struct.pack("<II", 10 ** 5,
                                                                                                        10 ** 5))
    rvl = compress_depth(sparse_depth_m(), "rvl", "16UC1")
    with pytest.raises(EncodingError, match="RVL stream"):
        decode_compressed_depth(rvl.format, rvl.data[:-40])


def test_random_corruption_never_escapes_as_anything_but_encoding_error() -> None:
    payloads = [compress_depth(sparse_depth_m(), c, e) for c in ("png", "rvl") for e in ("16UC1", "32FC1")]
    for trial in range(200):
        payload = payloads[trial % len(payloads)]
        data = bytearray(payload.data)
        for _ in range(int(RNG.integers(1, 8))):
            data[int(RNG.integers(0, len(data)))] = int(RNG.integers(0, 256))
        data = data[: int(RNG.integers(0, len(data) + 1))] if trial % 3 == 0 else data
        try:
            decode_compressed_depth(payload.format, bytes(data))
        except EncodingError:
            pass


# -- compressed colour ---------------------------------------------------------------------------------

def smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([40 + 3 * x, 30 + 4 * y, 200 - 2 * x - y]).clip(0, 255).astype(np.uint8)


def test_jpeg_and_png_colour_round_trip() -> None:
    rgb = smooth_rgb()
    jpeg = compress_image(rgb, "jpeg", quality=95)
    assert jpeg.format == "rgb8; jpeg compressed bgr8" and jpeg.data[:2] == b"\xff\xd8"
    decoded = decode_compressed_image(jpeg.format, jpeg.data)
    assert decoded.shape == rgb.shape and np.abs(decoded.astype(int) - rgb).mean() < 2.0  # colours not swapped
    png = compress_image(rgb, "png")
    assert png.format == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(decode_compressed_image(png.format, png.data), rgb)


@pytest.mark.parametrize("fmt", ["bgr8; jpeg compressed bgr8", "jpeg", "JPEG", "", "mono8; jpeg compressed mono8"])
def test_colour_format_variants_accepted(fmt: str) -> None:
    rgb = smooth_rgb()
    data = compress_image(rgb, "jpeg").data
    assert np.abs(decode_compressed_image(fmt, data).astype(int) - rgb).mean() < 2.0


def test_mono_and_16_bit_pngs_become_rgb() -> None:
    gray = smooth_rgb()[..., 1]
    out = decode_compressed_image("mono8; png compressed mono8", cv2.imencode(".png", gray)[1].tobytes())
    np.testing.assert_array_equal(out, np.dstack([gray] * 3))
    bgr16 = smooth_rgb()[..., ::-1].astype(np.uint16) * 257
    out = decode_compressed_image("rgb16; png compressed bgr16", cv2.imencode(".png", bgr16)[1].tobytes())
    np.testing.assert_array_equal(out, smooth_rgb())


def test_bad_colour_payloads_raise_specific_errors() -> None:
    data = compress_image(smooth_rgb(), "jpeg").data
    with pytest.raises(EncodingError, match="unsupported CompressedImage format 'h264'"):
        decode_compressed_image("h264", data)
    with pytest.raises(EncodingError, match="compressedDepth depth payload"):
        decode_compressed_image("16UC1; compressedDepth png", data)
    with pytest.raises(EncodingError, match="not a PNG or JPEG file"):
        decode_compressed_image("jpeg", b"\x00" * 100)
    with pytest.raises(EncodingError, match="could not decode"):
        decode_compressed_image("jpeg", data[: len(data) // 3])  # headers intact, scan truncated
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    with pytest.raises(EncodingError, match="declares 100000x100000 pixels"):
        decode_compressed_image("png", bomb + b"\x00" * 16)
