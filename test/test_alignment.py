"""Prediction alignment: evaluation protocols (exact data) and the robust LiDAR fit (outliers)."""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.alignment import align_prediction
from lingbot_depth_ros.geometry.scale_alignment import AlignmentResult, robust_scale_shift


def _relative_prediction(seed: int = 1, shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 20.0, shape).astype(np.float32)


# ---------------------------------------------------------------- evaluation alignment (exact)

def test_lstsq_recovers_exact_scale_and_shift() -> None:
    pred = _relative_prediction()
    gt = 2.0 * pred + 1.0
    aligned, scale, shift = align_prediction(pred, gt, mode="lstsq")
    assert scale == pytest.approx(2.0, rel=1e-6) and shift == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(aligned, gt, rtol=1e-5)
    assert aligned.dtype == np.float32


def test_median_scales_without_shift() -> None:
    pred = _relative_prediction()
    gt = 3.0 * pred
    gt[:10] = 0.0  # no reference there: not used by the fit, still aligned in the output
    aligned, scale, shift = align_prediction(pred, gt, mode="median")
    assert scale == pytest.approx(3.0, rel=1e-6) and shift == 0.0
    np.testing.assert_allclose(aligned[:10], 3.0 * pred[:10], rtol=1e-5)


def test_lstsq_inverse_fits_in_inverse_depth() -> None:
    pred = _relative_prediction()
    gt = 1.0 / (0.5 / pred + 0.02)
    aligned, scale, shift = align_prediction(pred, gt, mode="lstsq_inverse")
    assert scale == pytest.approx(0.5, rel=1e-5) and shift == pytest.approx(0.02, rel=1e-4)
    np.testing.assert_allclose(aligned, gt, rtol=1e-4)


def test_none_mode_and_mask_and_invalid_prediction() -> None:
    pred = _relative_prediction()
    pred[0, 0] = np.nan
    aligned, scale, shift = align_prediction(pred, 2 * pred, mode="none")
    assert (scale, shift) == (1.0, 0.0)
    assert np.isnan(aligned[0, 0]) and aligned[1, 1] == pytest.approx(pred[1, 1])
    # the mask selects the half where gt = 2 * pred; the other half (gt = 5 * pred) is ignored
    gt = np.where(np.arange(pred.shape[1])[None, :] < 80, 2 * pred, 5 * pred)
    mask = np.zeros(pred.shape, bool)
    mask[:, :80] = True
    _, scale, shift = align_prediction(pred, gt, mask=mask, mode="lstsq")
    assert scale == pytest.approx(2.0, rel=1e-5) and shift == pytest.approx(0.0, abs=1e-4)


def test_alignment_errors() -> None:
    pred = _relative_prediction()
    with pytest.raises(InputError, match="unknown alignment mode"):
        align_prediction(pred, pred, mode="affine")
    with pytest.raises(InputError, match="shapes differ"):
        align_prediction(pred, pred[:, :5], mode="median")
    with pytest.raises(InputError, match="at least 2"):
        align_prediction(np.ones_like(pred), pred, mode="lstsq")
    with pytest.raises(InputError, match="at least 1"):
        align_prediction(pred, np.zeros_like(pred), mode="median")


# ---------------------------------------------------------------- robust fit to sparse LiDAR

def _lidar_with_outliers(scale: float, shift: float, outlier_fraction: float, *, n_points: int = 2000,
                         seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Prediction (relative units) and sparse LiDAR = scale * pred + shift (+1 % noise) with outliers.

    Half of the outliers mimic occlusion edges (the LiDAR sees a background 1.5-4x farther), the
    other half are arbitrary returns in 0.5..80 m.
    """
    rng = np.random.default_rng(seed)
    pred = _relative_prediction(seed, (240, 320))
    sparse = np.zeros_like(pred)
    idx = rng.choice(pred.size, n_points, replace=False)
    z = (scale * pred.flat[idx] + shift) * (1 + 0.01 * rng.standard_normal(n_points))
    n_out = int(round(outlier_fraction * n_points))
    out = rng.choice(n_points, n_out, replace=False)
    half = n_out // 2
    z[out[:half]] *= rng.uniform(1.5, 4.0, half)
    z[out[half:]] = rng.uniform(0.5, 80.0, n_out - half)
    sparse.flat[idx] = z
    return pred, sparse


@pytest.mark.parametrize("method", ["ransac", "irls"])
@pytest.mark.parametrize("outlier_fraction", [0.2, 0.3])
def test_robust_fit_recovers_scale_and_shift_within_one_percent(method: str, outlier_fraction: float) -> None:
    true_scale, true_shift = 1.7, 0.8
    pred, sparse = _lidar_with_outliers(true_scale, true_shift, outlier_fraction)
    result = robust_scale_shift(pred, sparse, method=method)
    assert isinstance(result, AlignmentResult)
    assert result.scale == pytest.approx(true_scale, rel=0.01)
    # shift within 1 % of the mean depth of the scene
    assert abs(result.shift - true_shift) < 0.01 * float(np.mean(true_scale * pred + true_shift))
    assert result.n_points == 2000
    # inliers: the clean points within 5 % (1 % noise) -> about 1 - outlier_fraction (a few random outliers
    # land within 5 % by chance)
    assert 1 - outlier_fraction - 0.03 <= result.inlier_ratio <= 1 - outlier_fraction + 0.05
    aligned = result.apply(pred)
    assert aligned.dtype == np.float32 and aligned.shape == pred.shape


def test_plain_least_squares_is_fooled_by_the_same_outliers() -> None:
    """Guard that the outliers above are strong enough to matter (the robust test is meaningful)."""
    pred, sparse = _lidar_with_outliers(1.7, 0.8, 0.3)
    _, scale, _ = align_prediction(pred, sparse, mode="lstsq")
    assert abs(scale - 1.7) > 0.05 * 1.7


@pytest.mark.parametrize("method", ["ransac", "irls"])
def test_scale_only_fit(method: str) -> None:
    pred, sparse = _lidar_with_outliers(2.5, 0.0, 0.25, seed=7)
    result = robust_scale_shift(pred, sparse, fit_shift=False, method=method)
    assert result.shift == 0.0
    assert result.scale == pytest.approx(2.5, rel=0.01)


def test_robust_fit_ignores_nan_prediction_and_is_deterministic() -> None:
    pred, sparse = _lidar_with_outliers(1.2, 0.3, 0.2)
    pred[:50] = np.nan
    a = robust_scale_shift(pred, sparse, seed=5)
    b = robust_scale_shift(pred, sparse, seed=5)
    assert a == b
    assert a.n_points == int(np.count_nonzero(sparse[50:] > 0))
    assert a.scale == pytest.approx(1.2, rel=0.01)


def test_robust_fit_errors() -> None:
    pred = _relative_prediction()
    sparse = np.zeros_like(pred)
    sparse.flat[:5] = 3.0
    with pytest.raises(InputError, match="too few points"):
        robust_scale_shift(pred, sparse)
    with pytest.raises(InputError, match="unknown alignment method"):
        robust_scale_shift(pred, 2 * pred, method="lmeds")
    with pytest.raises(InputError, match="shape"):
        robust_scale_shift(pred, pred[:10])
    with pytest.raises(InputError, match="constant|degenerate"):
        robust_scale_shift(np.ones_like(pred), 2 * pred)
