"""Camera poses of offline sequences (no rclpy, no Ray): a pose file for a folder of frames, a bag's pose /
odometry / tf messages for a bag, looked up at each frame as the temporal stage and the temporal metrics need them.

A pose is ``world_T_camera``: 4x4 float64, the camera optical frame in a fixed frame, metres. A frame gets either a
pose or the problem that stands in its way (no pose near its stamp, a corrupt pose): the stage resets its history on
such a frame (a counted reset), it is never an error of the run. A pose file is read in full before a run: a
corrupt one (NaN, a non-unit quaternion, fewer poses than frames) is a one-line error.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fusion.poses import interpolate_pose, mounting_matrix, read_pose_file
from lingbot_depth_ros.pipeline.temporal_filter import pose_matrix

#: a quaternion whose norm differs from 1 by more than this is a corrupt pose, not a rounding [1]
QUATERNION_NORM_TOLERANCE = 1e-3
#: the node's pose sources (``temporal.pose_source``) and the bag topic each reads
BAG_POSE_SOURCES = ("pose", "odometry", "tf")


@dataclass(frozen=True)
class PoseOptions:
    """Where a batch / predict run takes the frames' poses from (from the ``temporal.*`` parameters and options).

    ``source``: ``temporal.pose_source`` (none: the stage ignores poses; a bag's pose topic, a folder's pose file
    are still read for the temporal metrics). ``poses_file``: a pose file for a folder input (default: ``poses.txt``
    beside the images when there is one). ``max_age_s``: ``temporal.max_pose_age_s``.
    """

    source: str = "none"
    pose_topic: str = StreamTopics.pose
    odom_topic: str = StreamTopics.odom
    tf_topic: str = StreamTopics.tf
    fixed_frame: str = "odom"
    mount_xyz_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    mount_rpy_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_age_s: float = 0.1
    poses_file: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, pose_topic: str = StreamTopics.pose,
                    odom_topic: str = StreamTopics.odom, poses_file: str | Path | None = None) -> PoseOptions:
        """The options of the node parameter ``values`` (``temporal.*``) and the run's topics / pose file."""
        v = values
        return cls(source=str(v["temporal.pose_source"]), pose_topic=pose_topic, odom_topic=odom_topic,
                   fixed_frame=str(v["temporal.fixed_frame"]),
                   mount_xyz_m=(float(v["temporal.mount_x"]), float(v["temporal.mount_y"]),
                                float(v["temporal.mount_z"])),
                   mount_rpy_rad=(float(v["temporal.mount_roll"]), float(v["temporal.mount_pitch"]),
                                  float(v["temporal.mount_yaw"])),
                   max_age_s=float(v["temporal.max_pose_age_s"]),
                   poses_file=str(poses_file) if poses_file is not None else None)

    def bag_topic(self) -> str:
        """The bag topic the poses come from (pose source none: the pose topic, for the metrics)."""
        return {"odometry": self.odom_topic, "tf": self.tf_topic}.get(self.source, self.pose_topic)


