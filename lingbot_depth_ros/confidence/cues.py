"""Per-pixel cues of how far a depth value can be trusted, computed from what the node has at run time.

Every function takes and returns (H, W) arrays; no ground truth is used here. The cues:

* **LiDAR support** (every mode with sparse depth): the distance from a pixel to the nearest sample it was
  completed from, in pixels (``support_px``) and as a lateral distance at the pixel's depth [m]
  (``support_m`` = ``support_px * depth / fx``); how far the pixel's depth is from that nearest sample's
  depth, relative (``sample_gap_rel``: 0 on a flat surface, large across an edge); the depth range of the
  samples around the pixel, relative (``sample_range_rel``: a discontinuity between the scan lines); the
  samples per window around the pixel (``density``); the samples the estimator's occlusion filter dropped
  around the pixel (``occluded_near``, classical).
* **Output discontinuity** (every mode): the relative depth range of the output in a small window
  (``depth_range_rel``): a pixel on a depth edge is wrong by a whole step when the edge is off by a pixel.
* **Model cues**: LingBot-Depth's mask-head probability (``mask_prob``), Marigold's ensemble spread
  relative to the depth (``spread_rel``), and for outputs fitted to the LiDAR (``align_to_sparse``) the
  share of the fit's samples around the pixel whose residual is within the tolerance of the definition
  (``residual_within``) and their mean relative residual (``residual_rel``).
"""

from __future__ import annotations

import cv2
import numpy as np

from lingbot_depth_ros.confidence.definition import TOLERANCE_M, TOLERANCE_REL
from lingbot_depth_ros.estimators.base import sparse_valid_mask
from lingbot_depth_ros.estimators.nearest import nearest_fill

#: half-size [px] of the window of ``sample_range_rel``, ``density`` and ``occluded_near``
SAMPLE_WINDOW_PX = 6
#: half-size [px] of the window of ``depth_range_rel``
DEPTH_WINDOW_PX = 2
#: residuals of the fit: Gaussian weight of a sample at distance r [px] is exp(-r^2 / (2 sigma^2))
RESIDUAL_SIGMA_PX = 12.0
_FAR = np.float32(1.0e30)  # "no value" in max / min windows (finite: differences stay finite)


def _window(radius: int) -> np.ndarray:
    return np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)


