"""The LiDAR agreement guard's logic without ROS (pipeline/lidar_guard.py): hold-out draw, figures, robust scale,
verdicts and diagnoses, actions, the per-camera run of disagreeing frames."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.estimators.registry import estimator_classes
from lingbot_depth_ros.pipeline.lidar_guard import (
    AGREE,
    DISAGREE,
    HELD_OUT,
    NOT_ENOUGH_SAMPLES,
    SEEN,
    UNSEEN,
    GuardInput,
    GuardMonitor,
    GuardSettings,
    LidarDisagreement,
    apply_guard_action,
    diagnose_scale,
    holdout_mask,
    measure_agreement,
    not_guarded_reason,
    robust_output_scale,
    split_for_guard,
)

H, W = 60, 80


@dataclass
class FakeEstimator:
    """What the guard reads of an estimator."""

    name: str = "model"
    learned: bool = True


def lidar(seed: int = 0, share: float = 0.1) -> np.ndarray:
    """(H, W) float32 sparse depth [m]: ``share`` of the pixels, 1..20 m, 0 elsewhere."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((H, W)) < share, rng.uniform(1.0, 20.0, (H, W)), 0).astype(np.float32)


def test_holdout_is_reproducible_per_seed_and_takes_the_share_of_valid_samples_only() -> None:
    sparse = lidar()
    sparse[0, :5] = np.nan  # not samples: never drawn
    sparse[1, :5] = -1.0
    valid = np.count_nonzero(np.isfinite(sparse) & (sparse > 0))
    first = holdout_mask(sparse, 0.1, seed=1_700_000_000_123_456_789)
    assert first.sum() == round(0.1 * valid)
    assert (sparse[first] > 0).all()
    np.testing.assert_array_equal(first, holdout_mask(sparse.copy(), 0.1, seed=1_700_000_000_123_456_789))
    other = holdout_mask(sparse, 0.1, seed=1_700_000_000_223_456_789)  # the next frame's stamp: other samples
    assert other.sum() == first.sum() and not np.array_equal(first, other)
    assert not holdout_mask(sparse, 0.0, seed=3).any()
    assert holdout_mask(sparse, 0.1, seed=-5).sum() == first.sum()  # any integer seeds a draw


def test_split_withholds_the_share_from_the_estimator_and_the_fit() -> None:
    sparse, settings, model = lidar(), GuardSettings(holdout_share=0.2), FakeEstimator()
    split = split_for_guard(sparse, sparse, False, model, settings, seed=7)
    assert split.guard is not None and split.guard.reference == HELD_OUT
    held = split.guard.reference_m > 0
    assert split.guard.withheld == held.sum() == round(0.2 * np.count_nonzero(sparse))
    given = split.estimator_sparse_m
    assert given is not None and split.align_sparse_m is given
    assert not (given[held] > 0).any()  # the estimator never sees a held-out sample
    np.testing.assert_array_equal(np.where(held, sparse, given), sparse)  # and loses nothing else
    # monocular + align_to_sparse: the fit loses the same samples, the estimator gets none
    aligned = split_for_guard(sparse, None, True, model, settings, seed=7)
    assert aligned.estimator_sparse_m is None and aligned.align_sparse_m is not None
    np.testing.assert_array_equal(aligned.align_sparse_m, given)
    # the samples the model saw (share 0), and a monocular output that used no LiDAR (every sample unseen)
    seen = split_for_guard(sparse, sparse, False, model, GuardSettings(holdout_share=0.0), seed=7)
    assert seen.estimator_sparse_m is sparse and seen.guard is not None and seen.guard.reference == SEEN
    unseen = split_for_guard(sparse, None, False, model, settings, seed=7)
    assert unseen.guard is not None and unseen.guard.reference == UNSEEN and unseen.guard.reference_m is sparse


def test_split_leaves_unguarded_frames_alone() -> None:
    sparse = lidar()
    for model, settings in ((FakeEstimator(learned=False), GuardSettings()),
                            (FakeEstimator(), GuardSettings(enabled=False))):
        split = split_for_guard(sparse, sparse, True, model, settings, seed=7)
        assert split.guard is None and split.estimator_sparse_m is sparse and split.align_sparse_m is sparse
    assert split_for_guard(None, None, False, FakeEstimator(), GuardSettings(), seed=1).guard is None


