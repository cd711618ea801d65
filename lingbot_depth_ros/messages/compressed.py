"""Compressed image payloads as ROS image_transport writes them (no rclpy).

- ``compressed`` (sensor_msgs/CompressedImage on ``<image>/compressed``): a plain JPEG or PNG file;
  ``format`` is e.g. ``"rgb8; jpeg compressed bgr8"``, ``"bgr8; png compressed bgr8"``, or just
  ``"jpeg"`` / ``"png"``. The file holds a standard image whatever the original encoding was.
- ``compressedDepth`` (``<depth>/compressedDepth``): a 12-byte config header (int32 format enum,
  float32 ``depthQuantA``, float32 ``depthQuantB``, little-endian) followed by

  * ``"16UC1; compressedDepth png"`` (or the older ``"16UC1; compressedDepth"``): a 16-bit PNG of the
    raw millimetres (0 = no measurement);
  * ``"32FC1; compressedDepth png"``: a 16-bit PNG of quantized inverse depth ``v``;
    ``depth = depthQuantA / (v - depthQuantB)`` [m], ``v = 0`` = no measurement;
  * ``"... ; compressedDepth rvl"``: uint32 cols, uint32 rows, then the same 16-bit values
    compressed with RVL (Wilson 2017: run lengths and zig-zag deltas as 3-bit nibble varints,
    packed eight to a little-endian 32-bit word, most significant nibble first).

Decoders raise :class:`EncodingError` with the reason for any payload they cannot read (wrong
format string, truncated or corrupt data, oversized image); they never return garbage silently.
The RVL decoder's work and memory are bounded by the image size, not by the payload: a stream longer
than any RVL encoding of ``cols x rows`` values can be (:func:`rvl_max_bytes`, :func:`rvl_max_values`)
is refused at once with :class:`RvlOversizeError`, before it is unpacked.
"""

from __future__ import annotations

import io
import struct
from typing import NamedTuple

import cv2
import numpy as np

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.io.image_header import image_size

CONFIG_HEADER = struct.Struct("<iff")  # compressionFormat enum (INV_DEPTH = 0, RVL = 1), depthQuantA, depthQuantB
RVL_SIZE = struct.Struct("<II")  # cols, rows
INV_DEPTH = 0
# Largest decoded image accepted (pixels), as for image files: refuses decompression bombs.
MAX_PIXELS = 8192 * 8192
DEFAULT_DEPTH_QUANTIZATION = 100.0  # compressed_depth_image_transport's depth_quantization default
DEFAULT_DEPTH_MAX_32FC1_M = 10.0  # ... and its depth_max default [m]
MAX_16UC1_M = 65.535
_VLE_MAX_NIBBLES = 11  # a 32-bit value needs at most 11 3-bit groups
_NIBBLES_PER_WORD = 8


class RvlOversizeError(EncodingError):
    """An RVL stream holds more bytes or values than any encoding of its image size: refused unread."""


def rvl_max_values(num_values: int) -> int:
    """Most varints an RVL stream of ``num_values`` pixels can hold: every (zeros, nonzeros) pair covers at least
    one pixel, so at most ``num_values`` pairs of 2 counts plus one value per pixel, plus < 8 padding nibbles."""
    return 3 * num_values + _NIBBLES_PER_WORD - 1


