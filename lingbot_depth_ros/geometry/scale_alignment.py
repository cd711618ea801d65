"""Robust fit of a relative / monocular depth prediction to sparse metric depth (LiDAR).

Fits ``scale * pred + shift ~ sparse`` on the pixels that have both, tolerating a large share of
gross outliers: LiDAR points seen across occlusion edges (the LiDAR sees the background where the
camera sees a foreground object), reflections, mis-synchronised points, wrong predictions on thin
structures. Residuals are relative (``(scale * pred + shift - z) / z``), so near and far points
weigh alike.

Two estimators:

* ``"ransac"`` (default): random minimal samples (2 points, 1 without shift), hypotheses scored
  by the number of points within ``inlier_threshold`` relative error, then the best hypothesis is
  refined by weighted least squares on its inliers (twice).
* ``"irls"``: iteratively re-weighted least squares with Tukey's biweight, started from a
  Theil-Sen estimate (median of pairwise slopes), with the residual scale from the MAD.

Two spaces (``space``):

* ``"depth"`` (default): ``scale * pred + shift ~ z`` — for metric or affine-invariant depth
  (``relative_depth``) predictions.
* ``"inverse_depth"``: ``scale * pred + shift ~ 1 / z`` — for affine-invariant disparity
  predictions (``relative_disparity``, e.g. Depth Anything's relative heads). The fit runs on the
  inverse LiDAR depth with the same relative residuals (a relative error in inverse depth is, to
  first order, the same relative error in depth); the aligned depth is ``1 / (scale * pred + shift)``,
  invalid (NaN) where that inverse depth is <= 0.

Acceptance: a fit is refused (:class:`AlignmentRejected`) when its scale is <= 0
(the prediction runs against the sparse depth: published, it would be the scene upside down; RANSAC only
samples positive scales, but the least-squares refinement and Theil-Sen can still end negative), or when
fewer than ``min_inliers`` points or a share below ``min_inlier_ratio`` of the points agree with it within
``inlier_threshold`` (defaults :data:`DEFAULT_MIN_INLIERS`, :data:`DEFAULT_MIN_INLIER_RATIO`).

No ROS imports: the node calls this per frame in monocular-with-LiDAR operation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError

METHODS = ("ransac", "irls")
DEPTH = "depth"
INVERSE_DEPTH = "inverse_depth"
SPACES = (DEPTH, INVERSE_DEPTH)
#: smallest share of the used points within ``inlier_threshold`` of an accepted fit. A fit 4 in 5 points
#: disagree with is not evidence of a scale (tiny random Marigold on NYU, 500 points: 15 % inliers, scale 6.8).
DEFAULT_MIN_INLIER_RATIO = 0.2
#: fewest points within ``inlier_threshold`` of an accepted fit (2 parameters resting on fewer is chance)
DEFAULT_MIN_INLIERS = 20


@dataclass(frozen=True)
class AlignmentResult:
    """Result of :func:`robust_scale_shift`.

    ``space`` "depth": ``scale`` (dimensionless or m per prediction unit) and ``shift`` [m], aligned
    depth is ``scale * pred + shift``. ``space`` "inverse_depth": ``scale`` [1/m per prediction unit]
    and ``shift`` [1/m], aligned depth is ``1 / (scale * pred + shift)``. ``inlier_ratio``: fraction of
    the ``n_points`` used points whose relative error under the fit is below the inlier threshold.
    """

    scale: float
    shift: float
    inlier_ratio: float
    n_points: int
    space: str = DEPTH

    def apply(self, pred: np.ndarray) -> np.ndarray:
        """Aligned depth [m] (same shape as ``pred``, float32; NaN where an inverse-depth fit gives <= 0)."""
        fitted = (np.float32(self.scale) * pred + np.float32(self.shift)).astype(np.float32, copy=False)
        if self.space == DEPTH:
            return fitted
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(fitted > 0, np.float32(1.0) / fitted, np.float32(np.nan)).astype(np.float32, copy=False)


class AlignmentRejected(InputError):
    """A fit of the prediction to sparse depth was made but is not trusted: its scale is <= 0 (the prediction
    runs against the sparse depth) or too few sparse points agree with it (share or count below the minimum).

    ``reason``: ``"scale_not_positive"``, ``"few_inliers"`` or ``"low_inlier_share"``; ``fit``: the rejected
    :class:`AlignmentResult` (None where not known).
    """

    def __init__(self, message: str, reason: str, fit: AlignmentResult | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.fit = fit

    def __reduce__(self) -> tuple[type[AlignmentRejected], tuple[str, str, AlignmentResult | None]]:
        return type(self), (str(self), self.reason, self.fit)  # picklable (Ray, process pools) with its fields


def _weighted_fit(p: np.ndarray, z: np.ndarray, weights: np.ndarray, fit_shift: bool) -> tuple[float, float]:
    """Minimise sum(weights * ((s * p + t - z) / z)^2) over s (and t)."""
    w = np.sqrt(weights) / z
    if fit_shift:
        design = np.stack([p * w, w], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, z * w, rcond=None)
        return float(scale), float(shift)
    denominator = float(np.sum((p * w) ** 2))
    return (float(np.sum(p * w * z * w)) / denominator if denominator > 0 else float("nan")), 0.0


def _relative_residuals(p: np.ndarray, z: np.ndarray, scale: float, shift: float) -> np.ndarray:
    return (scale * p + shift - z) / z


def _ransac(p: np.ndarray, z: np.ndarray, fit_shift: bool, threshold: float, iterations: int,
            rng: np.random.Generator) -> tuple[float, float]:
    n = p.size
    if fit_shift:
        pairs = rng.integers(0, n, size=(iterations, 2))
        p1, p2 = p[pairs[:, 0]], p[pairs[:, 1]]
        z1, z2 = z[pairs[:, 0]], z[pairs[:, 1]]
        dp = p1 - p2
        good = np.abs(dp) > 1e-9 * np.maximum(np.abs(p1), 1e-12)
        scales = np.where(good, (z1 - z2) / np.where(good, dp, 1.0), np.nan)
        shifts = z1 - scales * p1
    else:
        picks = rng.integers(0, n, size=iterations)
        scales = z[picks] / p[picks]
        shifts = np.zeros_like(scales)
    finite = np.isfinite(scales)
    keep = finite & (scales > 0)
    scales, shifts = scales[keep], shifts[keep]
    if scales.size == 0:
        if finite.any():  # every hypothesis has a scale <= 0: the least-squares fit, refused by check_fit
            return _weighted_fit(p, z, np.ones(n), fit_shift)
        raise InputError("robust alignment failed: every sampled pair of points is degenerate "
                         "(the prediction is constant on the sparse points)")
    best_count, best = -1, (float("nan"), 0.0)
    chunk = max(1, 4_000_000 // max(n, 1))  # bound the (hypotheses x points) matrix to ~4M entries
    for start in range(0, scales.size, chunk):
        s = scales[start:start + chunk, None]
        t = shifts[start:start + chunk, None]
        counts = np.count_nonzero(np.abs(s * p[None, :] + t - z[None, :]) < threshold * z[None, :], axis=1)
        i = int(np.argmax(counts))
        if counts[i] > best_count:
            best_count, best = int(counts[i]), (float(scales[start + i]), float(shifts[start + i]))
    scale, shift = best
    for _ in range(2):  # refine on the inliers of the current estimate
        inliers = np.abs(_relative_residuals(p, z, scale, shift)) < threshold
        if np.count_nonzero(inliers) < (2 if fit_shift else 1):
            break
        scale, shift = _weighted_fit(p[inliers], z[inliers], np.ones(int(inliers.sum())), fit_shift)
    return scale, shift


def _theil_sen(p: np.ndarray, z: np.ndarray, fit_shift: bool, rng: np.random.Generator) -> tuple[float, float]:
    if not fit_shift:
        return float(np.median(z / p)), 0.0
    pairs = rng.integers(0, p.size, size=(min(20000, p.size * (p.size - 1) // 2 + 1), 2))
    dp = p[pairs[:, 0]] - p[pairs[:, 1]]
    good = dp != 0
    if not good.any():
        raise InputError("robust alignment failed: the prediction is constant on the sparse points")
    slope = float(np.median((z[pairs[good, 0]] - z[pairs[good, 1]]) / dp[good]))
    return slope, float(np.median(z - slope * p))


def _irls(p: np.ndarray, z: np.ndarray, fit_shift: bool, iterations: int,
          rng: np.random.Generator) -> tuple[float, float]:
    scale, shift = _theil_sen(p, z, fit_shift, rng)
    tukey_c = 4.685
    for _ in range(iterations):
        r = _relative_residuals(p, z, scale, shift)
        sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        sigma = max(sigma, 1e-6)
        u = r / (tukey_c * sigma)
        weights = np.where(np.abs(u) < 1, (1 - u ** 2) ** 2, 0.0)
        if np.count_nonzero(weights) < (2 if fit_shift else 1):
            break
        new_scale, new_shift = _weighted_fit(p, z, weights, fit_shift)
        converged = abs(new_scale - scale) <= 1e-7 * abs(scale) and abs(new_shift - shift) <= 1e-7 * (abs(shift) + 1e-3)
        scale, shift = new_scale, new_shift
        if converged:
            break
    return scale, shift


def robust_scale_shift(pred_m: np.ndarray, sparse_m: np.ndarray, *, fit_shift: bool = True,
                       method: str = "ransac", inlier_threshold: float = 0.05, min_points: int = 10,
                       max_iterations: int = 256, max_points: int = 20000, seed: int = 0,
                       space: str = DEPTH, min_inlier_ratio: float = DEFAULT_MIN_INLIER_RATIO,
                       min_inliers: int = DEFAULT_MIN_INLIERS) -> AlignmentResult:
    """Fit ``scale * pred_m + shift ~ sparse_m`` (``space`` "inverse_depth": ``~ 1 / sparse_m``) robustly.

    Args:
        pred_m: (H, W) prediction (relative units or roughly metric depth [m]); NaN / inf = none.
        sparse_m: (H, W) sparse metric depth [m]; 0 / NaN / inf = no measurement.
        fit_shift: fit a shift as well (False: scale only, shift 0).
        method: ``"ransac"`` or ``"irls"``.
        inlier_threshold: relative error below which a point is an inlier (default 0.05 = 5 %).
        min_points: fewer usable points than this raises InputError.
        max_iterations: RANSAC hypotheses / IRLS iterations.
        max_points: if more points are usable, a random subset of this size is used (speed).
        seed: random seed (the result is deterministic for a given seed).
        space: ``"depth"`` or ``"inverse_depth"`` (see module docstring).
        min_inlier_ratio: smallest accepted share (0..1) of the used points within ``inlier_threshold``.
        min_inliers: fewest accepted points within ``inlier_threshold`` (counted among the used points,
            i.e. after subsampling to ``max_points``).

    Returns:
        AlignmentResult (``n_points`` = usable points before subsampling).

    Raises:
        AlignmentRejected: the fit's scale is <= 0, or too few points agree with it (see module docstring).
        InputError: shape mismatch, unknown method, bad thresholds, fewer than ``min_points``
            usable points, or a degenerate prediction (constant on the points).
    """
    if method not in METHODS:
        raise InputError(f"unknown alignment method '{method}'; choose one of: {', '.join(METHODS)}")
    if space not in SPACES:
        raise InputError(f"unknown alignment space '{space}'; choose one of: {', '.join(SPACES)}")
    if not 0 < inlier_threshold < 1:
        raise InputError(f"inlier_threshold must be in (0, 1), got {inlier_threshold}")
    if not 0 <= min_inlier_ratio <= 1 or min_inliers < 0:
        raise InputError(f"need 0 <= min_inlier_ratio <= 1 and min_inliers >= 0, got {min_inlier_ratio}, "
                         f"{min_inliers}")
    if min_points < (2 if fit_shift else 1) or max_iterations < 1 or max_points < min_points:
        raise InputError(f"need min_points >= {2 if fit_shift else 1}, max_iterations >= 1 and "
                         f"max_points >= min_points, got {min_points}, {max_iterations}, {max_points}")
    for label, array in (("prediction", pred_m), ("sparse depth", sparse_m)):
        if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind not in "fiu":
            raise InputError(f"{label} must be an (H, W) numeric array, got shape "
                             f"{getattr(array, 'shape', None)} dtype {getattr(array, 'dtype', None)}")
    if pred_m.shape != sparse_m.shape:
        raise InputError(f"prediction shape {pred_m.shape} differs from sparse depth shape {sparse_m.shape}")
    with np.errstate(invalid="ignore"):
        used = np.isfinite(pred_m) & np.isfinite(sparse_m) & (sparse_m > 0)
    n_points = int(np.count_nonzero(used))
    if n_points < min_points:
        raise InputError(f"too few points to align the prediction: {n_points} pixels have both a prediction "
                         f"and a sparse measurement, need at least {min_points}")
    p = pred_m[used].astype(np.float64)
    z = sparse_m[used].astype(np.float64)
    if space == INVERSE_DEPTH:
        z = 1.0 / z  # fit the disparity-like prediction to inverse depth [1/m]
    rng = np.random.default_rng(seed)
    if n_points > max_points:
        subset = rng.choice(n_points, size=max_points, replace=False)
        p, z = p[subset], z[subset]
    if method == "ransac":
        scale, shift = _ransac(p, z, fit_shift, inlier_threshold, max_iterations, rng)
    else:
        scale, shift = _irls(p, z, fit_shift, max_iterations, rng)
    if not (np.isfinite(scale) and np.isfinite(shift)):
        raise InputError("robust alignment failed: the fit is not finite (degenerate prediction)")
    inliers = np.abs(_relative_residuals(p, z, scale, shift)) < inlier_threshold
    result = AlignmentResult(scale=scale, shift=shift, inlier_ratio=float(np.mean(inliers)), n_points=n_points,
                             space=space)
    check_fit(result, int(np.count_nonzero(inliers)), int(p.size), inlier_threshold, min_inlier_ratio, min_inliers)
    return result


def check_fit(fit: AlignmentResult, n_inliers: int, n_used: int, inlier_threshold: float, min_inlier_ratio: float,
              min_inliers: int) -> None:
    """Refuse a fit whose scale is <= 0 or that too few points agree with (see the module docstring).

    ``n_inliers`` of the ``n_used`` points fitted lie within ``inlier_threshold`` (relative) of the fit.

    Raises:
        AlignmentRejected: with ``reason`` "scale_not_positive", "few_inliers" or "low_inlier_share".
    """
    summary = (f"scale {fit.scale:.4g}, shift {fit.shift:.4g}{' [1/m]' if fit.space == INVERSE_DEPTH else ' [m]'}, "
               f"{n_inliers} of {n_used} points within {100 * inlier_threshold:g}%")
    if not fit.scale > 0:
        raise AlignmentRejected(f"alignment rejected: the fitted scale is not positive ({summary}): the prediction "
                                "runs against the sparse depth", "scale_not_positive", fit)
    if n_inliers < min_inliers:
        raise AlignmentRejected(f"alignment rejected: {n_inliers} inliers, need at least {min_inliers} ({summary})",
                                "few_inliers", fit)
    if n_inliers / n_used < min_inlier_ratio:  # (a share exactly at the limit passes: 7/100 vs 0.07)
        raise AlignmentRejected(f"alignment rejected: {n_inliers / n_used:.1%} of the points are inliers, need at "
                                f"least {min_inlier_ratio:.1%} ({summary})", "low_inlier_share", fit)
