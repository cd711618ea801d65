"""Image size from a file header, without decoding pixels (guards against decompression bombs).

Reads PNG, JPEG, BMP, TIFF and WebP headers with the standard library only (no Pillow), so the
core package can refuse an image whose header claims 40000 x 40000 pixels before OpenCV
allocates memory for it.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT/JPG/DAC.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_NO_LENGTH = {0x01, 0xD8} | set(range(0xD0, 0xD8))
_MAX_JPEG_SEGMENTS = 10_000


def _png(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _bmp(head: bytes) -> tuple[int, int] | None:
    if len(head) < 26:
        return None
    (dib_size,) = struct.unpack("<I", head[14:18])
    if dib_size == 12:  # BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", head[18:22])
    else:
        width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg(stream: BinaryIO) -> tuple[int, int] | None:
    stream.seek(2)
    for _ in range(_MAX_JPEG_SEGMENTS):
        byte = stream.read(1)
        while byte and byte != b"\xff":  # skip garbage between segments
            byte = stream.read(1)
        while byte == b"\xff":  # fill bytes
            byte = stream.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in _JPEG_NO_LENGTH:
            continue
        if marker == 0xD9:  # end of image before any frame header
            return None
        raw_length = stream.read(2)
        if len(raw_length) < 2:
            return None
        (length,) = struct.unpack(">H", raw_length)
        if marker in _JPEG_SOF:
            frame = stream.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if length < 2:
            return None
        stream.seek(length - 2, 1)
    return None


def _tiff(stream: BinaryIO, head: bytes) -> tuple[int, int] | None:
    order = "<" if head[:2] == b"II" else ">"
    (ifd_offset,) = struct.unpack(order + "I", head[4:8])
    stream.seek(ifd_offset)
    raw_count = stream.read(2)
    if len(raw_count) < 2:
        return None
    (count,) = struct.unpack(order + "H", raw_count)
    entries = stream.read(12 * count)
    sizes: dict[int, int] = {}
    for index in range(len(entries) // 12):
        tag, kind = struct.unpack(order + "HH", entries[12 * index:12 * index + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength (SHORT or LONG)
            value = entries[12 * index + 8:12 * index + 12]
            sizes[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2] if kind == 3 else value)[0]
    if 256 in sizes and 257 in sizes:
        return sizes[256], sizes[257]
    return None


def image_size(stream: BinaryIO) -> tuple[int, int] | None:
    """(width, height) [px] from the header of an encoded image in ``stream`` (seekable, binary).

    Returns None when the format is not PNG, JPEG, BMP, TIFF or WebP, or the header is cut short;
    the caller then lets the decoder decide.
    """
    stream.seek(0)
    head = stream.read(32)
    if head.startswith(PNG_SIGNATURE):
        return _png(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(stream)
    if head.startswith(b"BM"):
        return _bmp(head)
    if head[:4] in (b"II*\x00", b"MM\x00*") and len(head) >= 8:
        return _tiff(stream, head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    return None
