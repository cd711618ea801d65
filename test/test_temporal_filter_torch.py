"""The torch temporal filter (lingbot_depth_ros.pipeline.temporal_filter_torch) equals the numpy/OpenCV one within
float rounding: static and moving camera, holes (the forward z-buffer), confidence, confirm_frames=2, and every
whole-history reset with the same reason; plus the device factory (temporal_filter_factory).

Runs on CPU torch only: this machine has no GPU, so the CUDA path (the same code on ``cuda``) is not tested here;
bench/bench_temporal_cost.py --devices cuda times it where there is one (bench/run_gpu_bench.sh).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from test_temporal_filter import (
    K,
    approach_with_a_hole_where_the_box_moved_in,
    box_in_front,
    camera_pose,
    run_held,
    scene_sequence,
)

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline import temporal_filter as tf
from lingbot_depth_ros.pipeline.temporal_filter import TemporalFilter, TemporalResult, TemporalSettings
from lingbot_depth_ros.pipeline.temporal_filter_factory import make_temporal_filter

torch = pytest.importorskip("torch", reason="torch (the lingbot extra) is not installed")
from lingbot_depth_ros.pipeline.temporal_filter_torch import TorchTemporalFilter  # noqa: E402

Frame = tuple[np.ndarray, np.ndarray | None, CameraIntrinsics, np.ndarray | None, float]


def sequence(seed: int, with_confidence: bool, holes: bool, moving: bool) -> list[Frame]:
    """Ten frames of the box scene: noise, optional dropouts and a hole block, a disagreeing patch (frame 5), a
    camera path (or a standing camera), stamps 0.1 s apart."""
    rng = np.random.default_rng(seed)
    frames: list[Frame] = []
    previous = None
    for index in range(10):
        pose = camera_pose(0.05 * index, 0.01 * index) if moving else camera_pose(0.0, 0.0)
        depth = box_in_front(pose) * (1 + 0.01 * rng.standard_normal((K.height, K.width))).astype(np.float32)
        if holes:
            depth[rng.random(depth.shape) < 0.05] = np.nan
            top, left = rng.integers(0, 80), rng.integers(0, 110)
            depth[top:top + 30, left:left + 40] = np.nan
        if index == 5:
            depth[40:70, 40:80] *= 0.6
        confidence = rng.uniform(0.2, 1.0, depth.shape).astype(np.float32) if with_confidence else None
        motion = np.linalg.solve(pose, previous) if moving and previous is not None else None
        frames.append((depth.astype(np.float32), confidence, K, motion, 0.1 * index))
        previous = pose
    return frames


def assert_same(a: TemporalResult, b: TemporalResult) -> None:
    """Equal within float rounding: the same NaN pattern, counts, depth (1e-4 m), weight (1e-3) and confidence but for
    a few pixels where rounding flips a threshold."""
    assert a.reset_reason == b.reset_reason
    nan_a, nan_b = np.isnan(a.depth_m), np.isnan(b.depth_m)
    assert np.count_nonzero(nan_a != nan_b) <= 2
    both = ~nan_a & ~nan_b
    assert np.mean(np.abs(a.depth_m[both] - b.depth_m[both]) <= 1e-4) > 0.999
    assert np.mean(np.abs(a.weight[both] - b.weight[both]) <= 1e-3) > 0.999   # sampled where the weight jumps
    for count_a, count_b in ((a.reset_pixels, b.reset_pixels), (a.blended_pixels, b.blended_pixels),
                             (a.filled_pixels, b.filled_pixels)):
        assert abs(count_a - count_b) <= 2
    assert (a.confidence is None) == (b.confidence is None)
    if a.confidence is not None and b.confidence is not None:
        np.testing.assert_array_equal(np.isnan(a.confidence), np.isnan(a.depth_m))
        np.testing.assert_array_equal(np.isnan(b.confidence), np.isnan(b.depth_m))
        assert np.mean(np.abs(a.confidence[both] - b.confidence[both]) <= 1e-4) > 0.999


@pytest.mark.parametrize("confirm_frames", [1, 2])
@pytest.mark.parametrize(("with_confidence", "holes", "moving"), [
    (False, False, False), (False, False, True), (False, True, True), (True, True, True), (True, True, False)])
def test_torch_filter_equals_the_numpy_filter(confirm_frames: int, with_confidence: bool, holes: bool,
                                              moving: bool) -> None:
    settings = TemporalSettings(confirm_frames=confirm_frames)
    numpy_filter, torch_filter = TemporalFilter(settings), TorchTemporalFilter(settings, "cpu")
    results = []
    for depth, confidence, k, motion, stamp in sequence(7, with_confidence, holes, moving):
        expected = numpy_filter.update(depth, confidence, k, motion, stamp_s=stamp)
        got = torch_filter.update(depth, confidence, k, motion, stamp_s=stamp)
        assert isinstance(got.depth_m, np.ndarray) and got.depth_m.dtype == np.float32
        assert_same(got, expected)
        results.append(got)
    assert isinstance(torch_filter._depth, torch.Tensor)   # the history stays on the device
    # the sequence did exercise the filter: blending, and (holes, moving) filling and resetting
    assert results[-1].blended_pixels > 0.5 * K.width * K.height
    assert results[5].reset_pixels > 0 or confirm_frames == 2
    if holes:
        assert results[-1].filled_pixels > 100


def _not_rigid() -> np.ndarray:
    motion = np.eye(4)
    motion[:3, :3] *= 1.2
    return motion


@pytest.mark.parametrize(("reason", "settings", "second_call"), [
    (tf.POSE_MISSING, TemporalSettings(pose_required=True), lambda f, d: f.update(d, None, K, None, stamp_s=1.1)),
    (tf.POSE_NOT_RIGID, TemporalSettings(), lambda f, d: f.update(d, None, K, _not_rigid(), stamp_s=1.1)),
    (tf.TIME_BACKWARDS, TemporalSettings(), lambda f, d: f.update(d, None, K, None, stamp_s=0.9)),
    (tf.TIME_GAP, TemporalSettings(max_gap_s=0.5), lambda f, d: f.update(d, None, K, None, stamp_s=2.0)),
    (tf.JUMP, TemporalSettings(max_jump_m=1.0),
     lambda f, d: f.update(d, None, K, camera_pose(3.0, 0.0), stamp_s=1.1)),
    (tf.SIZE_CHANGED, TemporalSettings(),
     lambda f, d: f.update(d[:60, :80], None, CameraIntrinsics(100.0, 100.0, 39.5, 29.5, 80, 60), stamp_s=1.1)),
    (tf.NON_UNIT_QUATERNION, TemporalSettings(),
     lambda f, d: f.update_at_pose(d, None, K, ((0.0, 0.0, 0.0, 1.5), (0.0, 0.0, 0.0)), stamp_s=1.1)),
    (tf.POSE_MISSING, TemporalSettings(), lambda f, d: f.update_at_pose(d, None, K, None, stamp_s=1.1)),
])
def test_torch_filter_resets_for_the_same_reasons(reason: str, settings: TemporalSettings,
                                                  second_call: Callable[[TemporalFilter, np.ndarray],
                                                                        TemporalResult]) -> None:
    first = np.full((K.height, K.width), 5.0, np.float32)
    current = np.full((K.height, K.width), 5.3, np.float32)
    results = []
    for filt in (TemporalFilter(settings), TorchTemporalFilter(settings, "cpu")):
        filt.update_at_pose(first, None, K, np.eye(4), stamp_s=1.0)
        results.append(second_call(filt, current))
        assert filt.has_history
    numpy_result, torch_result = results
    assert numpy_result.reset_reason == torch_result.reset_reason == reason
    np.testing.assert_array_equal(torch_result.depth_m, numpy_result.depth_m)   # the current frame, unsmeared


def test_settings_assigned_between_frames_take_effect() -> None:
    torch_filter, numpy_filter = TorchTemporalFilter(None, "cpu"), TemporalFilter()
    frames = sequence(3, True, True, True)
    for index, (depth, confidence, k, motion, stamp) in enumerate(frames):
        if index == 4:
            torch_filter.settings = numpy_filter.settings = TemporalSettings(confirm_frames=2, reset_rel=0.05)
        assert_same(torch_filter.update(depth, confidence, k, motion, stamp_s=stamp),
                    numpy_filter.update(depth, confidence, k, motion, stamp_s=stamp))
    torch_filter.reset()
    assert not torch_filter.has_history


def test_factory_picks_numpy_on_the_host_and_torch_on_a_torch_device() -> None:
    for host in (None, "cpu", "numpy"):
        chosen = make_temporal_filter(TemporalSettings(reset_rel=0.2), host)
        assert type(chosen) is TemporalFilter and chosen.settings.reset_rel == 0.2
    on_torch = make_temporal_filter(None, "torch:cpu")
    assert isinstance(on_torch, TorchTemporalFilter) and on_torch.device == torch.device("cpu")


def test_read_only_and_strided_inputs() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.1, 0.02)
    wide = np.zeros((K.height, 2 * K.width), np.float32)
    wide[:, ::2] = box_in_front(pose0)
    first = wide[:, ::2]                                   # a strided view
    second = box_in_front(pose1)
    second[50:60, 50:60] = np.nan
    confidence = np.full_like(second, 0.7)
    for array in (first, second, confidence):
        array.setflags(write=False)                        # e.g. a ROS message's buffer
    results = []
    for filt in (TemporalFilter(), TorchTemporalFilter(None, "cpu")):
        filt.update(first, confidence, K)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(filt.update(second, confidence, K, np.linalg.solve(pose1, pose0)))
    assert results[0].filled_pixels == results[1].filled_pixels == 100
    assert_same(results[1], results[0])


def test_no_background_through_the_cracks_of_an_approached_box() -> None:
    expected, hole, truth = approach_with_a_hole_where_the_box_moved_in(TemporalFilter())
    got, _, _ = approach_with_a_hole_where_the_box_moved_in(TorchTemporalFilter(None, "cpu"))
    assert_same(got, expected)
    filled = hole & np.isfinite(got.depth_m)
    assert filled.sum() > 0.5 * hole.sum()
    assert float(np.max(np.abs(got.depth_m[filled] - truth[filled]))) < 0.05


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the unusable-device case is not here")
def test_an_unusable_device_is_one_config_error_at_construction() -> None:
    for device in ("cuda", "cuda:1", "no-such-device"):
        with pytest.raises(ConfigError, match=f"temporal filter: torch device '{device}' is not usable here"):
            make_temporal_filter(None, device)


def test_torch_filter_holds_a_pixel_one_frame_at_most_as_the_numpy_filter() -> None:
    # confirm_frames 2, a box crossing the scene generator's moving camera: the same held pixels, none twice
    k, frames = scene_sequence(12, box=True)
    settings = TemporalSettings(confirm_frames=2, pose_required=True)
    expected, _, _ = run_held(TemporalFilter(settings), k, frames)
    got, held, again = run_held(TorchTemporalFilter(settings, "cpu"), k, frames)
    for got_result, expected_result in zip(got, expected, strict=True):
        assert_same(got_result, expected_result)
    assert sum(held) > 500 and again == [0] * (len(frames) - 1)
