"""Multi-sweep LiDAR accumulation (lingbot_depth_ros.pipeline.lidar_sweeps): older sweeps densify the current
frame at the right depth (static camera and an exactly known camera motion), newer returns win, old returns that
disagree with newer ones (a moved object, parallax) are dropped, memory stays bounded, bad input resets."""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline import temporal_filter as tf
from lingbot_depth_ros.pipeline.lidar_sweeps import LidarSweeps, SweepSettings

K = CameraIntrinsics(fx=200.0, fy=200.0, cx=79.5, cy=59.5, width=160, height=120)


def plane_depth(world_T_camera: np.ndarray) -> np.ndarray:
    """Exact (H, W) depth [m] of the world plane n . p = 6 seen from ``world_T_camera``."""
    normal, offset = np.array([0.05, -0.1, 1.0]), 6.0
    xs, ys = np.meshgrid((np.arange(K.width) - K.cx) / K.fx, (np.arange(K.height) - K.cy) / K.fy)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1)
    rot, trans = world_T_camera[:3, :3], world_T_camera[:3, 3]
    return ((offset - normal @ trans) / (rays @ (rot.T @ normal))).astype(np.float32)


def scan_rows(depth: np.ndarray, first_row: int, step: int = 6) -> np.ndarray:
    """Keep every ``step``-th row from ``first_row`` (scan lines), zero elsewhere."""
    out = np.zeros_like(depth)
    out[first_row::step] = depth[first_row::step]
    return out


def pose_at(z_m: float, yaw_rad: float = 0.0) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[2, 3] = z_m
    return pose


def test_static_camera_sweeps_fill_dropouts_exactly() -> None:
    rng = np.random.default_rng(0)
    truth = scan_rows(plane_depth(np.eye(4)), 0, 4)
    sweeps = LidarSweeps(SweepSettings(sweeps=3))
    for stamp in (0.0, 0.1, 0.2):
        frame = np.where(rng.random(truth.shape) < 0.3, 0, truth).astype(np.float32)   # 30 % dropouts
        result = sweeps.add(frame, K, None, stamp)
    single = np.count_nonzero(frame)
    accumulated = np.count_nonzero(result.depth_m)
    assert accumulated > 1.2 * single
    assert np.count_nonzero(result.from_older) == accumulated - single
    filled = result.depth_m > 0
    np.testing.assert_allclose(result.depth_m[filled], truth[filled], rtol=1e-5)
    assert result.dropped == 0 and result.reset_reason is None


def test_moved_camera_reprojects_older_sweeps() -> None:
    poses = [pose_at(0.0), pose_at(0.4, 0.02), pose_at(0.8, 0.04)]
    sweeps = LidarSweeps(SweepSettings(sweeps=3))
    for index, pose in enumerate(poses):   # each sweep's scan lines land on other rows of the image
        result = sweeps.add(scan_rows(plane_depth(pose), 2 * index), K, pose, 0.1 * index)
    truth = plane_depth(poses[-1])
    assert np.count_nonzero(result.from_older) > np.count_nonzero(scan_rows(truth, 4))   # more than doubled
    old = result.from_older
    rel = np.abs(result.depth_m[old] - truth[old]) / truth[old]
    assert float(np.median(rel)) < 2e-3 and float(rel.max()) < 1e-2   # rounding to the pixel grid only
    assert result.dropped == 0


def test_newer_returns_win() -> None:
    sweeps = LidarSweeps(SweepSettings(sweeps=2))
    old = np.zeros((K.height, K.width), np.float32)
    old[50, 50] = 6.0
    sweeps.add(old, K)
    new = np.zeros_like(old)
    new[50, 50] = 6.2   # within disagree_rel: the newer value is kept
    result = sweeps.add(new, K)
    assert result.depth_m[50, 50] == np.float32(6.2) and not result.from_older[50, 50]


def test_returns_of_a_moved_object_are_dropped() -> None:
    background = np.full((K.height, K.width), 10.0, np.float32)
    with_box = background.copy()
    with_box[30:90, 40:100] = 3.0
    sweeps = LidarSweeps(SweepSettings(sweeps=2))
    sweeps.add(scan_rows(with_box, 0), K)        # the box was there
    result = sweeps.add(scan_rows(background, 3), K)   # it has gone; the new scan lines lie between the old
    assert result.dropped > 0
    assert not np.any((result.depth_m > 0) & (result.depth_m < 5))   # no ghost of the box
    assert np.count_nonzero(result.from_older) > 0                    # the background still densified


