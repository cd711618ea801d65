"""Camera poses for fusion (no rclpy): slerp interpolation to an image stamp, odometry + mounting chains,
and pose files (4x4 per frame, KITTI 3x4 lines, TUM ``t x y z qx qy qz qw``).

Convention: a pose is a 4x4 float64 ``T_map_child`` that maps points of the child frame (e.g. the
camera optical frame) into the map frame: ``p_map = T @ p_child``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.transforms import RigidTransform

#: Default bound on the camera's speed between two poses [m/s] (``fusion.max_pose_speed_m_s``): faster is a
#: pose jump (relocalisation, odometry reset, a corrupt message), not motion; 50 m/s = 180 km/h.
DEFAULT_MAX_SPEED_M_S = 50.0
#: Shortest time step [s] a speed is computed over (two poses at one stamp count as 1 ms apart).
_MIN_SPEED_STEP_S = 1e-3


class PoseJumpError(InputError):
    """Two poses are farther apart than the speed bound allows for the time between them."""


def check_pose_speed(stamp0_ns: int, pose0: np.ndarray, stamp1_ns: int, pose1: np.ndarray,
                     max_speed_m_s: float) -> None:
    """Raise PoseJumpError when the translation between the 4x4 poses ``pose0`` (at ``stamp0_ns``) and
    ``pose1`` (at ``stamp1_ns``) [ns] is faster than ``max_speed_m_s`` [m/s] (0 = no bound; steps shorter
    than 1 ms count as 1 ms)."""
    if max_speed_m_s <= 0:
        return
    jump_m = float(np.linalg.norm(np.asarray(pose1, dtype=np.float64)[:3, 3] - np.asarray(pose0, np.float64)[:3, 3]))
    step_s = max(abs(int(stamp1_ns) - int(stamp0_ns)) / 1e9, _MIN_SPEED_STEP_S)
    if not jump_m <= max_speed_m_s * step_s:  # NaN included
        raise PoseJumpError(f"pose jump of {jump_m:.3g} m in {step_s * 1e3:.0f} ms ({jump_m / step_s:.3g} m/s, "
                            f"max {max_speed_m_s:g} m/s)")


def pose_matrix(translation_m: Sequence[float], quaternion_xyzw: Sequence[float]) -> np.ndarray:
    """4x4 float64 pose from a translation [m] and a quaternion (x, y, z, w)."""
    return RigidTransform.from_quaternion(quaternion_xyzw, translation_m).matrix()


def pose_to_translation_quaternion(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3,) translation [m] and (4,) unit quaternion (x, y, z, w), w >= 0, of a 4x4 pose."""
    tf = RigidTransform.from_matrix(pose)
    return tf.translation.copy(), tf.quaternion()


