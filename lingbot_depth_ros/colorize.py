"""Depth to a false-colour RGB image for people (RViz, reports, the web UI)."""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.errors import ConfigError

COLORMAPS: dict[str, int] = {
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "bone": cv2.COLORMAP_BONE,
}


_LUT_CACHE: dict[tuple[str, bool], np.ndarray] = {}


def _rgb_lut(colormap: str, near_is_warm: bool) -> np.ndarray:
    """(256, 1, 3) uint8 lookup table for cv2.applyColorMap giving RGB directly: index 0 = black
    (invalid), 1..255 = the colormap from near to far."""
    key = (colormap, near_is_warm)
    lut = _LUT_CACHE.get(key)
    if lut is None:
        ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
        bgr = cv2.applyColorMap(ramp, COLORMAPS[colormap]).reshape(256, 3)
        colours = bgr[:, ::-1]  # RGB
        if near_is_warm:
            colours = colours[::-1]
        lut = np.zeros((256, 1, 3), dtype=np.uint8)
        lut[1:, 0] = colours[np.linspace(0, 255, 255).round().astype(int)]
        _LUT_CACHE[key] = lut
    return lut


def depth_display_range(depth_m: np.ndarray, percentiles: tuple[float, float] = (2.0, 98.0)) -> tuple[float, float]:
    """(near, far) [m] at the given percentiles of the valid depths; (0, 1) when nothing is valid.

    Percentiles come from a regular sub-sample of at most ~20k pixels (indistinguishable for display).
    """
    flat = np.asarray(depth_m, dtype=np.float32).reshape(-1)
    sample = flat[:: max(1, flat.size // 20_000)]
    with np.errstate(invalid="ignore"):
        valid = sample[np.isfinite(sample) & (sample > 0)]
    if valid.size == 0:
        return 0.0, 1.0
    near, far = np.percentile(valid, percentiles)
    return float(near), float(max(far, near + 1e-3))


def colorize_depth(depth_m: np.ndarray, *, range_m: tuple[float, float] | None = None,
                   percentiles: tuple[float, float] = (2.0, 98.0), colormap: str = "turbo",
                   near_is_warm: bool = True) -> np.ndarray:
    """Colour a depth map.

    Args:
        depth_m: (H, W) float depth [m]; NaN, inf and <= 0 are invalid and drawn black.
        range_m: fixed (near, far) [m] mapped to the ends of the colormap; None = ``percentiles``
            of the valid depths of this frame.
        percentiles: (low, high) percentiles used when ``range_m`` is None.
        colormap: one of :data:`COLORMAPS`.
        near_is_warm: near = red end of turbo/jet (the usual depth convention).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    if colormap not in COLORMAPS:
        raise ConfigError(f"unknown colormap '{colormap}'; choose one of: {', '.join(COLORMAPS)}")
    depth = np.asarray(depth_m, dtype=np.float32)
    near, far = range_m if range_m is not None else depth_display_range(depth, percentiles)
    if not far > near:
        raise ConfigError(f"colour range must have far > near, got near={near} far={far}")
    # index = 1 + 254 * (d - near) / (far - near), clipped to [1, 255]; invalid -> 0 (black)
    scale = np.float32(254.0 / (far - near))
    with np.errstate(invalid="ignore"):
        t = (depth - np.float32(near)) * scale
        np.clip(t, 0.0, 254.0, out=t)
        t += np.float32(1.5)  # +1 for the black slot, +0.5 to round when truncating
        t[~((depth > 0) & (depth < np.inf))] = 0.0  # NaN compares False, so NaN lands here too
    return cv2.applyColorMap(t.astype(np.uint8), _rgb_lut(colormap, near_is_warm))
