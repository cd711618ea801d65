"""Temporal metrics (evaluation/temporal_metrics.py) on constructed sequences with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.evaluation.temporal_metrics import TemporalMetrics, forward_warp, merge_parts, sequence_metrics
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

K = CameraIntrinsics(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=64, height=48)


def _plane(z_m: float) -> np.ndarray:
    return np.full((K.height, K.width), z_m, np.float32)


def _pose_z(z_m: float) -> np.ndarray:
    pose = np.eye(4)
    pose[2, 3] = z_m
    return pose


def test_a_steady_standing_camera_has_no_error_and_no_flicker() -> None:
    m = sequence_metrics([_plane(5.0)] * 4, K)
    assert m["consistency_error_m"] == pytest.approx(0.0, abs=1e-9)
    assert m["consistency_pairs"] == 3 and m["consistency_pixels"] == 3 * K.width * K.height
    assert m["flicker_m"] == pytest.approx(0.0, abs=1e-9)
    assert m["standing_segments"] == 1 and m["standing_frames"] == 4


def test_alternating_depth_gives_its_step_as_error_and_half_of_it_as_flicker() -> None:
    m = sequence_metrics([_plane(5.0), _plane(5.2), _plane(5.0), _plane(5.2)], K)
    assert m["consistency_error_m"] == pytest.approx(0.2, rel=1e-5)
    assert m["consistency_rel"] == pytest.approx((0.2 / 5.2 + 0.2 / 5.0 + 0.2 / 5.2) / 3, rel=1e-5)
    assert m["flicker_m"] == pytest.approx(0.1, rel=1e-4)   # std of 5.0, 5.2, 5.0, 5.2 (ddof 0)


def test_a_camera_moving_towards_a_plane_is_consistent_with_its_poses_and_not_without() -> None:
    depths = [_plane(10.0 - t) for t in range(4)]   # plane at world z = 10, camera 1 m closer each frame
    poses = [_pose_z(float(t)) for t in range(4)]
    with_poses = sequence_metrics(depths, K, poses)
    assert with_poses["consistency_error_m"] == pytest.approx(0.0, abs=1e-5)
    assert with_poses["consistency_pairs"] == 3
    assert with_poses["flicker_m"] is None and with_poses["standing_segments"] == 0   # never standing
    without = sequence_metrics(depths, K)   # taken for a standing camera: every pixel 1 m off
    assert without["consistency_error_m"] == pytest.approx(1.0, rel=1e-5)
    wrong = sequence_metrics([_plane(10.0), _plane(9.5)], K, poses[:2])   # 0.5 m further than the pose says
    assert wrong["consistency_error_m"] == pytest.approx(0.5, rel=1e-5)


def test_forward_warp_moves_a_point_by_the_camera_motion() -> None:
    depth = np.full((K.height, K.width), np.nan, np.float32)
    depth[23, 31] = 4.0   # ray through (31, 23): x = -0.5/50 * 4
    motion = np.eye(4)
    motion[0, 3] = 0.4   # the point is 0.4 m further right in the next camera: 0.4 * 50 / 4 = 5 px
    warped = forward_warp(depth, K, motion)
    assert np.isfinite(warped).sum() == 1
    assert warped[23, 36] == pytest.approx(4.0)


def test_a_missing_pose_skips_its_pairs_and_breaks_the_standing_segment() -> None:
    poses = [np.eye(4), np.eye(4), None, np.eye(4), np.eye(4), np.eye(4)]
    depths = [_plane(5.0), _plane(5.1), _plane(9.0), _plane(5.0), _plane(5.0), _plane(5.0)]
    m = sequence_metrics(depths, K, poses)
    assert m["consistency_pairs"] == 3   # 0-1, 3-4, 4-5 (not 1-2, 2-3)
    assert m["consistency_error_m"] == pytest.approx(0.1 / 3, rel=1e-4)
    assert m["standing_segments"] == 1 and m["standing_frames"] == 3   # frames 3-5 (0-1: too short)
    assert m["flicker_m"] == pytest.approx(0.0, abs=1e-9)


def test_points_the_ground_truth_shows_moving_are_left_out() -> None:
    gt0, gt1 = _plane(5.0), _plane(5.0)
    gt1[10:20, 10:20] = 2.0   # a box arrives in frame 1
    est0, est1 = _plane(5.0), _plane(5.0)
    est1[10:20, 10:20] = 2.0   # the estimate follows it: not a temporal error
    m = sequence_metrics([est0, est1], K, gts_m=[gt0, gt1])
    assert m["consistency_error_m"] == pytest.approx(0.0, abs=1e-9)
    assert m["consistency_pixels"] == K.width * K.height - 100
    unmasked = sequence_metrics([est0, est1], K)
    assert unmasked["consistency_error_m"] == pytest.approx(100 * 3.0 / (K.width * K.height), rel=1e-5)


def test_parts_of_one_sequence_add_up_to_the_whole() -> None:
    rng = np.random.default_rng(3)
    depths = [(5.0 + 0.1 * rng.standard_normal((K.height, K.width))).astype(np.float32) for _ in range(7)]
    whole = sequence_metrics(depths, K)
    metrics, parts = TemporalMetrics(posed=False), []
    for index, depth in enumerate(depths):
        metrics.add(index, depth, K)
        if index in (2, 4):   # units end after frames 2 and 4
            parts.append(metrics.part())
    parts.append(metrics.part())
    merged = merge_parts(parts)
    for key, value in whole.items():
        assert merged[key] == pytest.approx(value), key
    assert whole["flicker_m"] == pytest.approx(0.0888, rel=0.03)   # E[std, ddof 0] of 7 samples, sigma 0.1


def test_holes_and_a_size_change_count_only_valid_pixels_of_equal_frames() -> None:
    a = _plane(5.0)
    a[:, :32] = np.nan
    b = _plane(5.5)
    b[:, 48:] = 0.0
    m = sequence_metrics([a, b], K)
    assert m["consistency_pixels"] == 16 * K.height and m["consistency_error_m"] == pytest.approx(0.5, rel=1e-5)
    small = CameraIntrinsics(fx=50.0, fy=50.0, cx=15.5, cy=11.5, width=32, height=24)
    metrics = TemporalMetrics(posed=False)
    metrics.add(0, _plane(5.0), K)
    metrics.add(1, np.full((24, 32), 6.0, np.float32), small)   # another camera size: no pair
    assert metrics.summary()["consistency_pairs"] == 0
