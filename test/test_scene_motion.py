"""What moves in the procedural scene (issue 21): a box crossing the view with exact per-frame depth, a static
camera segment, the LiDAR's scan phase drifting between frames; and the defaults render what they always did."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.generator import camera_pose
from lingbot_depth_ros.synthetic.motion import MovingBox, crossing_box, trajectory_index

SPEED_MPS = 1.0
QUIET_LIDAR = LidarConfig.preset(32, dropout=0.0, beam_dropout_spread=0.0, range_dropout=0.0,
                                 range_noise_std_m=0.0, range_noise_rel=0.0)


def _same_frames(a: SceneGenerator, b: SceneGenerator, indices: range) -> None:
    for i in indices:
        fa, fb = a.frame(i), b.frame(i)
        for name in ("rgb", "depth_gt_m", "sparse_depth_m", "lidar_points_lidar", "lidar_ring", "camera_pose"):
            np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name), err_msg=f"frame {i}: {name}")
        assert fa.stamp_ns == fb.stamp_ns


def test_defaults_are_the_neutral_settings() -> None:
    """The new options default to: no moving box, no static segment, a frame-locked LiDAR."""
    plain = SceneGenerator(width=96, height=72, seed=4)
    assert plain.moving_box is None and plain.static_segment is None and plain.lidar.scan_phase_drift_deg == 0.0
    assert plain.frame(2).moving_box_mask is None
    explicit = SceneGenerator(width=96, height=72, seed=4, moving_box=None, static_segment=None,
                              lidar=LidarConfig.preset(32, scan_phase_drift_deg=0.0))
    _same_frames(plain, explicit, range(3))


def test_an_invisible_moving_box_changes_nothing() -> None:
    """The moving-box code path renders exactly today's frames when the box is far outside the room (it draws no
    random numbers, shades nothing else)."""
    plain = SceneGenerator(width=96, height=72, seed=1)
    far_away = MovingBox(lo=(2.0, 40.0, 0.0), hi=(2.5, 40.5, 1.0), velocity_mps=(0.0, 1.0, 0.0))
    moved = SceneGenerator(width=96, height=72, seed=1, moving_box=far_away)
    _same_frames(plain, moved, range(4))
    mask = moved.frame(1).moving_box_mask
    assert mask is not None and not mask.any()


def test_static_segment_poses_are_equal_and_the_trajectory_goes_on_afterwards() -> None:
    moving = SceneGenerator(width=64, height=48, seed=0)
    held = SceneGenerator(width=64, height=48, seed=0, static_segment=(3, 5))
    for i in range(3):
        np.testing.assert_array_equal(held.pose_at(i), moving.pose_at(i))
    for i in range(3, 8):
        np.testing.assert_array_equal(held.pose_at(i), moving.pose_at(3))
        assert held.stamp_ns(i) == moving.stamp_ns(i)   # time goes on while the camera stands
    assert not np.allclose(moving.pose_at(4), moving.pose_at(3))
    for i in range(8, 11):   # frame 8 is where frame 4 would have been
        np.testing.assert_array_equal(held.pose_at(i), moving.pose_at(i - 4))
    assert [trajectory_index(i, (3, 5)) for i in range(10)] == [0, 1, 2, 3, 3, 3, 3, 3, 4, 5]
    frames = list(held.frames(3, start=4))
    np.testing.assert_array_equal(frames[0].depth_gt_m, frames[2].depth_gt_m)   # a static scene: same depth
    assert not np.array_equal(frames[0].sparse_depth_m, frames[2].sparse_depth_m)   # fresh LiDAR noise per frame


def test_the_crossing_box_moves_with_exact_depth_in_image_and_lidar() -> None:
    gen = SceneGenerator(width=320, height=240, seed=0, lidar=QUIET_LIDAR,
                         moving_box=crossing_box(SPEED_MPS, distance_m=3.5, start_y_m=1.2))
    pose = camera_pose((0.0, 0.0, 1.2), yaw_rad=0.0, pitch_rad=0.0)   # optical axis = world x: depth = x distance
    k = gen.intrinsics
    assert gen.moving_box is not None
    previous_mask: np.ndarray | None = None
    previous_depth = np.zeros(0)
    for index in (0, 1, 2, 5):
        frame = gen.render(pose, index=index)
        box = gen.moving_box.at(index / gen.rate_hz)
        mask = frame.moving_box_mask
        assert mask is not None and mask.sum() > 500
        # its front face x = 3.5 m: the depth there is exactly 3.5 m
        front = np.isclose(frame.depth_gt_m, 3.5, rtol=0, atol=1e-4) & mask
        assert front.sum() > 0.6 * mask.sum()   # the rest: its right side face, 3.5 .. 4.1 m deep
        assert ((frame.depth_gt_m[mask] > 3.5 - 1e-4) & (frame.depth_gt_m[mask] < 4.1 + 1e-4)).all()
        # its image columns are where its corners project (world y left = image x right)
        cols = np.flatnonzero(front.any(axis=0))
        expected = sorted(k.cx - k.fx * y / 3.5 for y in (box.lo[1], box.hi[1]))
        assert abs(cols.min() - expected[0]) <= 1.5 and abs(cols.max() - expected[1]) <= 1.5
        # the LiDAR hits it too, at its depth (a few returns from behind it show through at its top edge: the
        # LiDAR sits 8 cm above and 27 cm behind the camera)
        returns = (frame.sparse_depth_m > 0) & front
        assert returns.sum() > 50
        assert np.mean(np.abs(frame.sparse_depth_m[returns] - 3.5) < 0.01) > 0.85
        if previous_mask is not None:
            arrived = mask & ~previous_mask
            left = previous_mask & ~mask
            assert arrived.sum() > 100 and left.sum() > 100   # it moved to the right in the image
            # it stands in front of what was there (by a metre and more, except at its foot on the floor)
            assert (frame.depth_gt_m[arrived] < previous_depth[arrived]).all()
            assert np.mean(frame.depth_gt_m[arrived] < previous_depth[arrived] - 1.0) > 0.6
            assert (frame.depth_gt_m[left] > previous_depth[left]).all()
            assert np.mean(frame.depth_gt_m[left] > previous_depth[left] + 1.0) > 0.6
            elsewhere = ~mask & ~previous_mask
            np.testing.assert_array_equal(frame.depth_gt_m[elsewhere], previous_depth[elsewhere])
        previous_mask, previous_depth = mask, frame.depth_gt_m
    ids = gen.surface_ids(pose, index=5)
    assert ((ids == ids.max()) == gen.render(pose, index=5).moving_box_mask).all()


def test_scan_phase_drift_moves_the_returns_between_frames() -> None:
    """A standing camera and a LiDAR without noise or dropouts: frame-locked, every frame has its returns on the
    same pixels; with drift they land elsewhere, and the azimuths are offset by the frame's phase."""
    locked = SceneGenerator(width=320, height=240, seed=0, lidar=QUIET_LIDAR, static_segment=(0, 10))
    drifting = SceneGenerator(width=320, height=240, seed=0, static_segment=(0, 10),
                              lidar=LidarConfig.preset(32, dropout=0.0, beam_dropout_spread=0.0, range_dropout=0.0,
                                                       range_noise_std_m=0.0, range_noise_rel=0.0,
                                                       scan_phase_drift_deg=0.07))
    locked_hits = [locked.frame(i).sparse_depth_m > 0 for i in (1, 2, 3)]
    assert all(np.array_equal(locked_hits[0], h) for h in locked_hits[1:])
    drifting_frames = [drifting.frame(i) for i in (1, 2, 3)]
    drift_hits = [f.sparse_depth_m > 0 for f in drifting_frames]
    for a, b in zip(drift_hits, drift_hits[1:]):
        changed = np.count_nonzero(a != b) / np.count_nonzero(a)
        assert changed > 0.1, f"only {changed:.1%} of the returns moved"
    step = drifting.lidar.horizontal_resolution_deg
    for frame in drifting_frames:
        azimuth = np.degrees(np.arctan2(frame.lidar_points_lidar[:, 1], frame.lidar_points_lidar[:, 0]))
        offset = np.mod(azimuth, step)
        expected = math.degrees(drifting.lidar.scan_phase_rad(frame.index))
        assert expected == pytest.approx((frame.index * 0.07) % step)
        # circular distance of every return's azimuth offset from the frame's phase
        np.testing.assert_allclose(np.minimum(np.abs(offset - expected), step - np.abs(offset - expected)), 0,
                                   atol=2e-3)


