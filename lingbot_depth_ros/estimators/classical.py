"""Weight-free depth completion: distance-adaptive multi-scale interpolation of sparse depth.

The method (written for this package; in the family of IP-Basic-style classical completion):

1. **Sample selection.** Sparse pixels that are finite and inside ``[min_depth_m, max_depth_m]``
   are the samples; everything else counts as "no measurement". Optionally
   (``occlusion_filter_px`` > 0) samples that have a clearly nearer sample within that radius
   are dropped: with a real LiDAR mounted away from the camera, background points "bleed through"
   foreground objects near their edges (parallax), and the nearer point is the visible one.
2. **Nearest fill.** Every pixel takes the depth of its nearest sample (a distance transform with
   labels), which also gives the distance ``d`` [px] from each pixel to that sample.
3. **Distance-adaptive smoothing.** The nearest-fill map is piecewise constant (Voronoi cells).
   It is smoothed with a Gaussian pyramid whose strength grows with ``d``: on a sample the value
   is kept exactly; half-way between samples the neighbouring cells blend, which approximates a
   linear interpolation. Per pixel the blur scale is ``smoothing * d``; the blend between pyramid
   levels is done coarse to fine, so the cost does not grow with the blur size.
4. **Optional RGB-guided refinement** (``rgb_refine``): a guided filter with the grey image as
   guide pulls the interpolated depth towards image edges, only away from the samples (the
   samples and their immediate neighbourhood stay untouched).
5. **Support mask.** A pixel is valid only if it lies within the vertical extent of the samples
   of its neighbouring columns, plus ``support_margin_px``. Far above the highest LiDAR row (sky,
   ceilings) or beside the area the sensor saw, the output is marked invalid instead of being
   invented; ``extrapolate=True`` makes the whole image valid (values there are copies of the
   nearest sample, i.e. the top row extended upwards).

Everything is vectorised OpenCV / numpy; no per-pixel Python loops.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.estimators.base import COMPLETION, DepthEstimate, DepthEstimator, sparse_valid_mask
from lingbot_depth_ros.estimators.nearest import nearest_fill
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

_MIN_LEVEL_SIZE_PX = 8  # stop building the pyramid when a level would be smaller than this


def sample_spacing_px(sample_mask: np.ndarray) -> float:
    """Typical distance between samples [px]: sqrt(bounding-box area of the samples / count).

    Args:
        sample_mask: (H, W) bool with at least one True.
    """
    rows = np.flatnonzero(sample_mask.any(axis=1))
    cols = np.flatnonzero(sample_mask.any(axis=0))
    area = float(rows[-1] - rows[0] + 1) * float(cols[-1] - cols[0] + 1)
    return math.sqrt(area / float(np.count_nonzero(sample_mask)))


def distance_adaptive_smooth(filled: np.ndarray, distance_px: np.ndarray, smoothing: float,
                             max_levels: int) -> np.ndarray:
    """Blur ``filled`` with a per-pixel scale ``smoothing * distance_px`` using a Gaussian pyramid.

    Level k of the pyramid carries a blur of about 2**k px. Each pixel uses the level
    ``log2(1 + smoothing * distance_px)``, blended linearly between the two nearest levels;
    where that is 0 (on the samples) the input is returned unchanged.

    Args:
        filled: (H, W) float32 values to smooth (here: nearest-fill depth [m]).
        distance_px: (H, W) float32 distance to the nearest sample [px].
        smoothing: blur scale per pixel of distance (0 returns ``filled``).
        max_levels: number of pyramid levels below full resolution.

    Returns:
        (H, W) float32 smoothed values.
    """
    if smoothing == 0 or max_levels == 0:
        return filled.copy()
    level_coord = cv2.log(1.0 + np.float32(smoothing) * distance_px) * np.float32(1.0 / math.log(2.0))
    values = [filled]
    coords = [level_coord]
    while len(values) <= max_levels and min(values[-1].shape) >= 2 * _MIN_LEVEL_SIZE_PX:
        values.append(cv2.pyrDown(values[-1]))
        coords.append(cv2.pyrDown(coords[-1]))
    estimate = values[-1]
    for k in range(len(values) - 2, -1, -1):
        height, width = values[k].shape
        coarse = cv2.pyrUp(estimate, dstsize=(width, height))
        # weight of this level's own value: 1 where the wanted level is <= k, 0 where >= k+1
        weight = np.clip(np.float32(k + 1) - coords[k], 0.0, 1.0)
        estimate = coarse + weight * (values[k] - coarse)
    return estimate


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter (local linear model ``source ~ a * guide + b`` per window).

    Args:
        guide: (H, W) float32 guide image, values around [0, 1].
        source: (H, W) float32 image to filter.
        radius: window radius [px], >= 1.
        eps: regularisation (in guide units squared); larger = smoother, fewer guide edges.

    Returns:
        (H, W) float32 filtered ``source``.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(source, radius)
    cov_ip = _box(guide * source, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


def drop_occluded_samples(sparse_m: np.ndarray, sample_mask: np.ndarray, radius_px: int,
                          relative_gap: float) -> np.ndarray:
    """Return ``sample_mask`` without the samples that are probably hidden behind a nearer one.

    A sample is dropped when another sample within the (2r+1)^2 window is nearer by more than
    ``relative_gap`` (relative to the nearer depth).

    Args:
        sparse_m: (H, W) float32 depth [m], read where ``sample_mask``.
        sample_mask: (H, W) bool samples.
        radius_px: window radius r [px], >= 1.
        relative_gap: e.g. 0.1 = 10 % farther than the nearest neighbour in the window.
    """
    far = np.float32(np.finfo(np.float32).max)
    depth = np.where(sample_mask, sparse_m, far).astype(np.float32)
    nearest_in_window = cv2.erode(depth, np.ones((2 * radius_px + 1, 2 * radius_px + 1), np.uint8),
                                  borderType=cv2.BORDER_REPLICATE)
    return sample_mask & (depth <= nearest_in_window * np.float32(1.0 + relative_gap))


def support_mask(sample_mask: np.ndarray, margin_px: int) -> np.ndarray:
    """(H, W) bool: pixels inside the vertical extent of the samples of nearby columns.

    For each column, the highest and lowest sample rows among the columns within ``margin_px``
    are taken; pixels between them, widened by ``margin_px`` up and down, are supported.
    Columns with no sample within ``margin_px`` are unsupported.
    """
    height, width = sample_mask.shape
    has_sample = sample_mask.any(axis=0)
    top = np.where(has_sample, sample_mask.argmax(axis=0), height).astype(np.float32)
    bottom = np.where(has_sample, height - 1 - sample_mask[::-1].argmax(axis=0), -1).astype(np.float32)
    kernel = np.ones((1, 2 * margin_px + 1), np.uint8)
    top = cv2.erode(top[None, :], kernel)[0]        # min over neighbouring columns
    bottom = cv2.dilate(bottom[None, :], kernel)[0]  # max over neighbouring columns
    rows = np.arange(height, dtype=np.float32)[:, None]
    supported = (rows >= top[None, :] - margin_px) & (rows <= bottom[None, :] + margin_px)
    supported &= (top < height)[None, :]
    return supported


class ClassicalCompletionEstimator(DepthEstimator):
    """Weight-free completion of sparse metric depth (LiDAR, depth camera) into dense depth.

    Options (become the node parameters ``classical.<name>``):
        smoothing: blur scale per pixel of distance to the nearest sample, in [0, 4]; 0 = pure
            nearest-sample fill, 0.5 (default) ~ linear interpolation between samples.
        max_levels: Gaussian pyramid depth, in [0, 12] (default 6: blurs up to ~64 px).
        min_depth_m, max_depth_m: samples outside this range [m] are ignored, and the output is
            clamped to it (defaults 0.05 and 100.0; 0 < min < max).
        extrapolate: if True, the whole image is valid (regions without support get the nearest
            sample's depth); if False (default), pixels outside the samples' extent are invalid.
        support_margin_px: how far [px] beyond the samples' extent output stays valid; None
            (default) = the typical sample spacing (sqrt(sample bounding box area / count)).
        rgb_refine: apply the RGB-guided refinement (guided filter) away from the samples
            (default False; ~+10 ms per 1242x375 frame, small gain on very sparse input).
        rgb_refine_eps: guided-filter regularisation in (0, 1] (default 1e-3; grey in [0, 1]).
        occlusion_filter_px: radius [px] of the occluded-sample filter, in [0, 15]; 0 (default)
            = off. Use 2-4 with a real LiDAR whose points bleed through foreground edges; leave 0
            for clean sparse depth (depth cameras, simulated input).
        occlusion_filter_rel: relative depth gap in (0, 10] above which the farther sample is
            dropped (default 0.1).
    """

    name = "classical"
    supported_modes = frozenset({COMPLETION})

    def __init__(self, *, smoothing: float = 0.5, max_levels: int = 6, min_depth_m: float = 0.05,
                 max_depth_m: float = 100.0, extrapolate: bool = False,
                 support_margin_px: float | None = None, rgb_refine: bool = False,
                 rgb_refine_eps: float = 1e-3, occlusion_filter_px: int = 0,
                 occlusion_filter_rel: float = 0.1) -> None:
        if not 0.0 <= smoothing <= 4.0:
            raise ConfigError(f"classical.smoothing must be in [0, 4], got {smoothing}")
        if int(max_levels) != max_levels or not 0 <= max_levels <= 12:
            raise ConfigError(f"classical.max_levels must be an integer in [0, 12], got {max_levels}")
        if not (math.isfinite(min_depth_m) and math.isfinite(max_depth_m) and 0 < min_depth_m < max_depth_m):
            raise ConfigError(f"classical depth range must satisfy 0 < min_depth_m < max_depth_m, got "
                              f"min_depth_m={min_depth_m}, max_depth_m={max_depth_m}")
        if support_margin_px is not None and not (math.isfinite(support_margin_px) and support_margin_px >= 0):
            raise ConfigError(f"classical.support_margin_px must be >= 0 or None (auto), got {support_margin_px}")
        if not 0.0 < rgb_refine_eps <= 1.0:
            raise ConfigError(f"classical.rgb_refine_eps must be in (0, 1], got {rgb_refine_eps}")
        if int(occlusion_filter_px) != occlusion_filter_px or not 0 <= occlusion_filter_px <= 15:
            raise ConfigError(f"classical.occlusion_filter_px must be an integer in [0, 15], got {occlusion_filter_px}")
        if not 0.0 < occlusion_filter_rel <= 10.0:
            raise ConfigError(f"classical.occlusion_filter_rel must be in (0, 10], got {occlusion_filter_rel}")
        self.occlusion_filter_px = int(occlusion_filter_px)
        self.occlusion_filter_rel = float(occlusion_filter_rel)
        self.smoothing = float(smoothing)
        self.max_levels = int(max_levels)
        self.min_depth_m = float(min_depth_m)
        self.max_depth_m = float(max_depth_m)
        self.extrapolate = bool(extrapolate)
        self.support_margin_px = None if support_margin_px is None else float(support_margin_px)
        self.rgb_refine = bool(rgb_refine)
        self.rgb_refine_eps = float(rgb_refine_eps)

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        assert sparse_depth_m is not None  # guaranteed by DepthEstimator.estimate (completion only)
        measured = sparse_valid_mask(sparse_depth_m)
        if not measured.any():
            raise InputError("sparse depth has no valid measurements")
        sparse = sparse_depth_m.astype(np.float32, copy=False)
        samples = measured & (sparse >= self.min_depth_m) & (sparse <= self.max_depth_m)
        if not samples.any():
            raise InputError(f"sparse depth has no valid measurements within [{self.min_depth_m:g}, "
                             f"{self.max_depth_m:g}] m ({int(measured.sum())} outside that range)")
        if self.occlusion_filter_px > 0:
            samples = drop_occluded_samples(sparse, samples, self.occlusion_filter_px, self.occlusion_filter_rel)

        filled, distance_px = nearest_fill(sparse, samples)
        spacing_px = sample_spacing_px(samples)
        depth = distance_adaptive_smooth(filled, distance_px, self.smoothing, self.max_levels)
        if self.rgb_refine:
            depth = self._refine_with_rgb(rgb, depth, distance_px, spacing_px)
        np.clip(depth, self.min_depth_m, self.max_depth_m, out=depth)

        if self.extrapolate:
            valid = np.ones(depth.shape, bool)
        else:
            margin = spacing_px if self.support_margin_px is None else self.support_margin_px
            valid = support_mask(samples, int(math.ceil(margin)))
            depth[~valid] = np.nan
        return DepthEstimate(depth_m=depth.astype(np.float32, copy=False), valid=valid)

    def _refine_with_rgb(self, rgb: np.ndarray, depth: np.ndarray, distance_px: np.ndarray,
                         spacing_px: float) -> np.ndarray:
        guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1.0 / 255.0)
        radius = max(1, int(round(0.35 * spacing_px)))
        refined = guided_filter(guide, depth, radius, self.rgb_refine_eps)
        # trust the guided value only away from the samples (0 on a sample, 1 from half a spacing on)
        weight = np.clip(distance_px * np.float32(2.0 / max(spacing_px, 1e-6)), 0.0, 1.0)
        return depth + weight * (refined - depth)

    def describe(self) -> str:
        return (f"classical (smoothing={self.smoothing:g}, range=[{self.min_depth_m:g}, {self.max_depth_m:g}] m, "
                f"extrapolate={self.extrapolate}, rgb_refine={self.rgb_refine}, "
                f"occlusion_filter_px={self.occlusion_filter_px})")