def test_too_few_samples_to_judge_hold_out_nothing_and_say_not_enough_samples() -> None:
    sparse = lidar(share=0.02)  # ~96 samples: 10 % is ~10 < min_samples 20
    split = split_for_guard(sparse, sparse, False, FakeEstimator(), GuardSettings(holdout_share=0.1), seed=3)
    assert split.estimator_sparse_m is sparse and split.guard is not None and split.guard.withheld == 0
    agreement = measure_agreement(sparse, split.guard, GuardSettings(holdout_share=0.1))
    assert agreement.verdict == NOT_ENOUGH_SAMPLES
    assert agreement.diagnosis.startswith("not enough samples:") and "need 20 (guard.min_samples)" in \
        agreement.diagnosis
    assert agreement.median_rel_error is None and agreement.scale is None
    assert agreement.summary() == agreement.diagnosis  # no verdict, no figures


def test_figures_of_an_agreeing_output() -> None:
    sparse = lidar()
    rng = np.random.default_rng(4)
    depth = (sparse * (1 + rng.normal(0, 0.02, sparse.shape))).astype(np.float32)  # 2 % noise, right scale
    depth[sparse == 0] = 5.0
    agreement = measure_agreement(depth, GuardInput(sparse, HELD_OUT), GuardSettings())
    assert agreement.verdict == AGREE and agreement.samples == np.count_nonzero(sparse)
    assert agreement.median_rel_error == pytest.approx(0.0135, abs=0.004)  # median |N(0, 2 %)|
    assert agreement.within_5pct == pytest.approx(0.988, abs=0.015)
    assert agreement.scale == pytest.approx(1.0, abs=0.01)
    assert agreement.diagnosis == "agrees"


@pytest.mark.parametrize(("factor", "cause"), [
    (1.8, "scale off by x1.8: check CameraInfo matches the image size and the depth units"),
    (0.001, "(about 1/1000): the LiDAR depth looks like millimetres read as metres"),
    (1000.0, "(about 1000): the LiDAR depth looks like metres read as millimetres"),
    (0.55, "scale off by x0.55: check CameraInfo"),
])
def test_a_scaled_output_disagrees_with_the_diagnosis_of_its_scale(factor: float, cause: str) -> None:
    sparse = lidar()
    depth = (sparse * factor).astype(np.float32)
    agreement = measure_agreement(depth, GuardInput(sparse, HELD_OUT), GuardSettings())
    assert agreement.verdict == DISAGREE and agreement.scale == pytest.approx(factor, rel=1e-4)
    assert cause in agreement.diagnosis and cause in agreement.summary()
    assert agreement.within_5pct == 0.0


def test_robust_scale_ignores_outliers() -> None:
    sparse = lidar()
    rng = np.random.default_rng(2)
    depth = (1.8 * sparse * (1 + rng.normal(0, 0.02, sparse.shape))).astype(np.float32)
    # 40 % of the samples see through to the background behind the surface the output has (LiDAR parallax)
    wild = (sparse > 0) & (rng.random(sparse.shape) < 0.4)
    depth[wild] = sparse[wild] * rng.uniform(0.2, 1.0, int(wild.sum()))
    agreement = measure_agreement(depth, GuardInput(sparse, HELD_OUT), GuardSettings())
    assert agreement.scale == pytest.approx(1.8, rel=5e-3)
    assert agreement.scale_inlier_share == pytest.approx(0.6, abs=0.05)
    naive = float(np.median(depth[sparse > 0] / sparse[sparse > 0]))
    assert abs(naive / 1.8 - 1) > 0.015  # where the median of the ratios ends up


def test_no_scale_from_degenerate_or_scattered_samples() -> None:
    sparse, settings = lidar(), GuardSettings()
    usable = sparse > 0
    rng = np.random.default_rng(5)
    scattered = np.where(usable, rng.uniform(0.1, 100.0, sparse.shape), 0).astype(np.float32)
    assert robust_output_scale(scattered, sparse, usable, settings) == (None, None)  # no scale explains half
    agreement = measure_agreement(scattered, GuardInput(sparse, HELD_OUT), settings)
    assert agreement.verdict == DISAGREE and agreement.scale is None
    assert agreement.diagnosis.startswith("no single scale explains the difference")
    zero = np.zeros_like(sparse)  # the output is 0 at every sample: not a valid output, no samples to judge
    assert measure_agreement(zero, GuardInput(sparse, HELD_OUT), settings).verdict == NOT_ENOUGH_SAMPLES
    # a degenerate LiDAR (all samples at one depth) still has a scale; a constant output too: never <= 0
    flat = np.where(usable, 4.0, 0).astype(np.float32)
    scale, _ = robust_output_scale(np.full_like(sparse, 2.0), flat, usable, settings)
    assert scale == pytest.approx(0.5)


