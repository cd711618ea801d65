"""Depth and RGB image files.

Depth conventions (REP 118 on disk): 16-bit PNG = millimetres (0 = no measurement); float32
TIFF / NPY = metres (0 or NaN = no measurement). 8-bit images cannot carry metric depth and are
rejected rather than guessed at.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError

MAX_DEPTH_PNG_M = 65.535


def depth_m_from_array(array: np.ndarray, source: str = "depth") -> np.ndarray:
    """Interpret a decoded depth array by dtype: uint16 = mm, float = m; anything else is rejected.

    Returns:
        (H, W) float32 depth [m], 0 where there is no measurement (NaN/inf/negative become 0).
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise InputError(f"{source}: depth must be a single-channel image, got shape {array.shape}")
    if array.dtype == np.uint16:
        return array.astype(np.float32) * np.float32(0.001)
    if array.dtype in (np.float32, np.float64):
        depth = array.astype(np.float32)
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
        return depth
    if array.dtype == np.uint8:
        raise InputError(f"{source}: an 8-bit image cannot carry metric depth (at most 255 levels, no unit); "
                         "use a 16-bit PNG in millimetres or a float32 TIFF/NPY in metres")
    raise InputError(f"{source}: unsupported depth dtype {array.dtype}; use uint16 millimetres or float32 metres")


def load_depth_file(path: str | Path) -> np.ndarray:
    """Load a depth file: 16-bit PNG [mm], float32 TIFF [m] or .npy [m].

    Returns:
        (H, W) float32 depth [m], 0 = no measurement.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"depth file not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{path}: not a plain numeric .npy file") from exc
    else:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise InputError(f"{path}: cannot decode image")
    return depth_m_from_array(array, str(path))


def save_depth_png_mm(path: str | Path, depth_m: np.ndarray) -> Path:
    """Save (H, W) depth [m] as a 16-bit PNG in millimetres; invalid and > 65.535 m become 0."""
    depth = np.asarray(depth_m, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(depth) & (depth > 0) & (depth <= MAX_DEPTH_PNG_M)
    mm = np.zeros(depth.shape, dtype=np.uint16)
    mm[ok] = np.round(depth[ok] * 1000.0).astype(np.uint16)
    path = Path(path)
    if not cv2.imwrite(str(path), mm):
        raise InputError(f"cannot write {path}")
    return path


def load_rgb_file(path: str | Path) -> np.ndarray:
    """Load a colour (or grey) image file as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: cannot decode image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
