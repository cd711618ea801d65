"""Rigid transforms and the camera mounting convention, against hand-computed geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.transforms import (
    BODY_R_OPTICAL,
    RigidTransform,
    camera_pose_from_mounting,
    rotation_from_rpy,
)


def test_yaw_90_maps_x_to_y_and_translation_adds() -> None:
    t = RigidTransform.from_xyz_rpy(1.0, 2.0, 3.0, yaw=math.pi / 2)
    out = t.apply(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(out, [[1.0, 3.0, 3.0], [1.0, 2.0, 4.0]], atol=1e-12)


def test_rpy_order_is_fixed_axis_rz_ry_rx() -> None:
    roll, pitch, yaw = 0.3, -0.2, 1.1
    expected = (np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
                @ np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]])
                @ np.array([[1, 0, 0], [0, math.cos(roll), -math.sin(roll)], [0, math.sin(roll), math.cos(roll)]]))
    np.testing.assert_allclose(rotation_from_rpy(roll, pitch, yaw), expected, atol=1e-12)
    back = RigidTransform(expected, np.zeros(3)).rpy()
    np.testing.assert_allclose(back, (roll, pitch, yaw), atol=1e-12)


def test_quaternion_round_trip_and_known_value() -> None:
    # 90 degrees about z: q = (0, 0, sin45, cos45).
    s = math.sqrt(0.5)
    t = RigidTransform.from_quaternion([0.0, 0.0, s, s], translation=[0.5, 0.0, 0.0])
    np.testing.assert_allclose(t.rotation, rotation_from_rpy(0, 0, math.pi / 2), atol=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = -q if q[3] < 0 else q
        np.testing.assert_allclose(RigidTransform.from_quaternion(q).quaternion(), q, atol=1e-9)
    # Non-normalised input is normalised, not rejected.
    np.testing.assert_allclose(RigidTransform.from_quaternion([0, 0, 2 * s, 2 * s]).rotation, t.rotation, atol=1e-12)


def test_inverse_and_compose() -> None:
    a_t_b = RigidTransform.from_xyz_rpy(0.3, -0.1, 0.8, 0.1, 0.4, -0.7)
    b_t_c = RigidTransform.from_xyz_rpy(-1.0, 2.0, 0.0, -0.5, 0.0, 0.9)
    pts = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_allclose((a_t_b @ b_t_c).apply(pts), a_t_b.apply(b_t_c.apply(pts)), atol=1e-12)
    assert (a_t_b @ a_t_b.inverse()).almost_equal(RigidTransform.identity())
    np.testing.assert_allclose(a_t_b.inverse().apply(a_t_b.apply(pts)), pts, atol=1e-12)
    np.testing.assert_allclose(RigidTransform.from_matrix(a_t_b.matrix()).matrix(), a_t_b.matrix())


def test_apply_keeps_float32_and_organized_shape_and_nan() -> None:
    t = RigidTransform.from_xyz_rpy(1.0, 0.0, 0.0)
    grid = np.zeros((4, 5, 3), dtype=np.float32)
    grid[0, 0] = np.nan
    out = t.apply(grid)
    assert out.dtype == np.float32 and out.shape == (4, 5, 3)
    assert np.isnan(out[0, 0]).all() and np.allclose(out[1, 1], [1.0, 0.0, 0.0])


def test_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="proper rotation"):
        RigidTransform(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(InputError, match="zero norm"):
        RigidTransform.from_quaternion([0, 0, 0, 0])
    with pytest.raises(InputError, match=r"\(\.\.\., 3\)"):
        RigidTransform.identity().apply(np.zeros((4, 2)))
    with pytest.raises(InputError, match="finite"):
        camera_pose_from_mounting(float("nan"), 0.0)


def test_optical_axes_level_camera() -> None:
    base_t_opt = camera_pose_from_mounting(height_m=0.5, pitch_rad=0.0, roll_rad=0.0, x_m=0.2)
    # Optical z (forward) = base x, optical x (right) = base -y, optical y (down) = base -z.
    pts = base_t_opt.apply(np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(pts, [[2.2, 0.0, 0.5], [0.2, -1.0, 0.5], [0.2, 0.0, -0.5]], atol=1e-12)
    # The usual optical-frame quaternion of ROS drivers.
    np.testing.assert_allclose(RigidTransform(BODY_R_OPTICAL, np.zeros(3)).quaternion(), [-0.5, 0.5, -0.5, 0.5])


def test_positive_pitch_looks_down_and_hits_floor_where_trigonometry_says() -> None:
    height, pitch = 0.6, math.radians(30)
    base_t_opt = camera_pose_from_mounting(height_m=height, pitch_rad=pitch, roll_rad=0.0)
    # The optical axis hits the floor at horizontal distance h / tan(pitch), at range h / sin(pitch).
    hit = base_t_opt.apply(np.array([[0.0, 0.0, height / math.sin(pitch)]]))[0]
    np.testing.assert_allclose(hit, [height / math.tan(pitch), 0.0, 0.0], atol=1e-12)


def test_positive_yaw_looks_left_and_positive_roll_raises_left_edge() -> None:
    left = camera_pose_from_mounting(height_m=1.0, pitch_rad=0.0, roll_rad=0.0, yaw_rad=math.pi / 2)
    np.testing.assert_allclose(left.apply(np.array([[0.0, 0.0, 1.0]]))[0], [0.0, 1.0, 1.0], atol=1e-12)
    rolled = camera_pose_from_mounting(height_m=1.0, pitch_rad=0.0, roll_rad=math.radians(10))
    # A point 1 m to the image's left (optical -x) ends up higher than the camera.
    assert rolled.apply(np.array([[-1.0, 0.0, 2.0]]))[0, 2] > 1.0
