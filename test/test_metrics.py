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
