"""Back-projection of depth images to 3D points (camera optical frame, REP 103: z fwd, x right, y down)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

_NORM_CACHE: dict[tuple[float, float, float, float, int, int, int], np.ndarray] = {}
_RAY_CACHE: dict[tuple[float, float, float, float, int, int, int], tuple[np.ndarray, np.ndarray]] = {}


def _rays(intrinsics: CameraIntrinsics, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column x/z and per-row y/z ratios of the pixel grid sampled every ``stride`` pixels (cached)."""
    key = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.width, intrinsics.height, stride)
    rays = _RAY_CACHE.get(key)
    if rays is None:
        u = np.arange(0, intrinsics.width, stride, dtype=np.float32)
        v = np.arange(0, intrinsics.height, stride, dtype=np.float32)
        rays = ((u - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx),
                (v - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy))
        if len(_RAY_CACHE) > 32:
            _RAY_CACHE.clear()
        _RAY_CACHE[key] = rays
    return rays


def _ray_norm(intrinsics: CameraIntrinsics, stride: int) -> np.ndarray:
    """(h, w) float32 length of the ray (x/z, y/z, 1) of each sampled pixel (cached)."""
    key = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.width, intrinsics.height, -stride)
    norm = _NORM_CACHE.get(key)
    if norm is None:
        xr, yr = _rays(intrinsics, stride)
        norm = np.sqrt(1.0 + xr[None, :] ** 2 + yr[:, None] ** 2).astype(np.float32)
        if len(_NORM_CACHE) > 32:
            _NORM_CACHE.clear()
        _NORM_CACHE[key] = norm
    return norm


def backproject(depth_m: np.ndarray, intrinsics: CameraIntrinsics, stride: int = 1) -> np.ndarray:
    """Back-project a depth image to an organized point grid.

    Args:
        depth_m: (H, W) float depth along the optical axis [m]; NaN, inf or <= 0 mean invalid.
        intrinsics: intrinsics of ``depth_m`` (same width and height).
        stride: keep every ``stride``-th pixel in both directions (decimation).

    Returns:
        (ceil(H/stride), ceil(W/stride), 3) float32 xyz [m] in the optical frame; all three
        coordinates are NaN where the depth is invalid. Pixel (u, v) maps to
        x = (u - cx) z / fx, y = (v - cy) z / fy (pixel centres at integer coordinates).
    """
    if depth_m.ndim != 2:
        raise InputError(f"depth must be (H, W), got shape {depth_m.shape}")
    if depth_m.shape != (intrinsics.height, intrinsics.width):
        raise InputError(f"depth is {depth_m.shape[1]}x{depth_m.shape[0]} but intrinsics are for "
                         f"{intrinsics.width}x{intrinsics.height}")
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    z = np.asarray(depth_m[::stride, ::stride], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        invalid = ~(np.isfinite(z) & (z > 0))
    if invalid.any():
        z = z.copy()
        z[invalid] = np.nan
    xr, yr = _rays(intrinsics, stride)
    xyz = np.empty(z.shape + (3,), dtype=np.float32)
    np.multiply(z, xr[None, :], out=xyz[..., 0])
    np.multiply(z, yr[:, None], out=xyz[..., 1])
    xyz[..., 2] = z
    return xyz


@dataclass
class CloudPoints:
    """Points selected for a cloud.

    ``xyz``: (h, w, 3) float32 [m] when organized (NaN rows for dropped points) or (N, 3) when not.
    ``rgb``: matching (h, w, 3) / (N, 3) uint8 colours, or None.
    """

    xyz: np.ndarray
    rgb: np.ndarray | None


def depth_to_cloud_points(depth_m: np.ndarray, intrinsics: CameraIntrinsics, *, rgb: np.ndarray | None = None,
                          stride: int = 1, min_range_m: float = 0.0, max_range_m: float = float("inf"),
                          organized: bool = True) -> CloudPoints:
    """Back-project ``depth_m`` and keep points whose Euclidean range lies in [min_range_m, max_range_m].

    Args:
        depth_m: (H, W) float32 depth [m], NaN/<=0 invalid.
        intrinsics: intrinsics of ``depth_m``.
        rgb: optional (H, W, 3) uint8 colours of the same image.
        stride: pixel decimation in both directions.
        min_range_m, max_range_m: range limits [m] on the distance from the optical centre.
        organized: keep the (h, w) grid with NaN for rejected points, else return only valid points.
    """
    xyz = backproject(depth_m, intrinsics, stride)
    colours = None
    if rgb is not None:
        if rgb.shape[:2] != depth_m.shape:
            raise InputError(f"rgb is {rgb.shape[1]}x{rgb.shape[0]} but depth is {depth_m.shape[1]}x{depth_m.shape[0]}")
        colours = np.ascontiguousarray(rgb[::stride, ::stride, :3])
    if min_range_m > 0 or np.isfinite(max_range_m):
        # range = z * |(x/z, y/z, 1)|: one multiply per pixel with the cached per-pixel ray norm.
        norm = _ray_norm(intrinsics, stride)
        with np.errstate(invalid="ignore"):
            range_m = xyz[..., 2] * norm
            reject = (range_m < min_range_m) | (range_m > max_range_m)
        xyz[reject] = np.nan
    if organized:
        return CloudPoints(xyz=xyz, rgb=colours)
    keep = ~np.isnan(xyz[..., 2])
    return CloudPoints(xyz=xyz[keep], rgb=None if colours is None else colours[keep])
