"""Depth and RGB image files.

Depth conventions: float32 TIFF / NPY = metres (0 or NaN = no measurement); 16-bit integer depth
(PNG files, 16UC1 messages) = a stored unit times a scale ``m_per_unit`` [m per unit]: millimetres
(0.001, REP 118) unless told otherwise, KITTI depth PNGs (velodyne_raw, groundtruth) 1/256 m. 0 and
0xFFFF = no measurement. A millimetre PNG cannot hold more than 65.534 m. Every integer -> metres
conversion goes through :func:`depth_m_from_units` (node, predict, batch, fuse, server), so the same
file gives the same float32 depth on every path. 8-bit images cannot carry metric depth and are
rejected rather than guessed at.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.image_header import image_size

#: Largest depth [m] written to a millimetre PNG (65535 is the "no return" sentinel, see DEPTH_MM_SENTINEL).
MAX_DEPTH_PNG_M = 65.534
#: Metres per stored unit of 16-bit depth: millimetres (REP 118; the default everywhere) ...
MILLIMETRE_M_PER_UNIT = 0.001
#: ... and KITTI's depth PNGs (velodyne_raw, groundtruth: metres = value / 256).
KITTI_M_PER_UNIT = 1.0 / 256.0
#: Path parts that mark KITTI depth PNGs (m x 256), refused when read with the default millimetre scale.
KITTI_DEPTH_PATH_MARKS = ("velodyne_raw", "groundtruth", "proj_depth")
# Largest image (width x height) the file loaders accept unless told otherwise: 8192 x 8192.
DEFAULT_MAX_PIXELS = 8192 * 8192
NPY_MAGIC = b"\x93NUMPY"
#: 16UC1 value many drivers write for "out of range / no return" (65.535 m is never a real reading of theirs).
DEPTH_MM_SENTINEL = 0xFFFF


def check_m_per_unit(m_per_unit: float) -> float:
    """``m_per_unit`` as a float if it is a usable scale (finite, > 0).

    Raises:
        InputError: zero, negative, NaN or infinite.
    """
    value = float(m_per_unit)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"depth scale must be a positive number of metres per stored unit, got {m_per_unit!r}")
    return value


@functools.lru_cache(maxsize=8)
def _units_table(m_per_unit: float) -> np.ndarray:
    """(65536,) float32 depth [m] of every 16-bit value (NaN for 0 and the 0xFFFF sentinel), read-only."""
    table = (np.arange(65536, dtype=np.float64) * m_per_unit).astype(np.float32)
    table[0] = table[DEPTH_MM_SENTINEL] = np.nan
    table.flags.writeable = False
    return table


def depth_m_from_units(units: np.ndarray, m_per_unit: float = MILLIMETRE_M_PER_UNIT) -> np.ndarray:
    """The one conversion of 16-bit stored depth to metres (files, messages, every CLI and the node).

    Args:
        units: (H, W) uint16 stored depth values.
        m_per_unit: metres per stored unit: 0.001 (millimetres, the default), 1/256 (KITTI)...

    Returns:
        (H, W) float32 depth [m]: ``value * m_per_unit`` correctly rounded to float32 (for millimetres
        exactly float32(value / 1000): 1234 -> float32(1.234)), NaN where the value is 0 or 0xFFFF.
    """
    return _units_table(check_m_per_unit(m_per_unit))[np.asarray(units, dtype=np.uint16)]


def kitti_depth_path_mark(path: str | Path) -> str | None:
    """The part of ``path`` that marks it as a KITTI depth PNG (m x 256), e.g. ``velodyne_raw``; None otherwise."""
    for part in Path(path).parts:
        for mark in KITTI_DEPTH_PATH_MARKS:
            if mark in part:
                return mark
    return None


def refuse_kitti_path_as_mm(path: str | Path) -> None:
    """Refuse reading a KITTI-named 16-bit depth file with the default millimetre scale (it would come out
    x 0.256: a road 1.2 m above the camera). Callers skip this when the scale was given explicitly.

    Raises:
        InputError: ``path`` has a KITTI depth mark (velodyne_raw, groundtruth, proj_depth).
    """
    mark = kitti_depth_path_mark(path)
    if mark is not None:
        raise InputError(f"{path}: a KITTI depth file ('{mark}' in its path: 16-bit metres x 256) would be read as "
                         f"millimetres; pass --sparse-scale {KITTI_M_PER_UNIT} (KITTI, 1/256 m) or --sparse-scale "
                         f"0.001 if it really holds millimetres")


class PayloadTooLargeError(InputError):
    """A file or payload (bytes, pixel count, array size) exceeds a limit (HTTP 413)."""


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header declares: ``shape``, ``dtype``, ``fortran_order``; data start at ``offset``."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def data_bytes(self) -> int:
        """Bytes of array data the header promises."""
        count = 1
        for n in self.shape:
            count *= n
        return count * self.dtype.itemsize


def read_npy_header(stream: BinaryIO, source: str) -> NpyHeader:
    """Parse the header of a .npy file without reading its data (no pickle, no allocation).

    Raises:
        InputError: empty file, missing magic, malformed header, or a non-numeric (object) dtype.
    """
    start = stream.read(len(NPY_MAGIC))
    if not start:
        raise InputError(f"{source}: empty .npy file (0 bytes)")
    if start != NPY_MAGIC:
        raise InputError(f"{source}: not a .npy file (missing the \\x93NUMPY magic)")
    stream.seek(0)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, SyntaxError) as exc:
        raise InputError(f"{source}: malformed .npy header ({exc})") from None
    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(f"{source}: .npy dtype {dtype} is not a plain numeric type")
    return NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran), stream.tell())


def check_pixels(source: str, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse empty images and images over ``max_pixels`` (width x height) before decoding them.

    Raises:
        InputError: 0 pixels; PayloadTooLargeError: over the limit.
    """
    if width <= 0 or height <= 0:
        raise InputError(f"{source}: image is empty ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise PayloadTooLargeError(f"{source}: image too large: {width}x{height} = {width * height} pixels "
                                   f"exceeds the limit of {max_pixels} pixels")


