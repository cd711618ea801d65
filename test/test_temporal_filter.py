"""The temporal filter (lingbot_depth_ros.pipeline.temporal_filter): convergence at a standing camera, exact
warping of a planar scene under a known camera motion, no trail behind a moving object, a whole-history reset
with its reason for each kind of bad input (the output is then the current frame, unsmeared), and the confidence
that travels with the depth (current / max / history's, NaN exactly where the depth is NaN); confirm_frames 2:
a disagreeing pixel held one frame at most, and while the camera moves only where something new is in front (the
scene generator's moving camera, with and without a crossing box)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline import temporal_filter as tf
from lingbot_depth_ros.pipeline.temporal_filter import TemporalFilter, TemporalSettings
from lingbot_depth_ros.synthetic import SceneGenerator, crossing_box

K = CameraIntrinsics(fx=200.0, fy=200.0, cx=79.5, cy=59.5, width=160, height=120)


def plane_depth(world_T_camera: np.ndarray, k: CameraIntrinsics = K) -> np.ndarray:
    """Exact (H, W) float32 depth [m] of the tilted world plane n . p = 5 seen from ``world_T_camera``."""
    normal, offset = np.array([0.1, 0.05, 1.0]), 5.0
    xs, ys = np.meshgrid((np.arange(k.width) - k.cx) / k.fx, (np.arange(k.height) - k.cy) / k.fy)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1)
    rot, trans = world_T_camera[:3, :3], world_T_camera[:3, 3]
    return ((offset - normal @ trans) / (rays @ (rot.T @ normal))).astype(np.float32)


def camera_pose(x_m: float, yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[0, 3] = x_m
    return pose


def test_static_camera_noisy_frames_converge() -> None:
    rng = np.random.default_rng(0)
    truth = plane_depth(np.eye(4))
    filt = TemporalFilter()
    raw, filtered = [], []
    for _ in range(30):
        frame = (truth * (1 + 0.02 * rng.standard_normal(truth.shape))).astype(np.float32)
        result = filt.update(frame, None, K)
        raw.append(frame)
        filtered.append(result.depth_m)
    raw_std = float(np.std(np.stack(raw[10:]), axis=0).mean())
    filtered_std = float(np.std(np.stack(filtered[10:]), axis=0).mean())
    assert filtered_std < 0.45 * raw_std
    # and it stays unbiased
    assert abs(float(np.mean(filtered[-1] - truth))) < 0.005


def test_moved_camera_warps_history_exactly() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.25, 0.04)
    filt = TemporalFilter()
    filt.update(plane_depth(pose0), None, K)
    current = plane_depth(pose1)
    with_hole = current.copy()
    with_hole[40:80, 60:100] = np.nan   # the current frame has no depth there: the history must fill it
    result = filt.update(with_hole, None, K, np.linalg.solve(pose1, pose0))
    assert result.reset_reason is None
    assert result.reset_pixels == 0                      # warped history agrees everywhere
    assert result.filled_pixels == 40 * 40
    hole = np.zeros(current.shape, bool)
    hole[40:80, 60:100] = True
    assert np.abs(result.depth_m[hole] - current[hole]).max() < 2e-3 * current[hole].max()
    seen = np.isfinite(result.depth_m) & ~hole
    assert np.abs(result.depth_m[seen] - current[seen]).max() < 2e-3 * current.max()


def test_update_at_pose_equals_relative_motion() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.25, 0.04)
    by_pose, by_motion = TemporalFilter(), TemporalFilter()
    by_pose.update_at_pose(plane_depth(pose0), None, K, pose0)
    by_motion.update(plane_depth(pose0), None, K)
    frame = plane_depth(pose1)
    frame[40:80, 60:100] = np.nan
    a = by_pose.update_at_pose(frame, None, K, pose1)
    b = by_motion.update(frame, None, K, np.linalg.solve(pose1, pose0))
    np.testing.assert_allclose(a.depth_m, b.depth_m, rtol=1e-6)
    assert a.filled_pixels == 40 * 40


def test_moving_object_leaves_no_trail() -> None:
    rng = np.random.default_rng(1)
    background = np.full((K.height, K.width), 10.0, np.float32)
    filt = TemporalFilter()
    errors = []
    for frame_index in range(20):
        truth = background.copy()
        if frame_index < 12:                              # a box at 3 m crossing the view, then gone
            left = 10 + 8 * frame_index
            truth[30:90, left:left + 30] = 3.0
        noisy = (truth * (1 + 0.01 * rng.standard_normal(truth.shape))).astype(np.float32)
        result = filt.update(noisy, None, K)
        errors.append(np.abs(result.depth_m - truth))
    left_at = errors[12][30:90, 10 + 8 * 11:10 + 8 * 11 + 30]   # where the box was last frame
    static_level = float(np.median(errors[19]))
    assert float(left_at.max()) < 10 * 0.05                         # no 7 m ghost
    assert float(np.median(left_at)) < 3 * static_level + 0.05     # back to the static level within one frame


def test_confidence_weights_the_blend() -> None:
    filt = TemporalFilter()
    first = np.full((K.height, K.width), 5.0, np.float32)
    filt.update(first, np.ones_like(first), K)
    second = np.full_like(first, 5.2)
    low = filt.update(second, np.full_like(first, 0.1), K)
    assert np.allclose(low.depth_m, (5.0 * 1 + 5.2 * 0.1) / 1.1, atol=1e-4)
    zero = TemporalFilter()
    zero.update(first, None, K)
    result = zero.update(second, np.zeros_like(first), K)   # confidence 0 = not used: the history holds
    assert np.allclose(result.depth_m, 5.0)


def _pose_not_rigid() -> np.ndarray:
    motion = np.eye(4)
    motion[:3, :3] *= 1.2
    return motion


def _pose_nan() -> np.ndarray:
    motion = np.eye(4)
    motion[0, 3] = np.nan
    return motion


@pytest.mark.parametrize(("reason", "settings", "second_call"), [
    (tf.POSE_MISSING, TemporalSettings(pose_required=True), lambda f, d: f.update(d, None, K, None, stamp_s=1.1)),
    (tf.POSE_NOT_FINITE, TemporalSettings(), lambda f, d: f.update(d, None, K, _pose_nan(), stamp_s=1.1)),
    (tf.POSE_NOT_RIGID, TemporalSettings(), lambda f, d: f.update(d, None, K, _pose_not_rigid(), stamp_s=1.1)),
    (tf.TIME_BACKWARDS, TemporalSettings(), lambda f, d: f.update(d, None, K, None, stamp_s=0.9)),
    (tf.TIME_GAP, TemporalSettings(max_gap_s=0.5), lambda f, d: f.update(d, None, K, None, stamp_s=2.0)),
    (tf.JUMP, TemporalSettings(max_jump_m=1.0),
     lambda f, d: f.update(d, None, K, camera_pose(3.0, 0.0), stamp_s=1.1)),
    (tf.INTRINSICS_CHANGED, TemporalSettings(),
     lambda f, d: f.update(d, None, CameraIntrinsics(210.0, 210.0, 79.5, 59.5, 160, 120), None, stamp_s=1.1)),
])
def test_bad_input_resets_with_reason(reason: str, settings: TemporalSettings,
                                     second_call: Callable[[TemporalFilter, np.ndarray], tf.TemporalResult]) -> None:
    filt = TemporalFilter(settings)
    filt.update(np.full((K.height, K.width), 5.0, np.float32), None, K, None, stamp_s=1.0)
    current = np.full((K.height, K.width), 5.3, np.float32)   # agrees within reset_rel: a blend would smear
    result = second_call(filt, current)
    assert result.reset_reason == reason
    np.testing.assert_array_equal(result.depth_m, current)      # the current frame, unsmeared
    # and the filter goes on from the new frame
    after = filt.update(current, None, result_intrinsics(reason), None if reason == tf.POSE_MISSING else np.eye(4))
    assert after.reset_reason == (tf.POSE_MISSING if reason == tf.POSE_MISSING else None)


def result_intrinsics(reason: str) -> CameraIntrinsics:
    return CameraIntrinsics(210.0, 210.0, 79.5, 59.5, 160, 120) if reason == tf.INTRINSICS_CHANGED else K


def test_size_change_resets() -> None:
    filt = TemporalFilter()
    filt.update(np.full((K.height, K.width), 5.0, np.float32), None, K)
    small = CameraIntrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    result = filt.update(np.full((60, 80), 5.3, np.float32), None, small)
    assert result.reset_reason == tf.SIZE_CHANGED
    assert np.all(result.depth_m == np.float32(5.3))


def test_update_at_pose_non_unit_quaternion_and_nan_pose_reset() -> None:
    filt = TemporalFilter()
    frame = np.full((K.height, K.width), 5.0, np.float32)
    filt.update_at_pose(frame, None, K, ((0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0)))
    bad_q = filt.update_at_pose(frame * 1.05, None, K, ((0.0, 0.0, 0.0, 1.5), (0.0, 0.0, 0.0)))
    assert bad_q.reset_reason == tf.NON_UNIT_QUATERNION
    assert np.all(bad_q.depth_m == np.float32(5.25))
    # the next good pose has no previous pose to move from: the history cannot be warped
    good = filt.update_at_pose(frame, None, K, ((0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0)))
    assert good.reset_reason == tf.POSE_MISSING
    nan_pose = filt.update_at_pose(frame, None, K, ((0.0, 0.0, 0.0, 1.0), (np.nan, 0.0, 0.0)))
    assert nan_pose.reset_reason == tf.POSE_NOT_FINITE
    filt.update_at_pose(frame, None, K, np.eye(4))
    missing = filt.update_at_pose(frame * 1.05, None, K, None)   # pose source without a pose: no static blend
    assert missing.reset_reason == tf.POSE_MISSING
    assert np.all(missing.depth_m == np.float32(5.25))


def test_malformed_arrays_and_settings_raise() -> None:
    filt = TemporalFilter()
    with pytest.raises(InputError, match="must be \\(H, W\\)"):
        filt.update(np.zeros((K.height, K.width, 1), np.float32), None, K)
    with pytest.raises(InputError, match="intrinsics are for 160x120"):
        filt.update(np.zeros((10, 10), np.float32), None, K)
    with pytest.raises(InputError, match="confidence shape"):
        filt.update(np.ones((K.height, K.width), np.float32), np.ones((3, 3)), K)
    with pytest.raises(ConfigError, match="reset_rel"):
        TemporalSettings(reset_rel=0)
    with pytest.raises(ConfigError, match="hole_decay"):
        TemporalSettings(hole_decay=2)


def test_confirm_frames_holds_one_disagreeing_frame_then_resets() -> None:
    filt = TemporalFilter(TemporalSettings(confirm_frames=2))
    background = np.full((K.height, K.width), 10.0, np.float32)
    for _ in range(3):
        filt.update(background, None, K)
    box = background.copy()
    box[30:90, 40:100] = 3.0
    first = filt.update(box, None, K)           # first frame with the box: the history is held
    assert np.allclose(first.depth_m[30:90, 40:100], 10.0) and first.reset_pixels == 0
    second = filt.update(box, None, K)          # confirmed: reset to the box, one frame late
    assert np.allclose(second.depth_m[30:90, 40:100], 3.0) and second.reset_pixels == 60 * 60
    # a single outlier frame (dropout / edge flicker) never reaches the output
    filt.update(box, None, K)
    spike = box.copy()
    spike[0:10, 0:10] = 20.0
    assert np.allclose(filt.update(spike, None, K).depth_m[0:10, 0:10], 10.0)
    assert np.allclose(filt.update(box, None, K).depth_m[0:10, 0:10], 10.0)


def box_in_front(world_T_camera: np.ndarray, k: CameraIntrinsics = K) -> np.ndarray:
    """:func:`plane_depth` with a world-fixed square (world z = 2.5 m, |x|, |y| <= 0.25 m) in front of it."""
    depth = plane_depth(world_T_camera, k)
    xs, ys = np.meshgrid((np.arange(k.width) - k.cx) / k.fx, (np.arange(k.height) - k.cy) / k.fy)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1) @ world_T_camera[:3, :3].T   # ray directions in the world
    trans = world_T_camera[:3, 3]
    scale = (2.5 - trans[2]) / rays[..., 2]                                       # depth along the ray
    hit = trans + rays * scale[..., None]
    on_box = (np.abs(hit[..., 0]) <= 0.25) & (np.abs(hit[..., 1]) <= 0.25) & (scale > 0)
    box_depth = scale                                       # optical-axis depth: the ray's z in the camera is 1
    return np.where(on_box & (box_depth < depth), box_depth, depth).astype(np.float32)


def test_confirm_frames_follows_a_moving_camera() -> None:
    pose0, pose1, pose2 = camera_pose(0.0, 0.0), camera_pose(0.15, 0.01), camera_pose(0.3, 0.02)
    filt = TemporalFilter(TemporalSettings(confirm_frames=2))
    filt.update(plane_depth(pose0), None, K)                # the box is not there yet
    first = filt.update(box_in_front(pose1), None, K, np.linalg.solve(pose1, pose0))
    assert first.reset_pixels == 0                          # held
    second = filt.update(box_in_front(pose2), None, K, np.linalg.solve(pose2, pose1))
    on_box = box_in_front(pose2) < plane_depth(pose2) - 0.5
    assert on_box.sum() > 600
    # the pending box depth was warped along with the camera and confirmed by this frame, all but its rim
    assert second.reset_pixels > 0.85 * on_box.sum()
    assert float(np.median(np.abs(second.depth_m[on_box] - box_in_front(pose2)[on_box]))) < 1e-3


def test_holes_filled_from_history_are_right_or_left_empty_at_disocclusions() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.3, 0.0)   # sideways: the box uncovers background
    filt = TemporalFilter()
    filt.update(box_in_front(pose0), None, K)
    result = filt.update(np.full((K.height, K.width), np.nan, np.float32), None, K, np.linalg.solve(pose1, pose0))
    truth = box_in_front(pose1)
    filled = np.isfinite(result.depth_m)
    assert filled.sum() > 0.8 * filled.size
    rel = np.abs(result.depth_m[filled] - truth[filled]) / truth[filled]
    assert float(np.mean(rel > 0.01)) < 0.002    # no box depth smeared over the uncovered background
    on_box = truth < 4
    assert filled[on_box].mean() > 0.95          # the box itself is there (splatted where sampling found background)
    assert float(np.median(np.abs(result.depth_m[on_box] - truth[on_box]))) < 1e-3


# ---------------------------------------------------------------- confidence through the filter


def test_confidence_is_none_without_a_confidence_map() -> None:
    filt = TemporalFilter()
    frame = np.full((K.height, K.width), 5.0, np.float32)
    assert filt.update(frame, None, K).confidence is None          # first frame (a restart)
    assert filt.update(frame, None, K).confidence is None          # blended frame
    assert filt.update(frame, np.ones_like(frame), K).confidence is not None


def test_confidence_of_new_blended_reset_and_filled_pixels_at_a_standing_camera() -> None:
    filt = TemporalFilter()
    first = np.full((K.height, K.width), 5.0, np.float32)
    first[:, :10] = np.nan                                         # never seen: stays NaN when the next has none
    first_conf = np.full_like(first, 0.6)
    first_conf[:, 100:] = 0.3
    started = filt.update(first, first_conf, K)
    assert started.confidence is not None
    np.testing.assert_array_equal(np.isnan(started.confidence), np.isnan(started.depth_m))
    assert np.all(started.confidence[:, 10:100] == np.float32(0.6))
    second = first.copy()
    second[:, :5] = 4.0                                            # new pixels (no history): the current confidence
    second[:, 20:30] = np.nan                                      # holes: filled from history, its confidence
    second[:, 40:50] = 3.0                                         # disagree: reset to the current value
    second[0:10, 60:70] = 5.0
    second_conf = np.full_like(first, 0.5)
    second_conf[:, 5:10] = 0.0                                     # confidence 0: not used, no history either
    second_conf[:, 110:] = 0.9
    result = filt.update(second, second_conf, K)
    conf = result.confidence
    assert conf is not None and conf.dtype == np.float32 and conf.shape == first.shape
    np.testing.assert_array_equal(np.isnan(conf), np.isnan(result.depth_m))   # NaN exactly where depth is NaN
    assert np.isnan(result.depth_m[:, 5:10]).all()
    assert np.all(conf[:, :5] == np.float32(0.5))                 # new pixel: current
    assert np.all(conf[:, 20:30] == np.float32(0.6))              # filled from history: history's
    assert np.all(conf[:, 40:50] == np.float32(0.5))              # reset: current
    assert np.all(conf[:, 60:70] == np.float32(0.6))              # blended: max(0.5 current, 0.6 history)
    assert np.all(conf[:, 100:110] == np.float32(0.5))            # blended: max(0.5 current, 0.3 history)
    assert np.all(conf[:, 110:] == np.float32(0.9))               # blended: max(0.9 current, 0.3 history)
    # the history's confidence is the output's: a hole the next frame fills again carries the blended value
    third = second.copy()
    third[:, 110:120] = np.nan
    refilled = filt.update(third, np.full_like(first, 0.1), K).confidence
    assert refilled is not None and np.all(refilled[:, 110:120] == np.float32(0.9))


def test_filled_pixels_carry_the_warped_history_confidence_after_a_camera_motion() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.25, 0.04)
    u = np.arange(K.width, dtype=np.float32)
    ramp = np.broadcast_to(0.2 + 0.6 * u / K.width, (K.height, K.width)).astype(np.float32)   # linear in u
    filt = TemporalFilter()
    filt.update(plane_depth(pose0), ramp, K)
    current = plane_depth(pose1)
    current[40:80, 60:100] = np.nan
    result = filt.update(current, np.full_like(current, 0.1), K, np.linalg.solve(pose1, pose0))
    conf = result.confidence
    assert conf is not None and result.filled_pixels == 40 * 40
    np.testing.assert_array_equal(np.isnan(conf), np.isnan(result.depth_m))
    # where each hole pixel was in the previous frame: its 3-D point moved back by the motion, projected
    truth = plane_depth(pose1)
    vs, us = np.mgrid[40:80, 60:100]
    points = np.stack([(us - K.cx) / K.fx * truth[40:80, 60:100], (vs - K.cy) / K.fy * truth[40:80, 60:100],
                       truth[40:80, 60:100], np.ones((40, 40))], -1) @ np.linalg.solve(pose0, pose1).T
    source_u = K.fx * points[..., 0] / points[..., 2] + K.cx
    assert np.abs(source_u - us).min() > 5                        # the camera did move the hole's pixels
    np.testing.assert_allclose(conf[40:80, 60:100], 0.2 + 0.6 * source_u / K.width, atol=2e-3)
    # blended pixels: max(0.1 current, the warped ramp >= 0.2) = the warped history's; pixels the history does
    # not reach (entering the view): the current 0.1
    measured = conf[np.isfinite(current)]
    assert result.reset_pixels == 0 and result.blended_pixels > 0.8 * measured.size
    assert np.count_nonzero(measured >= 0.2 - 1e-6) == result.blended_pixels
    assert np.all(measured[measured < 0.2] == np.float32(0.1))


def test_splatted_hole_pixels_carry_the_splatted_confidence() -> None:
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.3, 0.0)
    first = box_in_front(pose0)
    first_conf = np.where(first < 4, 0.5, 0.8).astype(np.float32)   # the box 0.5, the plane behind 0.8
    filt = TemporalFilter()
    filt.update(first, first_conf, K)
    result = filt.update(np.full((K.height, K.width), np.nan, np.float32), np.zeros_like(first), K,
                         np.linalg.solve(pose1, pose0))
    conf = result.confidence
    assert conf is not None
    np.testing.assert_array_equal(np.isnan(conf), np.isnan(result.depth_m))
    truth = box_in_front(pose1)
    on_box = (truth < 4) & np.isfinite(result.depth_m)
    assert on_box.sum() > 600
    assert float(np.mean(np.abs(conf[on_box] - 0.5) < 1e-3)) > 0.95   # incl. the splatted box pixels
    background = (truth > 4) & np.isfinite(result.depth_m)
    # without its 2-pixel rim (bilinear sampling mixes the two confidences across the box's edge)
    interior = cv2.erode(background.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert float(np.mean(np.abs(conf[interior] - 0.8) < 1e-3)) > 0.99


def test_confidence_of_a_reset_and_of_a_held_pixel() -> None:
    frame = np.full((K.height, K.width), 5.0, np.float32)
    filt = TemporalFilter(TemporalSettings(max_gap_s=0.5))
    filt.update(frame, np.full_like(frame, 0.7), K, stamp_s=1.0)
    current = frame * 1.02
    current[0, 0] = np.nan
    reset = filt.update(current, np.full_like(frame, 0.4), K, stamp_s=2.0)
    assert reset.reset_reason == tf.TIME_GAP and reset.confidence is not None
    np.testing.assert_array_equal(np.isnan(reset.confidence), np.isnan(reset.depth_m))
    assert np.all(reset.confidence[1:] == np.float32(0.4))        # the current frame alone
    # settings assigned between frames take effect: with confirm_frames=2 a first disagreeing frame is held,
    # and the held pixel keeps the history's confidence
    filt.settings = TemporalSettings(confirm_frames=2, max_gap_s=0.5)
    box = current.copy()
    box[30:90, 40:100] = 3.0
    held = filt.update(box, np.full_like(frame, 0.9), K, stamp_s=2.1)
    assert held.confidence is not None and np.allclose(held.depth_m[30:90, 40:100], 5.1)
    assert np.all(held.confidence[30:90, 40:100] == np.float32(0.4))
    confirmed = filt.update(box, np.full_like(frame, 0.9), K, stamp_s=2.2)
    assert confirmed.confidence is not None and np.all(confirmed.confidence[30:90, 40:100] == np.float32(0.9))


# ---------------------------------------------------------------- the fast path's own risks (work arrays, splat)


def _moving_sequence(filt: TemporalFilter, k: CameraIntrinsics = K) -> list[tf.TemporalResult]:
    """Four frames of :func:`box_in_front` along a sideways camera path, with holes and a confidence map."""
    rng = np.random.default_rng(3)
    results, previous = [], None
    for index in range(4):
        pose = camera_pose(0.08 * index, 0.01 * index)
        depth = box_in_front(pose, k)
        depth[rng.random(depth.shape) < 0.05] = np.nan
        depth[10:30, 20 + 10 * index:50 + 10 * index] = np.nan
        confidence = rng.uniform(0.3, 1.0, depth.shape).astype(np.float32)
        motion: np.ndarray | None = None if previous is None else np.linalg.solve(pose, previous)
        results.append(filt.update(depth, confidence, k, motion))
        previous = pose
    return results


def test_results_are_not_overwritten_by_later_frames() -> None:
    filt = TemporalFilter()
    first = _moving_sequence(filt)
    kept = [(r.depth_m.copy(), r.weight.copy(), None if r.confidence is None else r.confidence.copy()) for r in first]
    _moving_sequence(filt)   # more frames through the same filter (its work arrays are reused)
    for result, (depth, weight, confidence) in zip(first, kept, strict=True):
        np.testing.assert_array_equal(result.depth_m, depth)
        np.testing.assert_array_equal(result.weight, weight)
        assert result.confidence is not None and confidence is not None
        np.testing.assert_array_equal(result.confidence, confidence)


def test_a_filter_that_changed_size_equals_a_fresh_one() -> None:
    small = CameraIntrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    used = TemporalFilter()
    _moving_sequence(used)
    resized = _moving_sequence(used, small)
    assert resized[0].reset_reason == tf.SIZE_CHANGED
    fresh = _moving_sequence(TemporalFilter(), small)
    assert resized[-1].filled_pixels > 0 and resized[-1].blended_pixels > 0
    for a, b in zip(resized, fresh, strict=True):
        np.testing.assert_array_equal(a.depth_m, b.depth_m)
        np.testing.assert_array_equal(a.weight, b.weight)
        assert a.confidence is not None and b.confidence is not None
        np.testing.assert_array_equal(a.confidence, b.confidence)


def test_a_hole_where_the_box_moved_in_is_filled_with_the_box_not_the_background() -> None:
    # the current frame is dense but for a hole on the box's new position: inverse sampling at the history's depth
    # there (background) finds background; the forward splat of the box (its pixels landing next to the hole) must
    # win
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.3, 0.0)
    filt = TemporalFilter()
    filt.update(box_in_front(pose0), None, K)
    truth = box_in_front(pose1)
    on_box_now = truth < 4
    background_before = box_in_front(pose0) > 4
    hole = on_box_now & background_before              # the box moved in where the history has background
    assert hole.sum() > 100
    current = np.where(hole, np.nan, truth).astype(np.float32)
    result = filt.update(current, None, K, np.linalg.solve(pose1, pose0))
    filled = hole & np.isfinite(result.depth_m)
    assert filled.sum() > 0.9 * hole.sum()
    assert float(np.max(np.abs(result.depth_m[filled] - truth[filled]))) < 0.05   # box (2.5 m), not plane (~5 m)


def test_factory_without_torch_gives_the_numpy_filter_or_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from lingbot_depth_ros.optional import MissingExtraError
    from lingbot_depth_ros.pipeline.temporal_filter_factory import make_temporal_filter
    monkeypatch.setitem(sys.modules, "torch", None)   # import torch fails as on a robot without the extra
    assert type(make_temporal_filter(TemporalSettings(), None)) is TemporalFilter
    assert type(make_temporal_filter(TemporalSettings(), "cpu")) is TemporalFilter
    with pytest.raises(MissingExtraError, match="temporal filter on device 'cuda:0' needs .* torch"):
        make_temporal_filter(TemporalSettings(), "cuda:0")


def approach_with_a_hole_where_the_box_moved_in(filt: TemporalFilter, hole_share: float = 1.0
                                                ) -> tuple[tf.TemporalResult, np.ndarray, np.ndarray]:
    """The camera moves 0.5 m towards the box and 0.3 m sideways; the current frame has no depth where the box
    moved in over background (on a random ``hole_share`` of those pixels). Returns (result, the hole mask, the
    true depth)."""
    pose0, pose1 = camera_pose(0.0, 0.0), camera_pose(0.3, 0.0)
    pose1[2, 3] = 0.5
    filt.update(box_in_front(pose0), None, K)
    truth = box_in_front(pose1)
    hole = (truth < 4) & (box_in_front(pose0) > 4) & (np.random.default_rng(0).random(truth.shape) < hole_share)
    result = filt.update(np.where(hole, np.nan, truth).astype(np.float32), None, K, np.linalg.solve(pose1, pose0))
    return result, hole, truth


@pytest.mark.parametrize("hole_share", [1.0, 0.5])
def test_no_background_through_the_cracks_of_an_approached_box(hole_share: float) -> None:
    # approached, the box's splat spreads apart and the background behind it lands in the cracks: a hole pixel
    # there must not take it (it is behind its neighbourhood), it is rather left empty. Scattered holes (0.5):
    # the neighbourhood includes pixels with a current depth (the splat must be there too)
    result, hole, truth = approach_with_a_hole_where_the_box_moved_in(TemporalFilter(), hole_share)
    filled = hole & np.isfinite(result.depth_m)
    assert hole.sum() > 900 and filled.sum() > 0.5 * hole.sum()
    assert float(np.max(np.abs(result.depth_m[filled] - truth[filled]))) < 0.05


# ---------------------------------------------------------------- confirm_frames 2 while the camera moves


def scene_sequence(frames: int = 20, box: bool = False, noise: float = 0.0
                   ) -> tuple[CameraIntrinsics, list[tuple[np.ndarray, np.ndarray]]]:
    """The scene generator's moving camera (320x240, seed 0; with ``box`` a box crossing at 1 m/s): (intrinsics,
    [(exact depth [m] times 1 + ``noise`` x a standard normal, world_T_camera)])."""
    gen = SceneGenerator(width=320, height=240, seed=0,
                         moving_box=crossing_box(1.0, distance_m=3.5, start_y_m=2.6) if box else None)
    rng = np.random.default_rng(1)
    return gen.intrinsics, [((f.depth_gt_m * (1 + noise * rng.standard_normal(f.depth_gt_m.shape))
                              ).astype(np.float32), f.camera_pose) for f in gen.frames(frames)]


def held_pixels(depth: np.ndarray, result: tf.TemporalResult, reset_rel: float = 0.1) -> np.ndarray:
    """(H, W) bool: the pixels with a current depth whose output is the history, off by more than ``reset_rel``
    (held by confirm_frames 2; a blend never is that far off)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (np.abs(result.depth_m - depth) > reset_rel * depth)


