"""Rigid 3D transforms without ROS (REP 103 frames, tf2 conventions).

Naming convention: ``a_T_b`` is the pose of frame ``b`` expressed in frame ``a``; it maps point
coordinates from ``b`` to ``a``: ``p_a = R @ p_b + t``. This is what tf2's ``lookup_transform(target=a,
source=b)`` returns. Composition chains frames: ``a_T_c = a_T_b.compose(b_T_c)`` (also ``a_T_b @ b_T_c``).

Roll/pitch/yaw follow ROS (URDF, tf2 ``setRPY``): fixed axes x, y, z, i.e. ``R = Rz(yaw) Ry(pitch) Rx(roll)``.
Quaternions are (x, y, z, w), as in ``geometry_msgs/Quaternion``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError

#: Rotation from the camera optical frame (z forward, x right, y down) to the camera body frame
#: (x forward, y left, z up): its columns are the optical axes expressed in the body frame.
BODY_R_OPTICAL = np.array([[0.0, 0.0, 1.0],
                           [-1.0, 0.0, 0.0],
                           [0.0, -1.0, 0.0]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """3x3 rotation ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` [rad], the ROS/URDF fixed-axis convention."""
    return _rot_z(yaw) @ _rot_y(pitch) @ _rot_x(roll)


@dataclass(frozen=True)
class RigidTransform:
    """A proper rigid transform ``p_out = rotation @ p_in + translation``.

    ``rotation``: (3, 3) float64 orthonormal with determinant +1; ``translation``: (3,) float64 [m].
    """

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        rot = np.asarray(self.rotation, dtype=np.float64)
        trans = np.asarray(self.translation, dtype=np.float64)
        if rot.shape != (3, 3):
            raise InputError(f"rotation must be (3, 3), got shape {rot.shape}")
        if trans.shape != (3,):
            raise InputError(f"translation must be (3,), got shape {trans.shape}")
        if not (np.all(np.isfinite(rot)) and np.all(np.isfinite(trans))):
            raise InputError("rotation and translation must be finite")
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) or np.linalg.det(rot) < 0:
            raise InputError(f"rotation is not a proper rotation matrix (R R^T != I or det < 0): {rot.tolist()}")
        rot = rot.copy()
        trans = trans.copy()
        rot.setflags(write=False)
        trans.setflags(write=False)
        object.__setattr__(self, "rotation", rot)
        object.__setattr__(self, "translation", trans)

    # ---------------------------------------------------------------- constructors
    @classmethod
    def identity(cls) -> RigidTransform:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_xyz_rpy(cls, x: float = 0.0, y: float = 0.0, z: float = 0.0,
                     roll: float = 0.0, pitch: float = 0.0, yaw: float = 0.0) -> RigidTransform:
        """Translation [m] and ROS roll/pitch/yaw [rad] (``R = Rz(yaw) Ry(pitch) Rx(roll)``)."""
        return cls(rotation_from_rpy(roll, pitch, yaw), np.array([x, y, z], dtype=np.float64))

    @classmethod
    def from_quaternion(cls, xyzw: Sequence[float], translation: Sequence[float] = (0.0, 0.0, 0.0)
                        ) -> RigidTransform:
        """Quaternion (x, y, z, w) (normalised here; must not be ~zero) and translation [m]."""
        q = np.asarray(xyzw, dtype=np.float64).reshape(-1)
        if q.shape != (4,) or not np.all(np.isfinite(q)):
            raise InputError(f"quaternion must be 4 finite numbers (x, y, z, w), got {list(q)}")
        norm = float(np.linalg.norm(q))
        if norm < 1e-9:
            raise InputError("quaternion has zero norm")
        x, y, z, w = q / norm
        rot = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])
        return cls(rot, np.asarray(translation, dtype=np.float64).reshape(-1))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> RigidTransform:
        """From a 4x4 homogeneous matrix (last row must be 0 0 0 1)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4) or not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
            raise InputError(f"expected a 4x4 homogeneous matrix with last row 0 0 0 1, got {m.tolist()}")
        return cls(m[:3, :3], m[:3, 3])

    # ---------------------------------------------------------------- conversions
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix, float64."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def quaternion(self) -> np.ndarray:
        """Rotation as a unit quaternion (x, y, z, w) with w >= 0."""
        r = self.rotation
        trace = float(np.trace(r))
        if trace > 0:
            s = 2.0 * math.sqrt(trace + 1.0)
            q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = 2.0 * math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
            q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
        elif r[1, 1] > r[2, 2]:
            s = 2.0 * math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
            q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
        else:
            s = 2.0 * math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
            q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
        quat = np.array(q)
        quat /= np.linalg.norm(quat)
        return -quat if quat[3] < 0 else quat

    def rpy(self) -> tuple[float, float, float]:
        """(roll, pitch, yaw) [rad] such that ``rotation == rotation_from_rpy(roll, pitch, yaw)``
        (pitch in [-pi/2, pi/2]; at gimbal lock roll is set to 0)."""
        r = self.rotation
        pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
        if abs(r[2, 0]) < 1.0 - 1e-9:
            roll = math.atan2(r[2, 1], r[2, 2])
            yaw = math.atan2(r[1, 0], r[0, 0])
        else:
            roll = 0.0
            yaw = math.atan2(-r[0, 1], r[1, 1])
        return roll, pitch, yaw

    # ---------------------------------------------------------------- algebra
    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points of shape (..., 3) (e.g. (N, 3) or (H, W, 3)); NaN stays NaN.

        float32 input gives float32 output (the maths is done in float32 for speed), anything
        else gives float64.
        """
        pts = np.asarray(points)
        if pts.shape[-1:] != (3,):
            raise InputError(f"points must have shape (..., 3), got {pts.shape}")
        dtype: type[np.floating] = np.float32 if pts.dtype == np.float32 else np.float64
        rot = self.rotation.astype(dtype)
        trans = self.translation.astype(dtype)
        return pts.astype(dtype, copy=False) @ rot.T + trans

    def inverse(self) -> RigidTransform:
        """``b_T_a`` for ``self = a_T_b``."""
        rot_t = self.rotation.T
        return RigidTransform(rot_t, -rot_t @ self.translation)

    def compose(self, other: RigidTransform) -> RigidTransform:
        """``self @ other``: with ``self = a_T_b`` and ``other = b_T_c`` returns ``a_T_c``."""
        return RigidTransform(self.rotation @ other.rotation, self.rotation @ other.translation + self.translation)

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        return self.compose(other)

    def almost_equal(self, other: RigidTransform, atol: float = 1e-9) -> bool:
        return bool(np.allclose(self.rotation, other.rotation, atol=atol)
                    and np.allclose(self.translation, other.translation, atol=atol))


def camera_pose_from_mounting(height_m: float, pitch_rad: float, roll_rad: float = 0.0, yaw_rad: float = 0.0,
                              x_m: float = 0.0, y_m: float = 0.0) -> RigidTransform:
    """``base_T_optical``: the camera optical frame's pose in the robot base frame, from mounting values.

    The base frame is REP 103 (x forward, y left, z up) with z = 0 on the floor (like ``base_footprint``).
    The camera *body* frame (x along the viewing direction, y left, z up) sits at
    (``x_m``, ``y_m``, ``height_m``) [m] and is rotated by ROS roll/pitch/yaw [rad]:

    - ``pitch_rad`` > 0 tilts the camera to look **down** (a right-handed rotation about the left axis);
    - ``yaw_rad`` > 0 turns it to the **left**;
    - ``roll_rad`` > 0 is a right-handed rotation about the viewing direction: the image's left edge goes up.

    The optical frame (REP 103 ``*_optical_frame``: z forward, x right, y down) is the body frame rotated by
    :data:`BODY_R_OPTICAL` (the usual ``(-0.5, 0.5, -0.5, 0.5)`` static transform).
    """
    values = (height_m, pitch_rad, roll_rad, yaw_rad, x_m, y_m)
    if not all(math.isfinite(float(v)) for v in values):
        raise InputError(f"camera mounting values must be finite, got {values}")
    base_t_body = RigidTransform.from_xyz_rpy(x_m, y_m, height_m, roll_rad, pitch_rad, yaw_rad)
    return base_t_body.compose(RigidTransform(BODY_R_OPTICAL, np.zeros(3)))
