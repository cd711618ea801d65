"""Depth metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.metrics import ERROR_KEYS, depth_metrics, evaluation_mask

NAN = float("nan")
# ground truth: 0 = no value.  Prediction: NaN on the gt=5 pixel (coverage loss), a value on the
# pixel without ground truth (ignored).
GT = np.array([[1.0, 2.0, 4.0], [10.0, 0.0, 5.0]], np.float32)
PRED = np.array([[2.0, 2.0, 3.0], [12.0, 7.0, NAN]], np.float32)
# Evaluated (pred, gt) pairs: (2, 1), (2, 2), (3, 4), (12, 10); errors 1, 0, -1, 2 m.


def test_hand_computed_values() -> None:
    m = depth_metrics(PRED, GT)
    assert m["n_valid"] == 4
    assert m["coverage"] == pytest.approx(4 / 5)
    assert m["rmse_m"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert m["rmse_mm"] == pytest.approx(1224.744871, rel=1e-6)
    assert m["mae_mm"] == pytest.approx(1000.0)
    assert m["abs_rel"] == pytest.approx((1 / 1 + 0 + 1 / 4 + 2 / 10) / 4)   # 0.3625
    assert m["sq_rel"] == pytest.approx((1 / 1 + 0 + 1 / 4 + 4 / 10) / 4)    # 0.4125
    # inverse-depth errors [1/km]: 1000 * (1/p - 1/g) = -500, 0, 1000/12, -1000/60
    assert m["imae_1_per_km"] == pytest.approx((500 + 0 + 1000 / 12 + 1000 / 60) / 4)  # 150
    assert m["imae_1_per_km"] == pytest.approx(150.0)
    assert m["irmse_1_per_km"] == pytest.approx(math.sqrt((500 ** 2 + (1000 / 12) ** 2 + (1000 / 60) ** 2) / 4))
    assert m["rmse_log"] == pytest.approx(
        math.sqrt((math.log(2) ** 2 + math.log(0.75) ** 2 + math.log(1.2) ** 2) / 4))
    assert m["log10"] == pytest.approx((math.log10(2) + abs(math.log10(0.75)) + math.log10(1.2)) / 4)
    # ratios max(p/g, g/p): 2, 1, 4/3, 1.2
    assert m["delta1"] == pytest.approx(0.5)    # 1, 1.2 < 1.25
    assert m["delta2"] == pytest.approx(0.75)   # + 4/3 < 1.5625
    assert m["delta3"] == pytest.approx(0.75)   # 2 is not < 1.953125


def test_perfect_prediction() -> None:
    m = depth_metrics(GT.copy(), GT)
    for key in ("rmse_mm", "mae_mm", "irmse_1_per_km", "imae_1_per_km", "abs_rel", "sq_rel", "rmse_m",
                "rmse_log", "log10"):
        assert m[key] == pytest.approx(0.0, abs=1e-9), key
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0
    assert m["coverage"] == 1.0 and m["n_valid"] == 5


def test_max_depth_and_crop_restrict_the_evaluated_pixels() -> None:
    m = depth_metrics(PRED, GT, max_depth_m=5.0)          # drops (12, 10); gt=5 still counts, NaN pred
    assert m["n_valid"] == 3 and m["coverage"] == pytest.approx(3 / 4)
    assert m["mae_mm"] == pytest.approx(1000 * (1 + 0 + 1) / 3)
    m = depth_metrics(PRED, GT, crop=(0, 1, 1, 3))        # top row, columns 1..2: (2, 2), (3, 4)
    assert m["n_valid"] == 2 and m["coverage"] == 1.0
    assert m["rmse_mm"] == pytest.approx(1000 * math.sqrt(0.5))
    m = depth_metrics(PRED, GT, min_depth_m=1.5)          # drops (2, 1)
    assert m["n_valid"] == 3 and m["mae_mm"] == pytest.approx(1000.0)


def test_non_positive_and_infinite_predictions_are_coverage_loss() -> None:
    pred = PRED.copy()
    pred[0, 0] = 0.0
    pred[0, 1] = np.inf
    pred[0, 2] = -3.0
    m = depth_metrics(pred, GT)
    assert m["n_valid"] == 1 and m["coverage"] == pytest.approx(1 / 5)
    assert m["mae_mm"] == pytest.approx(2000.0)


def test_no_usable_prediction_gives_nan_errors_and_zero_coverage() -> None:
    m = depth_metrics(np.full_like(GT, np.nan), GT)
    assert m["coverage"] == 0.0 and m["n_valid"] == 0
    assert all(math.isnan(m[key]) for key in ERROR_KEYS)


def test_bad_inputs_raise_input_error() -> None:
    with pytest.raises(InputError, match="shape"):
        depth_metrics(PRED[:, :2], GT)
    with pytest.raises(InputError, match="no valid pixel"):
        depth_metrics(PRED, np.zeros_like(GT))
    with pytest.raises(InputError, match="crop"):
        depth_metrics(PRED, GT, crop=(1, 1, 0, 3))
    with pytest.raises(InputError, match="crop"):
        evaluation_mask(GT, crop=(0, 5, 0, 3))
    with pytest.raises(InputError):
        depth_metrics(PRED[None], GT)


def test_nan_ground_truth_is_not_evaluated() -> None:
    gt = GT.copy()
    gt[0, 0] = np.nan
    m = depth_metrics(PRED, gt)
    assert m["n_valid"] == 3 and m["coverage"] == pytest.approx(3 / 4)


# "nearest": the prediction covers only (0, 0) = 1 m and (0, 5) = 8 m; (0, 5) has no ground truth
# but still serves as a source.  Row 0: columns 1, 2 are nearer to column 0 (distance 1, 2 vs 4, 3),
# columns 3, 4 nearer to column 5.  Row 1: (1, 0..2) nearer to (0, 0), (1, 3..5) nearer to (0, 5).
NEAR_PRED = np.array([[1.0, NAN, 0.0, -1.0, np.inf, 8.0],
                      [NAN, NAN, NAN, NAN, NAN, NAN]], np.float32)
NEAR_GT = np.array([[1.0, 2.0, 2.0, 4.0, 8.0, 0.0],
                    [2.0, 1.0, 1.0, 8.0, 8.0, 4.0]], np.float32)
# Filled prediction on the 11 evaluated pixels:
#   row 0: 1, 1, 1, 8, 8        vs gt 1, 2, 2, 4, 8  -> errors 0, -1, -1, 4, 0
#   row 1: 1, 1, 1, 8, 8, 8     vs gt 2, 1, 1, 8, 8, 4 -> errors -1, 0, 0, 0, 0, 4


def test_nearest_fills_uncovered_pixels_from_the_nearest_prediction() -> None:
    m = depth_metrics(NEAR_PRED, NEAR_GT, invalid="nearest")
    assert m["n_valid"] == 11
    assert m["coverage"] == pytest.approx(1 / 11)         # only (0, 0) is covered among evaluated
    assert m["mae_mm"] == pytest.approx(1000 * (1 + 1 + 4 + 1 + 4) / 11)
    assert m["rmse_mm"] == pytest.approx(1000 * math.sqrt((1 + 1 + 16 + 1 + 16) / 11))
    assert m["abs_rel"] == pytest.approx((1 / 2 + 1 / 2 + 4 / 4 + 1 / 2 + 4 / 4) / 11)
    # ratios: 1, 2, 2, 2, 1 | 2, 1, 1, 1, 1, 2 -> 6 of 11 below 1.25; none in (1.25, 1.953)
    assert m["delta1"] == pytest.approx(6 / 11)
    assert m["delta3"] == pytest.approx(6 / 11)
    # "exclude" on the same data scores the one covered pixel
    e = depth_metrics(NEAR_PRED, NEAR_GT)
    assert e["n_valid"] == 1 and e["coverage"] == pytest.approx(1 / 11) and e["rmse_mm"] == 0.0


def test_nearest_equals_exclude_when_everything_is_covered_and_respects_the_mask() -> None:
    a = depth_metrics(PRED, GT, invalid="nearest", max_depth_m=5.0)
    # evaluated: gt 1, 2, 4, 5 (10 > 5 dropped); the NaN at (1, 2) takes (0, 2) = 3 or (1, 1) = 7
    # (both at distance 1; (1, 0) = 12 is farther): an error of 2 m against gt 5 either way.
    assert a["n_valid"] == 4 and a["coverage"] == pytest.approx(3 / 4)
    assert a["mae_mm"] == pytest.approx(1000 * (1 + 0 + 1 + 2) / 4)
    assert a["rmse_mm"] == pytest.approx(1000 * math.sqrt((1 + 0 + 1 + 4) / 4))
    full = depth_metrics(GT + 1.0, GT, invalid="nearest")
    assert full == depth_metrics(GT + 1.0, GT)


def test_nearest_without_any_prediction_and_bad_mode() -> None:
    m = depth_metrics(np.full_like(GT, np.nan), GT, invalid="nearest")
    assert m["n_valid"] == 0 and m["coverage"] == 0.0
    assert all(math.isnan(m[key]) for key in ERROR_KEYS)
    with pytest.raises(InputError, match="invalid="):
        depth_metrics(PRED, GT, invalid="zero")  # type: ignore[arg-type]