def rvl_max_bytes(num_values: int) -> int:
    """Most bytes an RVL stream of ``num_values`` pixels can take: :func:`rvl_max_values` varints of at most 11
    nibbles, 8 nibbles per 4-byte word."""
    return 4 * -(-(rvl_max_values(num_values) * _VLE_MAX_NIBBLES) // _NIBBLES_PER_WORD)


class CompressedPayload(NamedTuple):
    """``format`` string and ``data`` bytes of a sensor_msgs/CompressedImage."""

    format: str
    data: bytes


# -- RVL -----------------------------------------------------------------------------------------

def _vle_nibbles(values: np.ndarray) -> np.ndarray:
    """(N,) non-negative int64 -> the nibble stream of their 3-bit varints (low group first, bit 3 = more)."""
    groups = np.ones(values.shape, dtype=np.int64)
    for j in range(1, _VLE_MAX_NIBBLES):
        groups += (values >> (3 * j)) > 0
    group = np.arange(_VLE_MAX_NIBBLES, dtype=np.int64)
    payload = (values[:, None] >> (3 * group[None, :])) & 7
    more = (group[None, :] < groups[:, None] - 1).astype(np.int64) << 3
    keep = group[None, :] < groups[:, None]
    return (payload | more)[keep]


def rvl_encode(values: np.ndarray) -> bytes:
    """RVL-compress 16-bit values (any shape, row-major order) -> bytes (whole little-endian 32-bit words)."""
    v = np.ascontiguousarray(values, dtype=np.uint16).reshape(-1)
    if v.size == 0:
        return b""
    nonzero = v != 0
    edges = np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [v.size]])).astype(np.int64)
    if nonzero[0]:  # pairs are (zeros, nonzeros): an image starting with data has an empty zero run
        runs = np.concatenate([[0], runs])
    if runs.size % 2:  # ... and one ending in zeros an empty nonzero run
        runs = np.concatenate([runs, [0]])
    pair_zeros, pair_nonzeros = runs[0::2], runs[1::2]
    samples = v[nonzero].astype(np.int64)
    delta = samples - np.concatenate([[0], samples[:-1]])
    zigzag = np.where(delta >= 0, delta << 1, ((-delta) << 1) - 1)
    pairs = pair_zeros.size
    base = 2 * np.arange(pairs, dtype=np.int64) + np.concatenate([[0], np.cumsum(pair_nonzeros)[:-1]])
    stream = np.empty(2 * pairs + zigzag.size, dtype=np.int64)
    header = np.zeros(stream.size, dtype=bool)
    header[base] = header[base + 1] = True
    stream[base], stream[base + 1] = pair_zeros, pair_nonzeros
    stream[~header] = zigzag
    nibbles = _vle_nibbles(stream)
    nibbles = np.concatenate([nibbles, np.zeros(-nibbles.size % 8, dtype=np.int64)]).reshape(-1, 8)
    words = (nibbles << np.arange(28, -1, -4, dtype=np.int64)[None, :]).sum(axis=1)
    return words.astype("<u4").tobytes()