def slerp(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions (x, y, z, w): ``fraction`` 0 -> q0, 1 -> q1
    (along the shorter arc)."""
    a = np.asarray(q0, dtype=np.float64) / np.linalg.norm(q0)
    b = np.asarray(q1, dtype=np.float64) / np.linalg.norm(q1)
    dot = float(np.dot(a, b))
    if dot < 0.0:
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly parallel: normalised lerp is exact to 1e-7
        q = a + fraction * (b - a)
        return q / np.linalg.norm(q)
    theta = math.acos(min(dot, 1.0))
    s = math.sin(theta)
    return (math.sin((1.0 - fraction) * theta) * a + math.sin(fraction * theta) * b) / s


def interpolate_pose(pose0: np.ndarray, pose1: np.ndarray, fraction: float) -> np.ndarray:
    """Pose between ``pose0`` (fraction 0) and ``pose1`` (fraction 1): translation linear, rotation slerp."""
    t0, q0 = pose_to_translation_quaternion(pose0)
    t1, q1 = pose_to_translation_quaternion(pose1)
    return pose_matrix((t0 + fraction * (t1 - t0)).tolist(), slerp(q0, q1, fraction).tolist())


@dataclass
class PoseBuffer:
    """Time-stamped poses of one frame, looked up at any stamp by interpolation.

    Args:
        max_gap_ns: refuse to interpolate across a gap longer than this [ns].
        max_extrapolation_ns: a stamp up to this far outside the buffered span takes the nearest pose.
        capacity: oldest poses are dropped beyond this many.
        max_speed_m_s: refuse to interpolate between two poses whose translation implies a faster speed
            [m/s] (a pose jump; 0 = no bound).
    """

    max_gap_ns: int = 500_000_000
    max_extrapolation_ns: int = 50_000_000
    capacity: int = 2000
    max_speed_m_s: float = DEFAULT_MAX_SPEED_M_S
    _stamps: list[int] = field(default_factory=list)
    _poses: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._stamps)

    def add(self, stamp_ns: int, pose: np.ndarray) -> None:
        """Insert a pose (4x4) at ``stamp_ns`` (any order; an equal stamp replaces)."""
        pose = RigidTransform.from_matrix(pose).matrix()
        i = bisect.bisect_left(self._stamps, int(stamp_ns))
        if i < len(self._stamps) and self._stamps[i] == stamp_ns:
            self._poses[i] = pose
            return
        self._stamps.insert(i, int(stamp_ns))
        self._poses.insert(i, pose)
        if len(self._stamps) > self.capacity:
            del self._stamps[0], self._poses[0]

    def lookup(self, stamp_ns: int) -> np.ndarray:
        """4x4 pose at ``stamp_ns``.

        Raises:
            InputError: empty buffer, stamp too far outside the buffered span, or inside a gap longer
                than ``max_gap_ns`` (the message says which).
            PoseJumpError: the stamp lies between two poses farther apart than ``max_speed_m_s`` allows.
        """
        if not self._stamps:
            raise InputError("no pose received yet")
        stamp = int(stamp_ns)
        first, last = self._stamps[0], self._stamps[-1]
        if stamp <= first or stamp >= last:
            nearest, edge = (0, first) if stamp <= first else (-1, last)
            if abs(stamp - edge) > self.max_extrapolation_ns:
                side = "before the first" if stamp < first else "after the last"
                raise InputError(f"image stamp {stamp} ns is {abs(stamp - edge) / 1e6:.0f} ms {side} pose "
                                 f"(max {self.max_extrapolation_ns / 1e6:.0f} ms)")
            return self._poses[nearest].copy()
        i = bisect.bisect_right(self._stamps, stamp)
        s0, s1 = self._stamps[i - 1], self._stamps[i]
        if stamp == s0:
            return self._poses[i - 1].copy()
        if s1 - s0 > self.max_gap_ns:
            raise InputError(f"image stamp {stamp} ns falls in a {(s1 - s0) / 1e6:.0f} ms gap between poses "
                             f"(max {self.max_gap_ns / 1e6:.0f} ms)")
        try:
            check_pose_speed(s0, self._poses[i - 1], s1, self._poses[i], self.max_speed_m_s)
        except PoseJumpError as exc:
            raise PoseJumpError(f"image stamp {stamp} ns falls between poses with a {exc}: not interpolated") from None
        return interpolate_pose(self._poses[i - 1], self._poses[i], (stamp - s0) / (s1 - s0))


def camera_pose_from_odometry(map_from_base: np.ndarray, base_from_camera: np.ndarray) -> np.ndarray:
    """T_map_camera of a camera mounted at ``base_from_camera`` (T_base_camera, static) on a robot whose
    odometry gives ``map_from_base`` (T_map_base)."""
    return np.asarray(map_from_base, dtype=np.float64) @ np.asarray(base_from_camera, dtype=np.float64)


def chain(*transforms: np.ndarray) -> np.ndarray:
    """Product T_a_b @ T_b_c @ ... = T_a_z of a chain of 4x4 transforms."""
    out = np.eye(4)
    for transform in transforms:
        out = out @ np.asarray(transform, dtype=np.float64)
    return out


def mounting_matrix(xyz_m: Sequence[float], rpy_rad: Sequence[float], optical: bool = True) -> np.ndarray:
    """T_base_camera from the mounting of the camera body [m, rad] (ROS roll/pitch/yaw, x forward, z up);
    ``optical`` appends the REP 103 body -> optical rotation (x right, y down, z forward)."""
    if len(xyz_m) != 3 or len(rpy_rad) != 3:
        raise InputError(f"mounting needs 3 translations and 3 angles, got {list(xyz_m)} and {list(rpy_rad)}")
    mount = RigidTransform.from_xyz_rpy(*[float(v) for v in xyz_m], *[float(v) for v in rpy_rad]).matrix()
    if optical:
        body_from_optical = np.eye(4)
        body_from_optical[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        mount = mount @ body_from_optical
    return mount


# ---------------------------------------------------------------------------------- pose files
def read_pose_file(path: str | Path) -> tuple[list[np.ndarray], list[float] | None]:
    """Poses T_world_camera from a text file, and their timestamps [s] when the format has them.

    Formats (detected per file, ``#`` comments and blank lines ignored):

    * 12 numbers per line: KITTI odometry (row-major 3x4);
    * 16 numbers per line: a row-major 4x4 per line;
    * 4 lines of 4 numbers per pose: 4x4 matrices one row per line;
    * 8 numbers per line: TUM ``timestamp tx ty tz qx qy qz qw`` (returns the timestamps);
    * 7 numbers per line: ``tx ty tz qx qy qz qw``.

    Raises:
        InputError: unreadable file, unknown layout, or a non-rigid matrix (the line is named).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read pose file {path}: {exc.strerror or exc}") from None
    rows: list[tuple[int, list[float]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rows.append((number, [float(v) for v in line.replace(",", " ").split()]))
        except ValueError:
            raise InputError(f"{path}:{number}: not a row of numbers: {line[:60]!r}") from None
    if not rows:
        raise InputError(f"{path} holds no poses")
    widths = {len(r) for _, r in rows}
    if len(widths) != 1:
        raise InputError(f"{path}: rows have different lengths {sorted(widths)}")
    width = widths.pop()
    poses: list[np.ndarray] = []
    stamps: list[float] | None = None
    if width in (12, 16):
        for number, r in rows:
            m = np.eye(4)
            m[:width // 4] = np.array(r).reshape(width // 4, 4)
            poses.append(_rigid(m, path, number))
    elif width == 4:
        if len(rows) % 4:
            raise InputError(f"{path}: {len(rows)} rows of 4 numbers is not a whole number of 4x4 matrices")
        for k in range(0, len(rows), 4):
            poses.append(_rigid(np.array([r for _, r in rows[k:k + 4]]), path, rows[k][0]))
    elif width in (7, 8):
        stamps = [r[0] for _, r in rows] if width == 8 else None
        for number, r in rows:
            v = r[1:] if width == 8 else r
            try:
                poses.append(pose_matrix(v[:3], v[3:7]))
            except InputError as exc:
                raise InputError(f"{path}:{number}: {exc}") from None
    else:
        raise InputError(f"{path}: {width} numbers per line is no known pose format (KITTI 12, 4x4 16, "
                         "TUM 8 = t x y z qx qy qz qw, 7 = x y z qx qy qz qw)")
    return poses, stamps


def _rigid(matrix: np.ndarray, path: Path, line: int) -> np.ndarray:
    try:
        return RigidTransform.from_matrix(matrix).matrix()
    except InputError as exc:
        raise InputError(f"{path}:{line}: {exc}") from None


__all__ = ["DEFAULT_MAX_SPEED_M_S", "PoseBuffer", "PoseJumpError", "camera_pose_from_odometry", "chain",
           "check_pose_speed", "interpolate_pose", "mounting_matrix", "pose_matrix", "pose_to_translation_quaternion",
           "read_pose_file", "slerp"]