def read_npy(stream: BinaryIO, size_bytes: int, source: str, max_elements: int | None = None) -> np.ndarray:
    """Read a .npy array from ``stream`` (``size_bytes`` long) after checking its header.

    The declared array must fit in the bytes actually present (a 150-byte file cannot claim
    100000 x 100000 floats) and hold at most ``max_elements`` elements; only then is memory
    allocated. Big-endian data are returned as they are (see :func:`depth_m_from_array`).

    Raises:
        InputError: empty, malformed or truncated file; PayloadTooLargeError: too many elements.
    """
    header = read_npy_header(stream, source)
    count = header.data_bytes // max(header.dtype.itemsize, 1)
    if max_elements is not None and count > max_elements:
        raise PayloadTooLargeError(f"{source}: .npy array of shape {header.shape} has {count} elements, over "
                                   f"the limit of {max_elements}")
    available = size_bytes - header.offset
    if header.data_bytes > available:
        raise InputError(f"{source}: .npy header declares shape {header.shape} {header.dtype} "
                         f"({header.data_bytes} bytes) but the file holds only {max(available, 0)} bytes of data")
    flat = np.empty(count, dtype=header.dtype)
    if stream.readinto(flat.view(np.uint8)) != header.data_bytes:  # type: ignore[attr-defined]
        raise InputError(f"{source}: .npy data is truncated")
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def _npy_depth(stream: BinaryIO, size_bytes: int, source: str, max_pixels: int | None) -> np.ndarray:
    header = read_npy_header(stream, source)
    shape = header.shape[:2] if len(header.shape) == 3 and header.shape[2] == 1 else header.shape
    if len(shape) != 2:
        raise InputError(f"{source}: depth must be a single-channel (H, W) array, got shape {header.shape}")
    check_pixels(source, shape[1], shape[0], max_pixels)
    stream.seek(0)
    return read_npy(stream, size_bytes, source)


