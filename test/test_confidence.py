"""Per-pixel confidence (issue 20 §1): the definition, the cues, the calibration profiles, the map the pipeline
makes, and its quality on frames the calibration was not fitted on (bench/bench_confidence.py prints the tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.confidence_cases import cases, lidar_holdout
from lingbot_depth_ros.confidence.calibration import Feature, Profile
from lingbot_depth_ros.confidence.calibration_data import PROFILES, RECORDS
from lingbot_depth_ros.confidence.cues import lidar_support_cues, residual_cues
from lingbot_depth_ros.confidence.definition import tolerance_m, within_tolerance
from lingbot_depth_ros.confidence.fitting import fit_profile
from lingbot_depth_ros.confidence.maps import confidence_map, frame_kind, profile_for
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.estimators.base import EstimatorInput
from lingbot_depth_ros.evaluation.confidence_metrics import calibration, sparsification
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import SceneFrame

INTRINSICS = CameraIntrinsics(200.0, 200.0, 80.0, 60.0, width=160, height=120)


def scene_frame(seed: int = 3) -> SceneFrame:
    return SceneGenerator(160, 120, seed=seed, n_boxes=6, lidar=LidarConfig.preset(32)).frame(0)


# ------------------------------------------------------------------------------------------- definition
def test_tolerance_is_10_cm_up_to_2_m_then_5_percent() -> None:
    np.testing.assert_allclose(tolerance_m(np.array([0.5, 2.0, 10.0])), [0.10, 0.10, 0.50], rtol=1e-6)
    truth = np.array([1.0, 1.0, 10.0, 10.0, 10.0, 0.0, np.nan], np.float32)
    depth = np.array([1.09, 1.11, 10.49, 10.51, np.nan, 0.0, 1.0], np.float32)
    assert within_tolerance(depth, truth).tolist() == [True, False, True, False, False, False, False]


# ------------------------------------------------------------------------------------------- cues
def test_support_cues_grow_away_from_the_samples_and_across_edges() -> None:
    depth = np.full((40, 40), 5.0, np.float32)
    depth[:, 20:] = 10.0
    sparse = np.zeros_like(depth)
    sparse[::8, ::8] = depth[::8, ::8]
    cues = lidar_support_cues(depth, sparse, fx_px=100.0)
    assert cues["support_px"][0, 0] == 0 and cues["support_px"][4, 4] > 4
    np.testing.assert_allclose(cues["support_m"][4, 4], cues["support_px"][4, 4] * 5.0 / 100.0, rtol=1e-5)
    assert cues["sample_range_rel"][10, 20] > 0.4 and cues["sample_range_rel"][10, 4] == 0  # edge vs flat
    none = lidar_support_cues(depth, np.zeros_like(depth), fx_px=100.0)
    assert np.isinf(none["support_px"]).all() and not none["density"].any()


def test_residual_cue_says_where_the_output_disagrees_with_the_lidar() -> None:
    truth = np.full((60, 60), 4.0, np.float32)
    depth = truth.copy()
    depth[:, 30:] *= 1.5  # the right half is off by 50 %
    sparse = np.zeros_like(truth)
    sparse[::5, ::5] = truth[::5, ::5]
    cues = residual_cues(depth, sparse, sigma_px=4.0)
    assert cues["residual_within"][30, 5] > 0.95 and cues["residual_within"][30, 55] < 0.05


def test_classical_reports_its_samples_and_the_occluded_ones() -> None:
    frame = scene_frame()
    estimate = create_estimator("classical").estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    samples, dropped = estimate.cues["samples"], estimate.cues["dropped_samples"]
    assert samples.any() and not (samples & dropped).any()
    assert np.all((samples | dropped) <= (frame.sparse_depth_m > 0))


# ------------------------------------------------------------------------------------------- profiles
def test_profiles_refuse_a_cue_with_the_wrong_sign_or_a_falling_multiplier() -> None:
    good = Feature("support_m", "log1p", 0.1, 0.0, 3.0, -1.0)
    with pytest.raises(InputError, match="wrong sign"):
        Profile("x", (Feature("support_m", "log1p", 0.1, 0.0, 3.0, +1.0),), 0.0, (0.0, 1.0), (0.2, 0.8))
    with pytest.raises(InputError, match="cannot multiply"):
        Profile("x", (good,), 0.0, (0.0, 1.0), (0.2, 0.8), multiply_by="mask_prob,support_m")
    with pytest.raises(InputError, match="knots"):
        Profile("x", (good,), 0.0, (0.0, 1.0), (0.8, 0.2))


def test_shipped_profiles_round_trip_and_cover_every_kind() -> None:
    assert [Profile.from_dict(r) for r in RECORDS] == list(PROFILES.values())
    for kind in ("completion", "aligned", "monocular"):
        assert profile_for("some_new_estimator", kind).key == f"{kind}/default"
    assert profile_for("classical", frame_kind(True, False)).key == "completion/classical"
    assert profile_for("marigold", frame_kind(False, True)).key == "aligned/marigold"
    with pytest.raises(InputError):
        profile_for("classical", "stereo")


def test_score_map_follows_the_knots_and_is_flat_beyond_them() -> None:
    for profile in PROFILES.values():
        lo, hi = profile.knots_score[0], profile.knots_score[-1]
        score = np.linspace(lo - 2.0, hi + 2.0, 20_001, dtype=np.float32)
        mapped = profile.map_score(score)
        np.testing.assert_allclose(mapped, np.interp(score, profile.knots_score, profile.knots_prob), atol=1e-3)
        assert np.all(np.diff(mapped) >= 0) and mapped[0] == profile.knots_prob[0]
        assert mapped[-1] == pytest.approx(profile.knots_prob[-1], abs=1e-6)


def test_fit_recovers_a_known_probability() -> None:
    rng = np.random.default_rng(0)
    support = rng.exponential(1.0, 40_000).astype(np.float32)
    truth_prob = 1.0 / (1.0 + np.exp(-(2.0 - 3.0 * np.log1p(support / 0.5))))
    labels = rng.random(support.size) < truth_prob
    profile = fit_profile("test", {"support_m": support}, labels, [("support_m", "log1p", 0.5)])
    fresh = rng.exponential(1.0, 40_000).astype(np.float32)
    predicted = profile.probability({"support_m": fresh}, fresh.shape)
    expected = 1.0 / (1.0 + np.exp(-(2.0 - 3.0 * np.log1p(fresh / 0.5))))
    assert np.mean(np.abs(predicted - expected)) < 0.03


# ------------------------------------------------------------------------------------------- metrics
def test_sparsification_and_ece_tell_a_good_confidence_from_a_bad_one() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(2.0, 20.0, 20_000)
    pred = truth + rng.normal(0.0, 1.0, truth.size) * rng.uniform(0.0, 1.0, truth.size)
    error = np.abs(pred - truth)
    perfect = sparsification(pred, truth, -error)
    assert perfect.ause == pytest.approx(0.0, abs=1e-12)
    assert sparsification(pred, truth, np.full(truth.size, 0.5)).ause_ratio == pytest.approx(1.0, abs=0.1)
    hit = within_tolerance(pred, truth)
    assert calibration(pred, truth, np.full(truth.size, hit.mean())).ece < 0.01
    assert calibration(pred, truth, np.where(hit, 0.0, 1.0)).ece > 0.99
    with pytest.raises(InputError):
        sparsification(pred, truth, error, metric="mae")


# ------------------------------------------------------------------------------------------- the map
def test_confidence_map_is_nan_exactly_where_depth_is_nan_and_in_range_elsewhere() -> None:
    frame = scene_frame()
    pipeline = DepthPipeline(create_estimator("classical"), OutputSettings(cloud=False, confidence=True))
    result = pipeline.process(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    conf = result.confidence
    assert conf is not None and conf.dtype == np.float32 and conf.shape == result.depth_m.shape
    assert np.array_equal(np.isnan(conf), np.isnan(result.depth_m)) and np.isnan(conf).any()
    finite = conf[np.isfinite(conf)]
    assert finite.min() >= 0.0 and finite.max() <= 1.0 and finite.std() > 0.01
    assert result.confidence_profile == "completion/classical" and "confidence" in result.timings_s
    off = DepthPipeline(create_estimator("classical"), OutputSettings(cloud=False)).process(
        frame.rgb, frame.sparse_depth_m, frame.intrinsics)
    assert off.confidence is None and np.array_equal(off.depth_m, result.depth_m, equal_nan=True)


def test_confidence_map_of_an_all_invalid_or_garbage_frame() -> None:
    profile = PROFILES["completion/classical"]
    nan = np.full((8, 8), np.nan, np.float32)
    assert np.isnan(confidence_map(nan, 100.0, profile, sparse_m=np.zeros((8, 8), np.float32))).all()
    depth = np.full((8, 8), 3.0, np.float32)
    depth[0, 0] = np.inf  # not a depth: NaN confidence, never a number
    conf = confidence_map(depth, 100.0, profile, sparse_m=np.zeros((8, 8), np.float32))
    assert np.isnan(conf[0, 0]) and np.isfinite(conf.ravel()[1:]).all()


def test_a_learned_completion_that_ignores_its_input_is_not_trusted(tmp_path: Path) -> None:
    """The tiny random LingBot-Depth checkpoint predicts ~2 m everywhere whatever the LiDAR says: the prior for
    learned completion (x the share of input samples it reproduces, x the mask probability) gives it ~0."""
    from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

    estimator = create_estimator("lingbot", checkpoint=str(make_tiny_checkpoint(tmp_path / "model.pt")),
                                 device="cpu", precision="fp32", resolution_level=0)
    frame = scene_frame()
    far = np.where(frame.sparse_depth_m > 0, frame.sparse_depth_m + 6.0, 0.0).astype(np.float32)
    pipeline = DepthPipeline(estimator, OutputSettings(cloud=False, confidence=True))
    result = pipeline.process(frame.rgb, far, frame.intrinsics)
    assert result.confidence_profile == "completion/default"
    assert np.nanmax(result.confidence) < 0.05
    assert "mask_prob" in estimator.estimate(frame.rgb, far, frame.intrinsics).cues  # asked for by the pipeline
    pipeline.settings = OutputSettings(cloud=False, confidence=False)
    assert "mask_prob" not in estimator.estimate(frame.rgb, far, frame.intrinsics).cues
    # the node's path: a batch estimated elsewhere, finished by the pipeline, still rests on the LiDAR it was given
    pipeline.settings = OutputSettings(cloud=False, confidence=True)
    batch = estimator.estimate_batch([EstimatorInput(frame.rgb, far, frame.intrinsics),
                                      EstimatorInput(frame.rgb, None, frame.intrinsics)])
    completed, monocular = (pipeline.finish(e, frame.rgb, frame.intrinsics) for e in batch)
    assert completed.confidence_profile == "completion/default" and np.nanmax(completed.confidence) < 0.05
    assert monocular.confidence_profile == "monocular/default"


def test_marigold_ensemble_spread_reaches_the_aligned_profile(tmp_path: Path) -> None:
    """Marigold with an ensemble returns its spread as a cue; fitted to the LiDAR, its frame is scored by the
    aligned/marigold profile (fit residuals x the spread's probability)."""
    pytest.importorskip("diffusers", reason="the estimators extra (diffusers) is not installed")
    from lingbot_depth_ros.testing.depth_pro_marigold_checkpoints import build_tiny_marigold

    folder = str(build_tiny_marigold(tmp_path / "marigold"))
    fast = {"device": "cpu", "denoising_steps": 1, "processing_resolution": 32}
    frame = scene_frame()
    pair = create_estimator("marigold", checkpoint=folder, ensemble_size=2, **fast)  # MAD of two: always 0
    assert "spread" not in pair.estimate(frame.rgb, None, frame.intrinsics).cues
    marigold = create_estimator("marigold", checkpoint=folder, ensemble_size=3, **fast)
    estimate = marigold.estimate(frame.rgb, None, frame.intrinsics)
    spread = estimate.cues["spread"]
    assert spread.shape == frame.rgb.shape[:2] and spread.dtype == np.float32
    assert np.all(np.isfinite(spread)) and spread.min() >= 0 and spread.max() > 0
    # LiDAR that agrees with an affine map of the output: the fit is accepted
    samples = frame.sparse_depth_m > 0
    lidar = np.where(samples, 2.0 + 3.0 * estimate.depth_m, 0.0).astype(np.float32)
    pipeline = DepthPipeline(marigold, OutputSettings(cloud=False, confidence=True, align="scale_shift"))
    result = pipeline.process(frame.rgb, None, frame.intrinsics, align_depth_m=lidar)
    assert result.alignment is not None and result.confidence_profile == "aligned/marigold"
    assert np.array_equal(np.isnan(result.confidence), np.isnan(result.depth_m))
    assert np.nanmax(result.confidence) > 0.5  # the output agrees with every sample near it


# ------------------------------------------------------------------------------------------- quality
def test_lidar_holdout_keeps_input_and_truth_disjoint() -> None:
    lidar = np.zeros((20, 20), np.float32)
    lidar[::2, ::2] = 7.0
    sparse, truth = lidar_holdout(lidar, 0.25, seed=0)
    assert not ((sparse > 0) & (truth > 0)).any() and np.count_nonzero(truth) == 25
    assert np.array_equal((sparse > 0) | (truth > 0), lidar > 0)


@pytest.mark.parametrize("dataset", ["kitti_gt", "kitti_lidar"])
def test_classical_on_kitti_meets_the_targets_on_frames_it_was_not_fitted_on(shared_data: Path,
                                                                              dataset: str) -> None:
    """Issue 20 targets for classical on KITTI: AUSE(RMSE) <= 0.3 of random's, ECE <= 0.05 (score split)."""
    pipeline = DepthPipeline(create_estimator("classical"), OutputSettings(colorized=False, cloud=False,
                                                                           confidence=True))
    pred, truth, conf = [], [], []
    for case in cases("score", shared_data, (dataset,)):
        result = pipeline.process(case.rgb, case.sparse_m, case.intrinsics)
        mask = case.score_mask & np.isfinite(result.depth_m)
        pred.append(result.depth_m[mask])
        truth.append(case.truth_m[mask])
        conf.append(result.confidence[mask])
    p, t, c = np.concatenate(pred), np.concatenate(truth), np.concatenate(conf)
    assert sparsification(p, t, c).ause_ratio <= 0.3
    assert calibration(p, t, c).ece <= 0.05
