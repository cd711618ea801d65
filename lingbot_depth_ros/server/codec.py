"""Base64 / PNG / .npy payloads of the HTTP API, decoded defensively.

Everything here treats its input as untrusted: sizes are checked from the file headers *before*
pixels are decoded (no decompression bombs), ``.npy`` files are read without pickle, and every
failure is an :class:`~lingbot_depth_ros.errors.InputError` naming the field and the reason.
No web framework is imported, so the CLI, the API and clients can all use these helpers.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.depth_files import (
    NPY_MAGIC,
    PayloadTooLargeError,
    check_pixels,
    decode_image_bytes,
    depth_m_from_array,
    read_npy,
    read_npy_header,
)

__all__ = ["PayloadTooLargeError", "b64decode_field", "b64encode_bytes", "decode_npy", "decode_rgb_image",
           "decode_sparse_depth", "encode_npy", "encode_png_rgb", "sniff_image"]
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# Containers whose header gives the size before decoding (sniffed by Pillow).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF")


def b64decode_field(data: str, field: str, max_bytes: int | None = None) -> bytes:
    """Decode a base64 string (optionally a ``data:...;base64,`` URL) into bytes.

    Raises:
        InputError: not a string, empty, or not valid standard base64.
        PayloadTooLargeError: the decoded payload would exceed ``max_bytes``.
    """
    if not isinstance(data, str):
        raise InputError(f"{field}: expected a base64 string, got {type(data).__name__}")
    text = _WHITESPACE.sub("", _DATA_URL.sub("", data, count=1))
    if not text:
        raise InputError(f"{field}: empty base64 payload")
    if max_bytes is not None and len(text) // 4 * 3 > max_bytes:
        raise PayloadTooLargeError(f"{field}: decoded payload would be about {len(text) // 4 * 3} bytes, "
                                   f"over the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{field}: not valid base64 ({exc})") from exc


def b64encode_bytes(raw: bytes) -> str:
    """Standard base64 (ASCII str) of ``raw``."""
    return base64.b64encode(raw).decode("ascii")


def sniff_image(raw: bytes, field: str) -> tuple[str, int, int]:
    """Read only the header of an encoded image.

    Returns:
        (format, width, height), format one of :data:`IMAGE_FORMATS`.

    Raises:
        InputError: not an image in a supported container.
    """
    from PIL import Image  # Pillow sniffs headers lazily; cv2 would decode the whole image first.

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                fmt, (width, height) = str(image.format), image.size
    except Image.DecompressionBombError as exc:
        # Pillow refuses absurd sizes outright (before we can read them); report like any oversized image.
        raise PayloadTooLargeError(f"{field}: image header declares a size that exceeds the limit of Pillow's "
                                   f"decompression-bomb guard ({exc})") from None
    except Exception as exc:  # Pillow raises many types for garbage (UnidentifiedImageError, SyntaxError...)
        raise InputError(f"{field}: not a decodable image (expected PNG, JPEG, BMP, WebP or TIFF)") from exc
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"{field}: unsupported image format {fmt}; use PNG, JPEG, BMP, WebP or TIFF")
    return fmt, int(width), int(height)


def decode_rgb_image(raw: bytes, field: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded colour or grey image into (H, W, 3) uint8 RGB.

    The pixel count is checked from the header before decoding. EXIF orientation is ignored so
    that pixels line up with a sparse depth map and intrinsics of the same sensor.

    Raises:
        InputError: undecodable image; PayloadTooLargeError: more than ``max_pixels`` pixels.
    """
    _, width, height = sniff_image(raw, field)
    check_pixels(field, width, height, max_pixels)
    try:
        bgr = decode_image_bytes(raw, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION, field, max_pixels)
    except PayloadTooLargeError:
        raise
    except InputError:
        bgr = None
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise InputError(f"{field}: image header is valid but its pixels cannot be decoded (truncated?)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_npy(raw: bytes, field: str, max_elements: int | None = None) -> np.ndarray:
    """Load a .npy payload without pickle, checking its size from the header first.

    Raises:
        InputError: not a plain numeric .npy (object arrays are refused), or data shorter than the
            header declares. PayloadTooLargeError: more than ``max_elements`` elements.
    """
    return read_npy(io.BytesIO(raw), len(raw), field, max_elements)


def encode_npy(array: np.ndarray) -> bytes:
    """Serialize ``array`` as .npy bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_sparse_depth(raw: bytes, field: str = "sparse_depth", max_pixels: int | None = None) -> np.ndarray:
    """Decode a sparse metric depth payload into (H, W) float32 depth [m], 0 = no measurement.

    Accepted: a 16-bit PNG in millimetres, a float32 TIFF in metres, or a float .npy in metres.
    8-bit images are refused: they cannot carry metric depth.

    Raises:
        InputError: unsupported or malformed payload; PayloadTooLargeError: too many pixels.
    """
    if raw.startswith(NPY_MAGIC):
        header = read_npy_header(io.BytesIO(raw), field)
        shape, dtype = header.shape, header.dtype
        if dtype.kind != "f":
            raise InputError(f"{field}: a .npy sparse depth must hold float metres, got dtype {dtype} "
                             "(send millimetres as a 16-bit PNG instead)")
        squeezed = shape[:2] if len(shape) == 3 and shape[2] == 1 else shape
        if len(squeezed) != 2:
            raise InputError(f"{field}: a .npy sparse depth must be (H, W), got shape {shape}")
        check_pixels(field, squeezed[1], squeezed[0], max_pixels)
        array = decode_npy(raw, field)
    else:
        fmt, width, height = sniff_image(raw, field)
        if fmt not in ("PNG", "TIFF"):
            raise InputError(f"{field}: {fmt} cannot carry metric depth; send a 16-bit PNG in millimetres, a "
                             "float32 TIFF in metres or a .npy in metres")
        check_pixels(field, width, height, max_pixels)
        try:
            array = decode_image_bytes(raw, cv2.IMREAD_UNCHANGED, field, max_pixels)
        except PayloadTooLargeError:
            raise
        except InputError:
            raise InputError(f"{field}: image header is valid but its pixels cannot be decoded (truncated?)") from None
    return depth_m_from_array(array, field)


def encode_png_rgb(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"cannot PNG-encode an image of shape {rgb.shape}")
    return buffer.tobytes()

