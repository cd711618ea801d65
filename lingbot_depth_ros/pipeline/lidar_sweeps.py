"""Multi-sweep LiDAR accumulation (ROS-free, numpy/OpenCV): a denser sparse input for depth completion.

One LiDAR sweep projected into the camera covers a few per cent of the pixels (KITTI HDL-64: ~4 %). KITTI's own
dense ground truth is built by accumulating 11 sweeps; :class:`LidarSweeps` does this online for the last
``sweeps`` frames: each frame's sparse depth [m] is kept as 3-D points in its camera frame with the camera's pose,
and the older ones are reprojected into the current camera frame (``current_T_old = inv(world_T_current) @
world_T_old``; no pose = a static camera) and merged under these rules:

- **newer returns win**: the current frame's returns are kept as they are; an older sweep only fills pixels with
  no newer return within ``exclusion_px`` (the newer samples are the better ones there), and within one sweep the
  nearest return of a pixel wins (z-buffer);
- **disagreeing old returns are dropped**: an old return is dropped when a newer return within ``window_px``
  (a (2 window_px + 1)^2 neighbourhood) lies in front of it by more than ``disagree_rel`` of its depth (it is
  occluded now: parallax, something moved in) or when all newer returns around it lie behind it by more than
  that (what it hit has moved away); old returns with no newer neighbour are kept;
- **memory bounded**: at most ``sweeps - 1`` older sweeps of at most H x W points each, and none older than
  ``max_age_s``.

Bad input (size or intrinsics changed, time going backwards, a pose that is not finite or not rigid, a pose
missing after frames with poses) drops the older sweeps and says why (:attr:`SweepResult.reset_reason`, the
reasons of :mod:`~lingbot_depth_ros.pipeline.temporal_filter`); the output is then the current frame alone.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.temporal_filter import (
    INTRINSICS_CHANGED,
    POSE_MISSING,
    SIZE_CHANGED,
    TIME_BACKWARDS,
    motion_problem,
)


@dataclass(frozen=True)
class SweepSettings:
    """Settings of :class:`LidarSweeps` (later ``temporal.lidar_sweeps`` and friends).

    ``sweeps``: frames accumulated, the current one included (1 = the current frame only).
    ``disagree_rel``: relative depth difference [1] beyond which a newer return vetoes an older one.
    ``window_px``: half-size [px] of the neighbourhood searched for newer returns.
    ``exclusion_px``: an older return is not used within this distance [px, square] of a newer one (0 = it may
    fill any pixel no newer return holds): the newer ones are the better samples there.
    ``max_age_s``: older sweeps than this [s] are dropped (0 = no limit; needs stamps).
    """

    sweeps: int = 1
    disagree_rel: float = 0.05
    window_px: int = 3
    exclusion_px: int = 0
    max_age_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= int(self.sweeps) <= 50:
            raise ConfigError(f"lidar sweeps must be in 1..50, got {self.sweeps}")
        if not 0 < self.disagree_rel < 1:
            raise ConfigError(f"lidar sweeps disagree_rel must be in (0, 1), got {self.disagree_rel}")
        if not (0 <= int(self.window_px) <= 20 and 0 <= int(self.exclusion_px) <= 20 and self.max_age_s >= 0):
            raise ConfigError(f"lidar sweeps window_px and exclusion_px must be in 0..20 and max_age_s >= 0, got "
                              f"{self.window_px}, {self.exclusion_px}, {self.max_age_s}")


@dataclass(frozen=True)
class SweepResult:
    """``depth_m``: (H, W) float32 accumulated sparse depth [m], 0 = none; ``from_older``: (H, W) bool, the
    pixels filled by older sweeps; ``dropped``: older returns dropped for disagreeing with newer ones;
    ``reset_reason``: why the older sweeps were forgotten this frame (None: they were not)."""

    depth_m: np.ndarray
    from_older: np.ndarray
    dropped: int
    reset_reason: str | None


@dataclass(frozen=True)
class _Sweep:
    points_cam: np.ndarray           # (N, 3) float32, camera optical frame of its own frame [m]
    world_T_camera: np.ndarray | None
    stamp_s: float | None


class LidarSweeps:
    """Accumulates one camera's sparse depth over the last ``settings.sweeps`` frames. Not thread-safe."""

    def __init__(self, settings: SweepSettings | None = None) -> None:
        self.settings = settings or SweepSettings()
        self._older: deque[_Sweep] = deque(maxlen=max(int(self.settings.sweeps) - 1, 1))
        self._intrinsics: CameraIntrinsics | None = None
        self._last_stamp_s: float | None = None

    def reset(self) -> None:
        self._older.clear()
        self._intrinsics = self._last_stamp_s = None

    @property
    def held_points(self) -> int:
        """Points kept from older sweeps (the memory bound: <= (sweeps - 1) x H x W)."""
        return sum(len(s.points_cam) for s in self._older)

    def add(self, sparse_m: np.ndarray, intrinsics: CameraIntrinsics, world_T_camera: np.ndarray | None = None,
            stamp_s: float | None = None) -> SweepResult:
        """Add this frame's sparse depth and return the accumulation in its camera frame.

        Args:
            sparse_m: (H, W) sparse depth [m]; 0, NaN, inf, < 0 = no return.
            intrinsics: of ``sparse_m``.
            world_T_camera: 4x4 pose of this frame's camera (optical frame, metres) in a fixed frame, or None
                for a static camera.
            stamp_s: capture time [s], or None.

        Raises:
            InputError: ``sparse_m`` not (H, W) of the intrinsics' size.
        """
        sparse = np.asarray(sparse_m, dtype=np.float32)
        if sparse.shape != (intrinsics.height, intrinsics.width):
            raise InputError(f"lidar sweeps: sparse depth shape {sparse.shape} does not match the intrinsics "
                             f"({intrinsics.width}x{intrinsics.height})")
        valid = np.isfinite(sparse) & (sparse > 0)
        current = np.where(valid, sparse, 0).astype(np.float32)
        pose = None if world_T_camera is None else np.asarray(world_T_camera, dtype=np.float64)
        reason = self._problem(intrinsics, pose, stamp_s)
        if reason is not None:
            self._older.clear()
        if pose is not None and motion_problem(pose) is not None:
            pose = None
        out, from_older, dropped = current, np.zeros(current.shape, bool), 0
        if self._older and self.settings.sweeps > 1:
            out, from_older, dropped = self._merge(current, intrinsics, pose, stamp_s)
        if self.settings.sweeps > 1:
            self._older.append(_Sweep(_points(current, valid, intrinsics), pose, stamp_s))
        self._intrinsics = intrinsics
        if stamp_s is not None and math.isfinite(stamp_s):
            self._last_stamp_s = stamp_s
        return SweepResult(out, from_older, dropped, reason)

    def _problem(self, intrinsics: CameraIntrinsics, pose: np.ndarray | None, stamp_s: float | None) -> str | None:
        if pose is not None:
            problem = motion_problem(pose)
            if problem is not None:
                return problem
        if not self._older:
            return None
        if self._intrinsics is not None and (self._intrinsics.width, self._intrinsics.height) != (
                intrinsics.width, intrinsics.height):
            return SIZE_CHANGED
        if self._intrinsics != intrinsics:
            return INTRINSICS_CHANGED
        if stamp_s is not None and self._last_stamp_s is not None and stamp_s < self._last_stamp_s:
            return TIME_BACKWARDS
        if (pose is None) != (self._older[-1].world_T_camera is None):
            return POSE_MISSING
        return None

    def _merge(self, current: np.ndarray, k: CameraIntrinsics, pose: np.ndarray | None, stamp_s: float | None
               ) -> tuple[np.ndarray, np.ndarray, int]:
        s = self.settings
        out = current.copy()
        h, w = current.shape
        kernel = np.ones((2 * s.window_px + 1, 2 * s.window_px + 1), np.uint8)
        exclusion = np.ones((2 * s.exclusion_px + 1, 2 * s.exclusion_px + 1), np.uint8)
        dropped = 0
        for sweep in reversed(self._older):   # newest first: everything merged so far is newer
            if (s.max_age_s > 0 and stamp_s is not None and sweep.stamp_s is not None
                    and stamp_s - sweep.stamp_s > s.max_age_s):
                continue
            pts = sweep.points_cam
            if pose is not None and sweep.world_T_camera is not None:
                m = np.linalg.solve(pose, sweep.world_T_camera).astype(np.float32)
                pts = pts @ m[:3, :3].T + m[:3, 3]
            z = pts[:, 2]
            front = z > 1e-3
            pts, z = pts[front], z[front]
            u = np.rint(k.fx * pts[:, 0] / z + k.cx).astype(np.int64)
            v = np.rint(k.fy * pts[:, 1] / z + k.cy).astype(np.int64)
            inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
            u, v, z = u[inside], v[inside], z[inside]
            newer = out > 0
            nearest_newer = cv2.erode(np.where(newer, out, np.inf).astype(np.float32), kernel)[v, u]
            has_newer = np.isfinite(nearest_newer)
            disagree = has_newer & ((nearest_newer < z * (1 - s.disagree_rel))
                                    | (nearest_newer > z * (1 + s.disagree_rel)))
            dropped += int(np.count_nonzero(disagree))
            near_newer = cv2.dilate(newer.view(np.uint8), exclusion)[v, u] > 0
            keep = ~disagree & ~near_newer
            u, v, z = u[keep], v[keep], z[keep]
            layer = np.full(h * w, np.inf, np.float32)
            np.minimum.at(layer, v * w + u, z)   # z-buffer: the nearest return of a pixel
            layer_2d = layer.reshape(h, w)
            np.copyto(out, layer_2d, where=np.isfinite(layer_2d))
        return out, (out > 0) & ~(current > 0), dropped


def _points(depth: np.ndarray, valid: np.ndarray, k: CameraIntrinsics) -> np.ndarray:
    """(N, 3) float32 camera-frame points [m] of the valid pixels of ``depth``."""
    v, u = np.nonzero(valid)
    z = depth[v, u]
    return np.stack([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z], axis=1).astype(np.float32)