def test_bad_motion_options_raise_input_errors() -> None:
    with pytest.raises(InputError, match="static_segment"):
        SceneGenerator(width=32, height=24, static_segment=(0, 0))
    with pytest.raises(InputError, match="static_segment"):
        SceneGenerator(width=32, height=24, static_segment=(-1, 3))
    with pytest.raises(InputError, match="velocity"):
        MovingBox(lo=(1.0, 0.0, 0.0), hi=(2.0, 1.0, 1.0), velocity_mps=(float("nan"), 0.0, 0.0))
    with pytest.raises(InputError, match="hi > lo"):
        MovingBox(lo=(1.0, 0.0, 0.0), hi=(1.0, 1.0, 1.0), velocity_mps=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="speed"):
        crossing_box(0.0)
    with pytest.raises(InputError, match="scan_phase_drift_deg"):
        LidarConfig.preset(32, scan_phase_drift_deg=float("inf"))
    # a box that runs over the camera: a clear error, not a garbage frame
    over_the_camera = SceneGenerator(width=32, height=24, seed=0,
                                     moving_box=MovingBox(lo=(-0.3, -0.5, 0.5), hi=(0.3, 0.5, 2.0),
                                                          velocity_mps=(0.0, 0.0, 0.0)))
    with pytest.raises(InputError, match="inside obstacle box"):
        over_the_camera.render(camera_pose((0.0, 0.0, 1.2), 0.0, 0.0))