def held_again(previous: tuple[np.ndarray, np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray, np.ndarray],
               k: CameraIntrinsics) -> int:
    """How many pixels held in the previous frame (depth, held mask, world_T_camera) are held again in the current
    one: each held pixel moved with its depth into the current frame (nearest pixel), where the current depth
    sees the same point (within 5 %)."""
    depth0, held0, pose0 = previous
    depth1, held1, pose1 = current
    rows, cols = np.nonzero(held0)
    z = depth0[rows, cols].astype(np.float64)
    points = np.stack([(cols - k.cx) / k.fx * z, (rows - k.cy) / k.fy * z, z, np.ones_like(z)])
    moved = np.linalg.solve(pose1, pose0) @ points
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.rint(k.fx * moved[0] / moved[2] + k.cx)
        v = np.rint(k.fy * moved[1] / moved[2] + k.cy)
    inside = (moved[2] > 0) & (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
    u, v, z1 = u[inside].astype(int), v[inside].astype(int), moved[2][inside]
    same_point = np.abs(depth1[v, u] - z1) <= 0.05 * z1
    return int(np.count_nonzero(held1[v, u] & same_point))


def run_held(filt: TemporalFilter, k: CameraIntrinsics, frames: list[tuple[np.ndarray, np.ndarray]]
             ) -> tuple[list[tf.TemporalResult], list[int], list[int]]:
    """``frames`` through ``filt`` (update_at_pose): the results, the held pixels per frame and the pixels held
    again per frame (from the second)."""
    results, held, again, previous = [], [], [], None
    for depth, pose in frames:
        result = filt.update_at_pose(depth, None, k, pose)
        mask = held_pixels(depth, result)
        if previous is not None:
            again.append(held_again(previous, (depth, mask, pose), k))
        results.append(result)
        held.append(int(mask.sum()))
        previous = (depth, mask, pose)
    return results, held, again


def test_confirm_frames_holds_a_pixel_one_frame_at_most_while_the_camera_moves() -> None:
    # a box crossing a moving camera's view: each frame the pixels it newly covers are held (in front of the
    # history: something new), and reset the next frame, confirmed or not; none is held twice in a row
    k, frames = scene_sequence(box=True)
    _, held, again = run_held(TemporalFilter(TemporalSettings(confirm_frames=2, pose_required=True)), k, frames)
    once = [r.reset_pixels for r in run_held(TemporalFilter(TemporalSettings(pose_required=True)), k, frames)[0]]
    assert sum(held) > 5000                    # the sequence does hold pixels
    assert again == [0] * (len(frames) - 1)    # none two frames in a row
    assert sum(held) <= 0.6 * sum(once)        # bounded: a share of what confirm_frames 1 resets


def test_confirm_frames_2_is_as_accurate_as_1_on_a_static_scene_while_the_camera_moves() -> None:
    # a static scene: what disagrees is a disocclusion (behind the history) or a depth edge (within the range of
    # the history around the sample point), explained by the motion and reset at once; nothing is held
    k, frames = scene_sequence(noise=0.01)
    truths = [SceneGenerator(width=320, height=240, seed=0).frame(i).depth_gt_m for i in range(len(frames))]
    rmse = {}
    for confirm in (1, 2):
        results, held, _ = run_held(TemporalFilter(TemporalSettings(confirm_frames=confirm, pose_required=True)),
                                    k, frames)
        rmse[confirm] = float(np.mean([np.sqrt(np.nanmean((r.depth_m - t) ** 2)) for r, t in zip(results, truths)]))
        assert sum(held) == 0
    assert rmse[2] <= 1.03 * rmse[1]


def test_a_held_pixel_is_found_by_any_sample_point_it_is_a_bilinear_neighbour_of() -> None:
    held = np.zeros((6, 8), bool)
    held[2, 3] = True
    # sample points (u, v) [px]: the four whose bilinear neighbours include (row 2, column 3), then four whose
    # do not (a nearest-pixel lookup would miss the first two and find none of the rest either)
    u = np.array([3.6, 2.4, 3.0, 2.01, 4.0, 1.9, 3.0, np.nan], np.float32)
    v = np.array([2.6, 1.4, 2.0, 1.99, 2.0, 2.0, 3.0, 2.0], np.float32)
    found = tf.held_near(held, u.reshape(1, -1).repeat(6, 0), v.reshape(1, -1).repeat(6, 0))
    assert found[0].tolist() == [True, True, True, True, False, False, False, False]
    edge = np.zeros((6, 8), bool)
    edge[0, 0] = True   # a point just outside the image still has it as a neighbour; one farther out does not
    points = np.array([-0.5, -1.5], np.float32).reshape(1, 2).repeat(6, 0)
    assert tf.held_near(edge[:, :2], points, np.zeros_like(points))[0].tolist() == [True, False]