def _rvl_values(data: bytes, num_values: int) -> np.ndarray:
    """The varints of an RVL stream for ``num_values`` pixels -> (N,) int64 (trailing padding nibbles decode as
    zeros). Memory and work are O(``num_values``): longer streams are refused before they are unpacked.

    Each little-endian 32-bit word holds 8 nibbles, most significant first; a varint is a group of nibbles
    ending at one without bit 3, its 3-bit payloads low group first.

    Raises:
        RvlOversizeError: more bytes or varints than any stream of ``num_values`` pixels holds.
        EncodingError: no complete varint, or one longer than 32 bits.
    """
    if len(data) > rvl_max_bytes(num_values):
        raise RvlOversizeError(f"RVL stream of {len(data)} bytes is longer than any encoding of {num_values} pixels "
                               f"(at most {rvl_max_bytes(num_values)} bytes): corrupt or hostile payload")
    words = np.frombuffer(data, dtype=np.uint8, count=len(data) // 4 * 4).reshape(-1, 4)[:, ::-1]
    word_nibbles = np.empty((words.shape[0], 8), dtype=np.uint8)
    word_nibbles[:, 0::2] = words >> 4
    word_nibbles[:, 1::2] = words & 15
    nibbles = word_nibbles.reshape(-1)
    last = nibbles < 8  # a varint's last nibble
    count = int(np.count_nonzero(last))
    if count > rvl_max_values(num_values):  # counted before any per-value array exists
        raise RvlOversizeError(f"RVL stream holds {count} values, more than any encoding of {num_values} pixels "
                               f"(at most {rvl_max_values(num_values)}): corrupt or hostile payload")
    if count == 0:
        raise EncodingError("RVL stream holds no complete value")
    ends = np.flatnonzero(last)
    del last
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    lengths = ends - starts + 1
    longest = int(lengths.max())
    if longest > _VLE_MAX_NIBBLES:
        raise EncodingError("RVL stream is corrupt (a varint longer than 32 bits)")
    values = (nibbles[starts] & 7).astype(np.int64)
    for group in range(1, longest):  # one pass per nibble position: O(values) memory, no per-nibble index
        longer = np.flatnonzero(lengths > group)
        values[longer] |= (nibbles[starts[longer] + group] & 7).astype(np.int64) << (3 * group)
    return values


def _scatter_runs(values: np.ndarray, num_values: int, out_starts: np.ndarray, value_starts: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
    """Undo the zig-zag deltas of the non-zero runs and place them -> (num_values,) uint16."""
    result = np.zeros(num_values, dtype=np.uint16)
    keep = counts > 0
    out_starts, value_starts, counts = out_starts[keep], value_starts[keep], counts[keep]
    if counts.size:
        offsets = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        zigzag = values[np.repeat(value_starts, counts) + offsets]
        delta = (zigzag >> 1) ^ -(zigzag & 1)
        result[np.repeat(out_starts, counts) + offsets] = (np.cumsum(delta) & 0xFFFF).astype(np.uint16)
    return result


def _pair_chain(values: np.ndarray) -> np.ndarray:
    """Positions of the (zeros, nonzeros) headers, in order, walking from position 0 -> (P,) int64.

    The header after position ``i`` is at ``i + 2 + values[i + 1]``: a chain through a functional graph whose
    steps always go forward. It is followed by pointer doubling instead of one Python step per run, in O(N)
    memory: with ``chain`` = the first ``2**k`` headers and ``jump`` = ``2**k`` steps, the next ``2**k``
    headers are ``jump[chain]``; then ``jump`` is squared. ``len(values)`` is the sink where the stream ends.
    """
    n = values.size
    step = np.full(n + 1, n, dtype=np.int64)
    step[: n - 1] = np.minimum(np.arange(2, n + 1, dtype=np.int64) + values[1:], n)
    chain = np.zeros(1, dtype=np.int64)
    jump = step
    while chain[-1] < n and step[chain[-1]] < n:  # the last header found still has a successor
        chain = np.concatenate([chain, jump[chain]])
        jump = jump[jump]
    return chain[chain < n]


def rvl_decode(data: bytes, num_values: int) -> np.ndarray:
    """Decompress ``num_values`` 16-bit values from RVL ``data`` -> (num_values,) uint16.

    Vectorised: nibbles and varints are decoded all at once, the run headers are found by pointer doubling
    (:func:`_pair_chain`); same result and errors as :func:`rvl_decode_sequential`.

    Raises:
        RvlOversizeError: ``data`` is longer, or holds more values, than any encoding of ``num_values`` pixels
            (refused before it is unpacked: work and memory stay O(``num_values``)).
        EncodingError: the stream ends early, a run overflows the image, or a varint is malformed.
    """
    if num_values <= 0:
        return np.zeros(0, dtype=np.uint16)
    values = _rvl_values(data, num_values)
    n_values = values.size
    heads = _pair_chain(values)
    has_count = heads + 1 < n_values
    zeros = values[heads]
    nonzeros = np.where(has_count, values[np.minimum(heads + 1, n_values - 1)], 0)
    out_after = np.cumsum(zeros + nonzeros)
    out_before = out_after - zeros - nonzeros
    used = int(np.searchsorted(out_before, num_values, side="left"))  # the pairs the decoder reads
    if used:
        last = used - 1  # only the last pair read can be short or overflow (the chain stops at the end)
        if not has_count[last]:
            raise EncodingError(f"RVL stream ends after {int(out_before[last])} of {num_values} pixels")
        if out_after[last] > num_values:
            raise EncodingError(f"RVL stream is corrupt: a run ends at pixel {int(out_after[last])} of "
                                f"{num_values}")
        if heads[last] + 2 + nonzeros[last] > n_values:
            raise EncodingError(f"RVL stream ends inside a run at pixel {int(out_before[last] + zeros[last])} of "
                                f"{num_values}")
    done = int(out_after[used - 1]) if used else 0
    if done < num_values:
        raise EncodingError(f"RVL stream ends after {done} of {num_values} pixels")
    return _scatter_runs(values, num_values, out_before[:used] + zeros[:used], heads[:used] + 2, nonzeros[:used])


def rvl_decode_sequential(data: bytes, num_values: int) -> np.ndarray:
    """:func:`rvl_decode` walking the runs one Python step each (the previous decoder: the reference of the
    tests and of bench/bench_codecs.py; ~10x slower on dense depth)."""
    if num_values <= 0:
        return np.zeros(0, dtype=np.uint16)
    values = _rvl_values(data, num_values)
    out_starts, value_starts, counts = [], [], []
    pos = out = 0
    n_values = values.size
    walk = values.tolist()
    while out < num_values:
        if pos + 2 > n_values:
            raise EncodingError(f"RVL stream ends after {out} of {num_values} pixels")
        zeros, nonzeros = walk[pos], walk[pos + 1]
        pos += 2
        if out + zeros + nonzeros > num_values:
            raise EncodingError(f"RVL stream is corrupt: a run ends at pixel {out + zeros + nonzeros} of "
                                f"{num_values}")
        if pos + nonzeros > n_values:
            raise EncodingError(f"RVL stream ends inside a run at pixel {out + zeros} of {num_values}")
        out_starts.append(out + zeros)
        value_starts.append(pos)
        counts.append(nonzeros)
        pos += nonzeros
        out += zeros + nonzeros
    return _scatter_runs(values, num_values, np.asarray(out_starts, np.int64), np.asarray(value_starts, np.int64),
                         np.asarray(counts, np.int64))


# -- colour images (``compressed``) ----------------------------------------------------------------

def _codec_of(fmt: str) -> str | None:
    text = fmt.lower()
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    if "png" in text:
        return "png"
    return None


def _checked_size(data: bytes, what: str) -> tuple[int, int]:
    size = image_size(io.BytesIO(data))
    if size is None:
        raise EncodingError(f"{what}: {len(data)} bytes are not a PNG or JPEG file (corrupt payload)")
    width, height = size
    if width == 0 or height == 0:
        raise EncodingError(f"{what}: the file header declares an empty {width}x{height} image")
    if width * height > MAX_PIXELS:
        raise EncodingError(f"{what}: the file header declares {width}x{height} pixels, more than the "
                            f"{MAX_PIXELS} accepted")
    return width, height


def compress_image(rgb: np.ndarray, codec: str = "jpeg", quality: int = 95) -> CompressedPayload:
    """(H, W, 3) uint8 RGB -> JPEG or PNG payload with image_transport's format string
    (``"rgb8; jpeg compressed bgr8"``); ``quality`` is the JPEG quality 1..100."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise EncodingError(f"compress_image needs (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if codec not in ("jpeg", "png"):
        raise EncodingError(f"image codec must be jpeg or png, got '{codec}'")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buffer = cv2.imencode(".jpg" if codec == "jpeg" else ".png",
                              cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise EncodingError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} image as {codec}")
    return CompressedPayload(f"rgb8; {codec} compressed bgr8", buffer.tobytes())


def decode_compressed_image(fmt: str, data: bytes) -> np.ndarray:
    """A CompressedImage payload (JPEG/PNG, any colour or mono original) -> (H, W, 3) uint8 RGB.

    16-bit PNGs are reduced to 8 bit (OpenCV's ``IMREAD_COLOR``: the high byte).
    """
    if "compresseddepth" in fmt.lower():
        raise EncodingError(f"CompressedImage format '{fmt}' is a compressedDepth depth payload, not a colour "
                            "image (wrong topic for image_transport: compressed?)")
    codec = _codec_of(fmt) if fmt.strip() else "jpeg or png"
    if codec is None:
        raise EncodingError(f"unsupported CompressedImage format '{fmt}' (supported: jpeg, png)")
    what = f"CompressedImage ({codec}, {len(data)} bytes)"
    width, height = _checked_size(bytes(data), what)
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (height, width):
        raise EncodingError(f"{what}: OpenCV could not decode the {width}x{height} image (corrupt payload)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# -- depth images (``compressedDepth``) -----------------------------------------------------------

def parse_depth_format(fmt: str) -> tuple[str, str]:
    """``"16UC1; compressedDepth png"`` -> (``"16UC1"``, ``"png"``); the old ``"...; compressedDepth"`` is png.

    Raises:
        EncodingError: not a compressedDepth format, an unknown codec, or an encoding other than
            16UC1 / mono16 / 32FC1.
    """
    encoding, sep, rest = fmt.partition(";")
    encoding, rest = encoding.strip(), rest.strip()
    if not sep or not rest.startswith("compressedDepth"):
        raise EncodingError(f"CompressedImage format '{fmt}' is not a compressedDepth payload (expected e.g. "
                            "'16UC1; compressedDepth png')")
    codec = rest[len("compressedDepth"):].strip() or "png"
    if codec not in ("png", "rvl"):
        raise EncodingError(f"unsupported compressedDepth codec '{codec}' in format '{fmt}' (supported: png, rvl)")
    if encoding not in ("16UC1", "mono16", "32FC1"):
        raise EncodingError(f"compressedDepth encoding '{encoding}' in format '{fmt}' is not a depth encoding "
                            "(16UC1 in mm or 32FC1 in m, REP 118)")
    return encoding, codec


def decode_compressed_depth(fmt: str, data: bytes) -> tuple[np.ndarray, str]:
    """A compressedDepth payload -> (pixels, encoding): (H, W) uint16 millimetres (0 = none) for 16UC1 /
    mono16, or (H, W) float32 metres (NaN = none) for 32FC1."""
    encoding, codec = parse_depth_format(fmt)
    data = bytes(data)
    what = f"compressedDepth ({encoding} {codec}, {len(data)} bytes)"
    if len(data) <= CONFIG_HEADER.size:
        raise EncodingError(f"{what}: shorter than its {CONFIG_HEADER.size}-byte config header plus data")
    _, quant_a, quant_b = CONFIG_HEADER.unpack_from(data)
    body = data[CONFIG_HEADER.size:]
    if codec == "png":
        width, height = _checked_size(body, what)
        if body[:8] != b"\x89PNG\r\n\x1a\n":
            raise EncodingError(f"{what}: the data after the config header is not a PNG file")
        values = cv2.imdecode(np.frombuffer(body, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if values is None or values.shape != (height, width):
            raise EncodingError(f"{what}: OpenCV could not decode a one-channel {width}x{height} PNG (corrupt "
                                "payload or not single-channel)")
        if values.dtype != np.uint16:
            raise EncodingError(f"{what}: the PNG is {values.dtype}, expected 16-bit")
    else:
        if len(body) < RVL_SIZE.size:
            raise EncodingError(f"{what}: too short for the RVL image size")
        width, height = RVL_SIZE.unpack_from(body)
        if width == 0 or height == 0 or width * height > MAX_PIXELS:
            raise EncodingError(f"{what}: RVL image size {width}x{height} is empty or larger than {MAX_PIXELS} "
                                "pixels (corrupt payload)")
        values = rvl_decode(body[RVL_SIZE.size:], width * height).reshape(height, width)
    if encoding != "32FC1":
        return values, encoding
    if not (np.isfinite(quant_a) and np.isfinite(quant_b)) or quant_a == 0:
        raise EncodingError(f"{what}: invalid inverse-depth quantization A={quant_a:g} B={quant_b:g}")
    depth = np.full(values.shape, np.nan, dtype=np.float32)
    valid = values != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        depth[valid] = np.float32(quant_a) / (values[valid].astype(np.float32) - np.float32(quant_b))
    return depth, encoding


def compress_depth(depth_m: np.ndarray, codec: str = "png", encoding: str = "16UC1",
                   depth_max_m: float | None = None,
                   depth_quantization: float = DEFAULT_DEPTH_QUANTIZATION) -> CompressedPayload:
    """(H, W) depth [m] (NaN/inf/<=0 = none) -> compressedDepth payload, as compressed_depth_image_transport
    writes it.

    ``encoding``: 16UC1 (lossless millimetres; depth above ``depth_max_m``, default 65.535 m, is dropped) or
    32FC1 (inverse depth quantized with ``depth_quantization``; depth at or beyond ``depth_max_m``, default
    10 m, is dropped, and so is depth too near for 16 bits, below about A / 65535 m).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2 or depth.size == 0:
        raise EncodingError(f"compress_depth needs a non-empty (H, W) depth array, got shape {depth.shape}")
    if codec not in ("png", "rvl"):
        raise EncodingError(f"compressedDepth codec must be png or rvl, got '{codec}'")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    shape = (depth.shape[0], depth.shape[1])  # (H, W)
    if encoding == "16UC1":
        limit_m = MAX_16UC1_M if depth_max_m is None else min(float(depth_max_m), MAX_16UC1_M)
        mm = np.zeros(shape, dtype=np.uint16)
        keep = valid & (depth <= limit_m)
        mm[keep] = np.round(depth[keep] * 1000.0).astype(np.uint16)  # as ros.image_codec.depth_m_to_image
        values, quant_a, quant_b = mm, np.float32(0.0), np.float32(0.0)
    elif encoding == "32FC1":
        depth_max = DEFAULT_DEPTH_MAX_32FC1_M if depth_max_m is None else float(depth_max_m)
        z0 = np.float32(depth_quantization)
        quant_a = np.float32(z0 * (z0 + np.float32(1.0)))
        quant_b = np.float32(np.float32(1.0) - quant_a / np.float32(depth_max))
        values = np.zeros(shape, dtype=np.uint16)
        inverse = np.zeros(shape, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inverse[valid] = quant_a / depth[valid] + quant_b
        keep = valid & (depth < depth_max) & (inverse >= 1.0) & (inverse < 65536.0)
        values[keep] = inverse[keep].astype(np.uint16)  # truncation, as the C++ encoder's float -> ushort
    else:
        raise EncodingError(f"compressedDepth encoding must be 16UC1 or 32FC1, got '{encoding}'")
    if codec == "png":
        ok, buffer = cv2.imencode(".png", values, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise EncodingError("OpenCV could not encode the depth as a 16-bit PNG")
        body = buffer.tobytes()
    else:
        body = RVL_SIZE.pack(values.shape[1], values.shape[0]) + rvl_encode(values)
    header = CONFIG_HEADER.pack(INV_DEPTH, float(quant_a), float(quant_b))
    return CompressedPayload(f"{encoding}; compressedDepth {codec}", header + body)