# ---------------------------------------------------------------------------------- pose files
def _check_quaternions(path: Path) -> None:
    """A TUM-style file (7 or 8 numbers per line): every quaternion of unit norm (the reader normalises them)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        values = line.split("#", 1)[0].replace(",", " ").split()
        if len(values) not in (7, 8):
            return
        q = np.array([float(x) for x in values[-4:]])
        norm = float(np.linalg.norm(q))
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
            raise InputError(f"{path}:{number}: quaternion of norm {norm:.4g}, not 1 (a corrupt pose)")


def load_pose_file(path: str | Path, frame_names: Sequence[str]) -> list[np.ndarray]:
    """One 4x4 ``world_T_camera`` per frame (``frame_names`` in capture order) from a pose file (4x4 per line or
    per 4 lines, KITTI 3x4, TUM ``t x y z qx qy qz qw``; see :func:`~lingbot_depth_ros.fusion.poses.read_pose_file`):
    the i-th pose for the i-th frame, or, when the file holds more poses than frames and every frame is named by
    its number (KITTI raw ``0000000005.png``), the pose of that number.

    Raises:
        InputError: unreadable file, a row that is not numbers, NaN or a non-rigid matrix, a quaternion whose
            norm is not 1, fewer poses than frames (the message names the file and, where it can, the line).
    """
    path = Path(path)
    poses, _ = read_pose_file(path)
    _check_quaternions(path)
    for number, pose in enumerate(poses):
        if not np.all(np.isfinite(pose)):
            raise InputError(f"{path}: pose {number} is not finite")
    names = [Path(name).stem for name in frame_names]
    if len(poses) > len(names) and names and all(n.isdigit() and int(n) < len(poses) for n in names):
        return [poses[int(n)] for n in names]
    if len(poses) < len(names):
        raise InputError(f"{path} has {len(poses)} poses for {len(names)} frames")
    return poses[:len(names)]


# ---------------------------------------------------------------------------------- bag messages
def _matrix(position: Any, orientation: Any) -> tuple[np.ndarray | None, str | None]:
    """4x4 of a position + quaternion message part, or (None, why it is no pose)."""
    t = np.array([position.x, position.y, position.z], np.float64)
    q = np.array([orientation.x, orientation.y, orientation.z, orientation.w], np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
        return None, "a pose with NaN or infinite values"
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        return None, f"a pose with a non-unit quaternion (norm {norm:.3g})"
    return pose_matrix(q, t), None   # the filter's own conversion (checked above with the offline messages)


class PoseTrack:
    """Time-stamped poses of one sequence (from a bag's messages), looked up at frame stamps: the pose
    interpolated between its neighbours (translation linear, rotation slerp), or the problem: no pose within
    ``max_age_s`` of the stamp, or the nearest message was a corrupt pose."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_ns = int(max_age_s * 1e9)
        self._stamps: list[int] = []
        self._entries: list[tuple[np.ndarray | None, str | None]] = []

    def add(self, stamp_ns: int, pose: np.ndarray | None, problem: str | None = None) -> None:
        """A pose (4x4) or a corrupt one (None + why) at ``stamp_ns`` [ns] (any order)."""
        i = bisect.bisect_left(self._stamps, int(stamp_ns))
        self._stamps.insert(i, int(stamp_ns))
        self._entries.insert(i, (pose, problem))

    def add_message(self, msg: Any, options: PoseOptions, stamp_ns: int, image_frame: str | None = None) -> None:
        """A PoseStamped (the optical frame's pose), Odometry (the base's: times the mounting) or TFMessage
        (the transforms ``options.fixed_frame`` -> ``image_frame``) at its header stamp."""
        if options.source == "tf":
            for transform in getattr(msg, "transforms", []):
                if transform.header.frame_id == options.fixed_frame and transform.child_frame_id == image_frame:
                    stamp = transform.header.stamp
                    pose, problem = _matrix(transform.transform.translation, transform.transform.rotation)
                    self.add(int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec), pose, problem)
            return
        part = msg.pose.pose if hasattr(msg.pose, "covariance") else msg.pose
        pose, problem = _matrix(part.position, part.orientation)
        if pose is not None and options.source == "odometry":
            pose = pose @ mounting_matrix(options.mount_xyz_m, options.mount_rpy_rad)
        self.add(stamp_ns, pose, problem)

    def __len__(self) -> int:
        return len(self._stamps)

    def at(self, stamp_ns: int) -> tuple[np.ndarray | None, str | None]:
        """(4x4 pose, None) at ``stamp_ns`` [ns], or (None, the problem)."""
        if not self._stamps:
            return None, "no pose in the bag near this frame"
        stamp = int(stamp_ns)
        i = bisect.bisect_left(self._stamps, stamp)
        near = [j for j in (i - 1, i) if 0 <= j < len(self._stamps)]
        nearest = min(near, key=lambda j: abs(self._stamps[j] - stamp))
        if abs(self._stamps[nearest] - stamp) > self.max_age_ns:
            return None, f"no pose within {self.max_age_ns / 1e9:g} s of the image stamp"
        pose, problem = self._entries[nearest]
        if pose is None:
            return None, problem
        if self._stamps[nearest] == stamp or len(near) < 2:
            return pose.copy(), None
        (s0, s1), (e0, e1) = (self._stamps[j] for j in near), (self._entries[j] for j in near)
        if e0[0] is None or e1[0] is None or abs(s1 - s0) > 2 * self.max_age_ns or s1 == s0:
            return pose.copy(), None   # the nearest good pose within the age
        return interpolate_pose(e0[0], e1[0], (stamp - s0) / (s1 - s0)), None


__all__ = ["BAG_POSE_SOURCES", "PoseOptions", "PoseTrack", "QUATERNION_NORM_TOLERANCE", "load_pose_file"]