def support_distance(samples: np.ndarray, sample_depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to the nearest sample [px], that sample's depth [m]), both (H, W) float32.

    Args:
        samples: (H, W) bool, at least one True.
        sample_depth_m: (H, W) float depth [m], read where ``samples``.
    """
    nearest_m, distance_px = nearest_fill(sample_depth_m, samples)
    return distance_px, nearest_m


def window_range(values: np.ndarray, present: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) float32: max - min of ``values`` over the ``present`` pixels of the (2r+1)^2 window around each
    pixel; 0 where the window holds fewer than two present pixels' worth of spread (none or one value)."""
    kernel = _window(radius)
    high = np.asarray(cv2.dilate(np.where(present, values, -_FAR).astype(np.float32), kernel,
                                 borderType=cv2.BORDER_CONSTANT, borderValue=-float(_FAR)), np.float32)
    low = np.asarray(cv2.erode(np.where(present, values, _FAR).astype(np.float32), kernel,
                               borderType=cv2.BORDER_CONSTANT, borderValue=float(_FAR)), np.float32)
    spread = high - low
    return np.where(spread >= 0, spread, np.float32(0.0)).astype(np.float32)


def window_count(mask: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) float32: how many ``mask`` pixels lie in the (2r+1)^2 window around each pixel."""
    size = 2 * radius + 1
    return cv2.boxFilter(mask.astype(np.float32), -1, (size, size), normalize=False,
                         borderType=cv2.BORDER_CONSTANT)


def _relative(values: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values / depth_m).astype(np.float32)


def lidar_support_cues(depth_m: np.ndarray, sparse_m: np.ndarray, fx_px: float, samples: np.ndarray | None = None,
                       dropped: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The LiDAR-support cues (module docstring) of a depth map completed from (or fitted to) ``sparse_m``.

    Args:
        depth_m: (H, W) float32 published depth [m], NaN where invalid.
        sparse_m: (H, W) float sparse depth [m] of the frame; 0 / NaN = no sample.
        fx_px: horizontal focal length [px].
        samples: (H, W) bool, the samples the estimator used (default: every valid pixel of ``sparse_m``).
        dropped: (H, W) bool, samples the estimator discarded as occluded (classical's occlusion filter), or None.

    Returns:
        ``support_px``, ``support_m``, ``sample_gap_rel``, ``sample_range_rel``, ``density`` and, with
        ``dropped``, ``occluded_near``: (H, W) float32 each (values where ``depth_m`` is NaN are unspecified).
        Without any sample, the support distances are +inf (no support) and the rest 0.
    """
    used = sparse_valid_mask(sparse_m) if samples is None else samples
    shape = depth_m.shape
    if not used.any():
        inf = np.full(shape, np.inf, np.float32)
        zero = np.zeros(shape, np.float32)
        cues = {"support_px": inf, "support_m": inf.copy(), "sample_gap_rel": zero, "sample_range_rel": zero.copy(),
                "density": zero.copy()}
        if dropped is not None:
            cues["occluded_near"] = zero.copy()
        return cues
    sample_depth = np.where(used, sparse_m, np.float32(0.0)).astype(np.float32)
    distance_px, nearest_m = support_distance(used, sample_depth)
    cues = {
        "support_px": distance_px,
        "support_m": (distance_px * depth_m * np.float32(1.0 / fx_px)).astype(np.float32),
        "sample_gap_rel": _relative(np.abs(depth_m - nearest_m), depth_m),
        "sample_range_rel": _relative(window_range(sample_depth, used, SAMPLE_WINDOW_PX), depth_m),
        "density": window_count(used, SAMPLE_WINDOW_PX),
    }
    if dropped is not None:
        cues["occluded_near"] = window_count(dropped, SAMPLE_WINDOW_PX)
    return cues


def depth_range_cue(depth_m: np.ndarray, radius: int = DEPTH_WINDOW_PX) -> np.ndarray:
    """``depth_range_rel``: (H, W) float32 (max - min) / depth of the valid output depth in the (2r+1)^2
    window around each pixel (0 on a flat patch; NaN where ``depth_m`` is NaN)."""
    valid = np.isfinite(depth_m)
    return _relative(window_range(np.where(valid, depth_m, np.float32(0.0)), valid, radius), depth_m)


def residual_cues(depth_m: np.ndarray, sparse_m: np.ndarray, sigma_px: float = RESIDUAL_SIGMA_PX
                  ) -> dict[str, np.ndarray]:
    """Fit residuals near each pixel, for a depth map fitted to ``sparse_m`` (``align_to_sparse``).

    At every sample where ``depth_m`` is valid: the relative residual |depth - sample| / sample and whether it
    is within the definition's tolerance; spread over the image with a Gaussian of ``sigma_px`` [px].

    Returns:
        ``residual_rel`` (weighted mean relative residual) and ``residual_within`` (weighted share of samples
        within tolerance, 0..1): (H, W) float32; where no sample is near (weights vanish) they take the frame's
        overall values.
    """
    used = sparse_valid_mask(sparse_m) & np.isfinite(depth_m)
    shape = depth_m.shape
    if not used.any():
        return {"residual_rel": np.full(shape, np.float32(1.0)), "residual_within": np.zeros(shape, np.float32)}
    truth = np.where(used, sparse_m, np.float32(1.0)).astype(np.float32)
    error = np.where(used, np.abs(np.where(used, depth_m, 0.0) - truth), np.float32(0.0)).astype(np.float32)
    rel = np.where(used, error / truth, np.float32(0.0)).astype(np.float32)
    tolerance = np.maximum(np.float32(TOLERANCE_M), np.float32(TOLERANCE_REL) * truth)
    within = (used & (error <= tolerance)).astype(np.float32)
    weight = used.astype(np.float32)
    ksize = int(2 * round(3 * sigma_px) + 1)
    blur = lambda image: cv2.GaussianBlur(image, (ksize, ksize), sigma_px, borderType=cv2.BORDER_CONSTANT)  # noqa: E731
    total = blur(weight)
    floor = np.float32(1e-3)
    global_rel = np.float32(rel[used].mean())
    global_within = np.float32(within[used].mean())
    # shrink towards the frame's overall values where few samples are near
    shrink = total / (total + floor)
    mean_rel = blur(rel * weight) / np.maximum(total, np.float32(1e-12))
    mean_within = blur(within) / np.maximum(total, np.float32(1e-12))
    return {"residual_rel": (shrink * mean_rel + (1 - shrink) * global_rel).astype(np.float32),
            "residual_within": np.clip(shrink * mean_within + (1 - shrink) * global_within, 0, 1).astype(np.float32)}