def depth_m_from_array(array: np.ndarray, source: str = "depth",
                       m_per_unit: float = MILLIMETRE_M_PER_UNIT) -> np.ndarray:
    """Interpret a decoded depth array by dtype: uint16 = units of ``m_per_unit`` metres (default mm, see
    :func:`depth_m_from_units`), float = m; anything else is rejected.

    Returns:
        (H, W) float32 depth [m], 0 where there is no measurement (uint16 0 / 0xFFFF; NaN/inf/negative).
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise InputError(f"{source}: depth must be a single-channel image, got shape {array.shape}")
    if not array.dtype.isnative:  # big-endian .npy / TIFF: same numbers, native byte order
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype == np.uint16:
        depth = depth_m_from_units(array, m_per_unit)
        depth[np.isnan(depth)] = 0.0
        return depth
    if array.dtype in (np.float32, np.float64):
        depth = array.astype(np.float32)
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
        return depth
    if array.dtype == np.uint8:
        raise InputError(f"{source}: an 8-bit image cannot carry metric depth (at most 255 levels, no unit); "
                         "use a 16-bit PNG in millimetres or a float32 TIFF/NPY in metres")
    raise InputError(f"{source}: unsupported depth dtype {array.dtype}; use uint16 millimetres or float32 metres")


def depth_m_from_pixels(pixels: np.ndarray, m_per_unit: float = MILLIMETRE_M_PER_UNIT) -> np.ndarray:
    """Pixels of a depth topic -> (H, W) float32 depth [m], NaN where there is no measurement (the node's
    reading of a sparse/depth image message; unlike :func:`depth_m_from_array`, none = NaN, not 0).

    uint16 are units of ``m_per_unit`` metres (default millimetres) through :func:`depth_m_from_units`, 0 (REP
    118) or 0xFFFF (:data:`DEPTH_MM_SENTINEL`) = none; float is metres with 0, NaN, inf or < 0 = none.
    """
    if pixels.dtype == np.uint16:
        return depth_m_from_units(pixels, m_per_unit)
    depth = np.array(pixels, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def decode_image_bytes(raw: bytes, flags: int, source: str, max_pixels: int | None) -> np.ndarray:
    """Decode an encoded image with OpenCV after checking its header size against ``max_pixels``.

    Raises:
        InputError: empty or undecodable data; PayloadTooLargeError: too many pixels.
    """
    if not raw:
        raise InputError(f"{source}: empty file (0 bytes)")
    size = image_size(io.BytesIO(raw))
    if size is not None:
        check_pixels(source, size[0], size[1], max_pixels)
    try:
        array = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise PayloadTooLargeError(f"{source}: image too large for OpenCV's decoder") from None
        raise InputError(f"{source}: cannot decode image") from None
    if array is None:
        raise InputError(f"{source}: cannot decode image")
    if max_pixels is not None and array.shape[0] * array.shape[1] > max_pixels:
        check_pixels(source, array.shape[1], array.shape[0], max_pixels)
    return array


def _read_file(path: Path, what: str, max_pixels: int | None) -> bytes:
    """The bytes of an image file, refusing files larger than any sensible encoding of ``max_pixels``."""
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        size = path.stat().st_size
        # Largest plausible encoding: 4 channels of 32 bits, uncompressed, plus 1 MiB of metadata.
        if max_pixels is not None and size > max_pixels * 16 + 2**20:
            raise PayloadTooLargeError(f"{path}: file of {size} bytes is too large for an image of at most "
                                       f"{max_pixels} pixels")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load_depth_file(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                    m_per_unit: float | None = None) -> np.ndarray:
    """Load a depth file: 16-bit PNG/TIFF [``m_per_unit`` m], float32 TIFF [m] or .npy [m] (either byte order).

    ``m_per_unit``: metres per stored unit of 16-bit files; None = millimetres, and then a path that
    names KITTI depth (velodyne_raw, groundtruth, proj_depth: m x 256) is refused instead of being read
    x 0.256 (:func:`refuse_kitti_path_as_mm`); pass the scale explicitly to read such a file.
    Sizes are checked from the header before any pixel is read: at most ``max_pixels`` pixels,
    and a .npy must hold the bytes its header declares.

    Returns:
        (H, W) float32 depth [m], 0 = no measurement.

    Raises:
        InputError: missing, empty, malformed or unsupported file, or a KITTI path read as millimetres;
            PayloadTooLargeError: too many pixels.
    """
    path = Path(path)
    scale = MILLIMETRE_M_PER_UNIT if m_per_unit is None else check_m_per_unit(m_per_unit)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise InputError(f"depth file not found: {path}")
        try:
            with path.open("rb") as stream:
                array = _npy_depth(stream, path.stat().st_size, str(path), max_pixels)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    else:
        array = decode_image_bytes(_read_file(path, "depth file", max_pixels), cv2.IMREAD_UNCHANGED, str(path),
                                   max_pixels)
    if m_per_unit is None and array.dtype == np.uint16:
        refuse_kitti_path_as_mm(path)
    return depth_m_from_array(array, str(path), scale)


def save_depth_png_mm(path: str | Path, depth_m: np.ndarray) -> Path:
    """Save (H, W) depth [m] as a 16-bit PNG in millimetres; invalid and > 65.534 m become 0 (65535 would read
    back as the no-return sentinel)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(depth) & (depth > 0) & (depth <= MAX_DEPTH_PNG_M)
    mm = np.zeros(depth.shape, dtype=np.uint16)
    mm[ok] = np.round(depth[ok] * 1000.0).astype(np.uint16)
    path = Path(path)
    if not cv2.imwrite(str(path), mm):
        raise InputError(f"cannot write {path}")
    return path


def load_rgb_file(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load a colour (or grey) image file as (H, W, 3) uint8 RGB.

    Raises:
        InputError: missing, empty or undecodable file; PayloadTooLargeError: more than ``max_pixels``.
    """
    path = Path(path)
    bgr = decode_image_bytes(_read_file(path, "image file", max_pixels), cv2.IMREAD_COLOR, str(path), max_pixels)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