def test_scale_is_never_negative() -> None:
    """A negative output (no depth map has one, but the fit must refuse it anyway) gives no scale."""
    sparse = lidar()
    usable = sparse > 0
    assert robust_output_scale(-sparse, sparse, usable, GuardSettings()) == (None, None)


def test_actions_touch_only_a_disagreeing_frame() -> None:
    sparse = lidar()
    depth = (1.8 * sparse).astype(np.float32)
    guard = GuardInput(sparse, HELD_OUT)
    off = measure_agreement(depth, guard, GuardSettings())
    warned, same = apply_guard_action(depth, off, GuardSettings(action="warn"))
    assert warned is depth and same.applied_scale is None
    rescaled, applied = apply_guard_action(depth, off, GuardSettings(action="rescale"))
    np.testing.assert_allclose(rescaled, sparse, rtol=1e-5)
    assert applied.applied_scale == pytest.approx(1.8) and "rescaled by 1/1.8" in applied.summary()
    with pytest.raises(LidarDisagreement, match=r"disagrees with the LiDAR .*x1\.8.*guard\.action drop") as caught:
        apply_guard_action(depth, off, GuardSettings(action="drop"))
    assert pickle.loads(pickle.dumps(caught.value)).agreement == off  # crosses process boundaries (batch)
    fine = measure_agreement(sparse, guard, GuardSettings())
    for action in ("rescale", "drop"):
        kept, _ = apply_guard_action(sparse, fine, GuardSettings(action=action))
        assert kept is sparse
    scattered = dataclasses.replace(off, scale=None)
    kept, same = apply_guard_action(depth, scattered, GuardSettings(action="rescale"))  # no scale: left as it is
    assert kept is depth and same.applied_scale is None


def test_monitor_warns_after_n_disagreeing_frames_in_a_row() -> None:
    settings = GuardSettings(warn_after_frames=3)
    sparse = lidar()
    guard = GuardInput(sparse, HELD_OUT)
    good = measure_agreement(sparse, guard, settings)
    bad = measure_agreement((1.8 * sparse).astype(np.float32), guard, settings)
    none = measure_agreement(np.full_like(sparse, np.nan), guard, settings)
    monitor = GuardMonitor()
    assert [monitor.observe(a, settings) for a in (bad, bad, good, bad, none, bad)] == [None] * 6
    assert monitor.problem(settings) is None and monitor.consecutive == 2  # no verdict: neither counts nor breaks
    line = monitor.observe(bad, settings)
    assert line is not None and "disagrees with the LiDAR for 3 frames" in line and "x1.8" in line
    assert monitor.problem(settings) == line
    assert monitor.observe(bad, settings, dropped=True) is None  # said once per run
    assert monitor.observe(good, settings) == "LiDAR guard: the depth agrees with the LiDAR again"
    assert monitor.problem(settings) is None
    assert (monitor.checked, monitor.disagreeing, monitor.dropped, monitor.not_enough) == (8, 6, 1, 1)
    values = dict(monitor.values(settings))
    assert values["lidar agreement scale output/LiDAR"] == "1"
    assert values["lidar guard"].startswith("warn, frames checked 8, disagreeing 6 (0 in a row)")


def test_settings_refuse_values_outside_their_ranges() -> None:
    for bad in ({"action": "ignore"}, {"holdout_share": 0.6}, {"holdout_share": -0.1}, {"max_rel_error": 1.0},
                {"max_rel_error": 0.0}, {"min_samples": 2}, {"warn_after_frames": 0}):
        with pytest.raises(InputError, match="guard"):
            GuardSettings(**bad)


def test_only_learned_estimators_are_guarded() -> None:
    learned = {name for name, cls in estimator_classes().items() if cls.learned}
    assert learned == {"lingbot", "depth_anything", "prompt_depth_anything", "depth_pro", "marigold"}
    reason = not_guarded_reason(create_estimator("classical"))
    assert reason is not None and "interpolates the LiDAR itself" in reason


def test_diagnosis_bands() -> None:
    assert diagnose_scale(None).startswith("no single scale")
    assert "millimetres read as metres" in diagnose_scale(1 / 1000)
    assert "metres read as millimetres" in diagnose_scale(950.0)
    assert diagnose_scale(1.25) == "scale off by x1.25: check CameraInfo matches the image size and the depth units"