def test_occluded_old_returns_are_dropped() -> None:
    far = np.full((K.height, K.width), 20.0, np.float32)
    near = far.copy()
    near[:, 60:100] = 4.0                         # something now stands in front
    sweeps = LidarSweeps(SweepSettings(sweeps=2))
    sweeps.add(scan_rows(far, 0), K)
    result = sweeps.add(scan_rows(near, 3), K)
    band = result.depth_m[:, 63:97]
    assert not np.any(band > 5)                   # no far return shows through the near object
    assert result.dropped > 0


def test_memory_is_bounded() -> None:
    sweeps = LidarSweeps(SweepSettings(sweeps=3, max_age_s=0))
    frame = scan_rows(plane_depth(np.eye(4)), 0, 4)
    per_frame = np.count_nonzero(frame)
    for stamp in range(10):
        sweeps.add(frame, K, None, float(stamp))
    assert sweeps.held_points == 2 * per_frame


def test_one_sweep_is_the_current_frame() -> None:
    sweeps = LidarSweeps()
    frame = scan_rows(plane_depth(np.eye(4)), 0, 4)
    sweeps.add(scan_rows(plane_depth(np.eye(4)), 2, 4), K)
    result = sweeps.add(frame, K)
    np.testing.assert_array_equal(result.depth_m, frame)
    assert sweeps.held_points == 0


def test_too_old_sweeps_are_not_used() -> None:
    sweeps = LidarSweeps(SweepSettings(sweeps=2, max_age_s=0.5))
    sweeps.add(scan_rows(plane_depth(np.eye(4)), 0, 4), K, None, 0.0)
    result = sweeps.add(scan_rows(plane_depth(np.eye(4)), 2, 4), K, None, 2.0)
    assert not result.from_older.any()


def _nan_pose() -> np.ndarray:
    pose = np.eye(4)
    pose[1, 3] = np.nan
    return pose


@pytest.mark.parametrize(("reason", "second"), [
    (tf.TIME_BACKWARDS, dict(intrinsics=K, world_T_camera=np.eye(4), stamp_s=0.5)),
    (tf.POSE_NOT_FINITE, dict(intrinsics=K, world_T_camera=_nan_pose(), stamp_s=1.1)),
    (tf.POSE_MISSING, dict(intrinsics=K, world_T_camera=None, stamp_s=1.1)),
    (tf.INTRINSICS_CHANGED, dict(intrinsics=CameraIntrinsics(210.0, 210.0, 79.5, 59.5, 160, 120),
                                 world_T_camera=np.eye(4), stamp_s=1.1)),
])
def test_bad_input_resets_with_reason(reason: str, second: dict) -> None:
    sweeps = LidarSweeps(SweepSettings(sweeps=3))
    sweeps.add(scan_rows(plane_depth(np.eye(4)), 0, 4), K, np.eye(4), 1.0)
    frame = scan_rows(plane_depth(np.eye(4)), 2, 4)
    result = sweeps.add(frame, **second)
    assert result.reset_reason == reason
    np.testing.assert_array_equal(result.depth_m, frame)
    assert not result.from_older.any()


def test_size_change_resets_and_bad_arrays_raise() -> None:
    sweeps = LidarSweeps(SweepSettings(sweeps=3))
    sweeps.add(scan_rows(plane_depth(np.eye(4)), 0, 4), K)
    small = CameraIntrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    result = sweeps.add(np.ones((60, 80), np.float32), small)
    assert result.reset_reason == tf.SIZE_CHANGED and not result.from_older.any()
    with pytest.raises(InputError, match="does not match the intrinsics"):
        sweeps.add(np.ones((5, 5), np.float32), small)
    with pytest.raises(ConfigError, match="sweeps must be in 1..50"):
        SweepSettings(sweeps=0)


def test_exclusion_keeps_older_returns_off_newer_neighbours() -> None:
    old = np.zeros((K.height, K.width), np.float32)
    old[50, 50] = old[50, 60] = 6.0
    new = np.zeros_like(old)
    new[50, 51] = 6.1                              # a newer return right next to the first old one
    for exclusion_px, expected in ((0, {(50, 50), (50, 60)}), (1, {(50, 60)})):
        sweeps = LidarSweeps(SweepSettings(sweeps=2, exclusion_px=exclusion_px))
        sweeps.add(old, K)
        result = sweeps.add(new, K)
        assert {tuple(p) for p in np.argwhere(result.from_older)} == expected
