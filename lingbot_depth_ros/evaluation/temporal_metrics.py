"""Temporal metrics of a depth sequence (no rclpy): how much the depth of one scene point changes from frame to frame.

* **Temporal consistency error** [m]: frame t's depth forward-warped into frame t+1 with the camera motion
  (z-buffer, nearest pixel), compared with frame t+1's depth on the pixels valid in both; mean absolute difference
  over all such pixels of all consecutive pairs (and the same relative to frame t+1's depth). With ground truth
  on both frames, pixels where the warped ground truth disagrees with frame t+1's (> 5 %: a moving object, a
  disocclusion) are left out: only static points seen in both frames count.
* **Flicker** [m]: at a standing camera (consecutive poses within 1 mm and 1 mrad; no poses = a standing camera),
  the per-pixel standard deviation of the depth over the frames of the standing segment (pixels valid in every
  one of its frames, segments of at least :data:`MIN_FLICKER_FRAMES` frames), averaged over those pixels.

:class:`TemporalMetrics` takes the frames in capture order one at a time (memory: two frames plus the running
sums of the standing segment). Its :meth:`~TemporalMetrics.part` can be taken between pieces of one sequence (the
batch's units) and :func:`merge_parts` adds the pieces up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

#: consecutive poses closer than this count as a standing camera [m]
STANDING_TRANSLATION_M = 1e-3
#: ... and turned less than this [rad]
STANDING_ROTATION_RAD = 1e-3
#: shortest standing segment whose flicker is measured [frames]
MIN_FLICKER_FRAMES = 3
#: ground truth warped from frame t and frame t+1's disagreeing by more than this share: not a static point [1]
STATIC_GT_REL = 0.05


def valid_depth(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) bool: finite and > 0 (NaN and 0 mean no depth)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth_m) & (depth_m > 0)


def camera_motion(world_T_prev: np.ndarray, world_T_next: np.ndarray) -> np.ndarray:
    """4x4 ``next_T_prev``: maps points of the previous camera frame into the next one."""
    return np.linalg.inv(np.asarray(world_T_next, np.float64)) @ np.asarray(world_T_prev, np.float64)


def is_standing(next_T_prev: np.ndarray) -> bool:
    """The camera did not move between the two frames (translation < 1 mm, rotation < 1 mrad)."""
    translation_m = float(np.linalg.norm(next_T_prev[:3, 3]))
    cos_angle = (float(np.trace(next_T_prev[:3, :3])) - 1.0) / 2.0
    angle_rad = float(np.arccos(np.clip(cos_angle, -1.0, 1.0)))
    return translation_m < STANDING_TRANSLATION_M and angle_rad < STANDING_ROTATION_RAD


def forward_warp(depth_m: np.ndarray, intrinsics: CameraIntrinsics, next_T_prev: np.ndarray) -> np.ndarray:
    """(H, W) float32 depth [m] of ``depth_m`` ((H, W), NaN/0 = none) as the next camera sees it: every valid
    pixel back-projected, moved by ``next_T_prev`` (4x4), projected to the nearest pixel, the nearest point kept
    (z-buffer); NaN where nothing lands."""
    k = intrinsics
    height, width = depth_m.shape
    valid = valid_depth(depth_m)
    if np.array_equal(next_T_prev, np.eye(4)):   # no motion: every point stays on its pixel
        return np.where(valid, depth_m, np.nan).astype(np.float32)
    v, u = np.nonzero(valid)
    z = depth_m[v, u].astype(np.float64)
    x, y = (u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z
    r, t = next_T_prev[:3, :3], next_T_prev[:3, 3]
    # component by component: (N, 3) @ (3, 3) is many times slower on a busy machine
    x2, y2, z2 = (r[i, 0] * x + r[i, 1] * y + r[i, 2] * z + t[i] for i in range(3))
    front = z2 > 1e-6
    x2, y2, z2 = x2[front], y2[front], z2[front]
    uu = np.rint(k.fx * x2 / z2 + k.cx).astype(np.int64)
    vv = np.rint(k.fy * y2 / z2 + k.cy).astype(np.int64)
    inside = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
    out = np.full(width * height, np.inf)
    np.minimum.at(out, vv[inside] * width + uu[inside], z2[inside])
    out[np.isinf(out)] = np.nan
    return out.reshape(height, width).astype(np.float32)


def pair_error(depth_prev_m: np.ndarray, depth_next_m: np.ndarray, intrinsics: CameraIntrinsics,
               next_T_prev: np.ndarray, gt_prev_m: np.ndarray | None = None,
               gt_next_m: np.ndarray | None = None) -> tuple[float, float, int]:
    """(sum of |warped - next| [m], sum of |warped - next| / next [1], pixels) of one consecutive pair (see the
    module docstring); both (H, W) [m], NaN/0 = none; ``gt_*``: ground truth of the two frames (optional)."""
    warped = forward_warp(depth_prev_m, intrinsics, next_T_prev)
    both = valid_depth(warped) & valid_depth(depth_next_m)
    if gt_prev_m is not None and gt_next_m is not None:
        gt_warped = forward_warp(gt_prev_m, intrinsics, next_T_prev)
        known = valid_depth(gt_warped) & valid_depth(gt_next_m)
        with np.errstate(invalid="ignore"):
            moving = known & (np.abs(gt_warped - gt_next_m) > STATIC_GT_REL * gt_next_m)
        both &= ~moving
    diff = np.abs(warped[both].astype(np.float64) - depth_next_m[both])
    return float(diff.sum()), float((diff / depth_next_m[both]).sum()), int(both.sum())


class _Segment:
    """Running per-pixel sums of one standing segment (centred on its first frame, float64)."""

    def __init__(self, first_index: int, depth_m: np.ndarray) -> None:
        self.first_index = first_index
        self.frames = 0
        self.reference = np.where(valid_depth(depth_m), depth_m, 0.0).astype(np.float64)
        self.count = np.zeros(depth_m.shape, np.int32)
        self.sum = np.zeros(depth_m.shape, np.float64)
        self.sum_sq = np.zeros(depth_m.shape, np.float64)

    def add(self, depth_m: np.ndarray) -> None:
        valid = valid_depth(depth_m)
        delta = np.where(valid, depth_m, 0.0) - self.reference
        self.frames += 1
        self.count += valid
        self.sum += np.where(valid, delta, 0.0)
        self.sum_sq += np.where(valid, delta * delta, 0.0)

    def snapshot(self) -> dict[str, float | int]:
        """frames, pixels (valid in every frame) and the sum of their standard deviations [m]."""
        always = self.count == self.frames
        n = float(max(self.frames, 1))
        mean = self.sum[always] / n
        std = np.sqrt(np.maximum(self.sum_sq[always] / n - mean * mean, 0.0))
        return {"frames": self.frames, "pixels": int(always.sum()), "std_sum_m": float(std.sum())}


class TemporalMetrics:
    """Temporal consistency error and flicker of one sequence, frame by frame in capture order.

    Args:
        posed: the frames come with camera poses (None for a frame = its pose is missing: the pairs and the
            standing segment around it are skipped); False = a standing camera (no poses at all).
    """

    def __init__(self, posed: bool) -> None:
        self.posed = posed
        self._prev: tuple[int, np.ndarray, CameraIntrinsics, np.ndarray | None, np.ndarray | None] | None = None
        self._segment: _Segment | None = None
        self._new_part()

    def _new_part(self) -> None:
        self._abs_sum_m = self._rel_sum = 0.0
        self._pixels = self._pairs = 0
        self._segments: dict[int, dict[str, float | int]] = {}

    def add(self, index: int, depth_m: np.ndarray, intrinsics: CameraIntrinsics,
            world_T_camera: np.ndarray | None = None, gt_m: np.ndarray | None = None) -> None:
        """Frame ``index`` (its place in the sequence): (H, W) depth [m] (NaN/0 = none), its 4x4 pose (posed
        sequences), its ground truth (H, W) [m] (optional: leaves moving points out of the consistency error)."""
        prev, pose = self._prev, world_T_camera
        motion: np.ndarray | None = None
        if prev is not None and prev[1].shape == depth_m.shape and prev[2] == intrinsics:
            if not self.posed:
                motion = np.eye(4)
            elif prev[3] is not None and pose is not None:
                motion = camera_motion(prev[3], pose)
        if motion is not None and prev is not None:
            abs_sum, rel_sum, pixels = pair_error(prev[1], depth_m, intrinsics, motion, prev[4], gt_m)
            self._abs_sum_m += abs_sum
            self._rel_sum += rel_sum
            self._pixels += pixels
            self._pairs += 1
        if motion is None or not is_standing(motion):
            self._close_segment()
            self._segment = _Segment(index, depth_m) if (pose is not None or not self.posed) else None
        if self._segment is not None:
            self._segment.add(depth_m)
            self._segments[self._segment.first_index] = self._segment.snapshot()
        self._prev = (index, depth_m, intrinsics, pose if self.posed else None, gt_m)

    def _close_segment(self) -> None:
        if self._segment is not None:
            self._segments[self._segment.first_index] = self._segment.snapshot()
        self._segment = None

    def part(self) -> dict[str, Any]:
        """The sums since the last :meth:`part` (JSON-ready; :func:`merge_parts` adds parts up): consistency sums
        of the pairs whose later frame came since, and the standing segments touched since (a snapshot each)."""
        part = {"abs_sum_m": self._abs_sum_m, "rel_sum": self._rel_sum, "pixels": self._pixels,
                "pairs": self._pairs, "segments": {str(k): v for k, v in self._segments.items()}}
        self._new_part()
        return part

    def summary(self) -> dict[str, float | int | None]:
        """:func:`merge_parts` of everything added (ends the current part)."""
        return merge_parts([self.part()])


def merge_parts(parts: Iterable[Mapping[str, Any]]) -> dict[str, float | int | None]:
    """The metrics of a sequence from its parts (:meth:`TemporalMetrics.part`), each frame pair in one part; a
    standing segment seen in several parts counts with its longest snapshot.

    Returns:
        ``consistency_error_m`` (mean |warped - next| [m], None without a pair), ``consistency_rel`` [1],
        ``consistency_pairs``, ``consistency_pixels``, ``flicker_m`` (mean per-pixel std [m] over the standing
        segments of >= 3 frames, None without one), ``flicker_pixels``, ``standing_segments``, ``standing_frames``.
    """
    abs_sum = rel_sum = 0.0
    pixels = pairs = 0
    segments: dict[str, Mapping[str, Any]] = {}
    for part in parts:
        abs_sum += float(part.get("abs_sum_m", 0.0))
        rel_sum += float(part.get("rel_sum", 0.0))
        pixels += int(part.get("pixels", 0))
        pairs += int(part.get("pairs", 0))
        for key, segment in dict(part.get("segments", {})).items():
            if key not in segments or segment["frames"] > segments[key]["frames"]:
                segments[key] = segment
    standing = [s for s in segments.values() if s["frames"] >= MIN_FLICKER_FRAMES]
    flicker_pixels = sum(int(s["pixels"]) for s in standing)
    return {
        "consistency_error_m": abs_sum / pixels if pixels else None,
        "consistency_rel": rel_sum / pixels if pixels else None,
        "consistency_pairs": pairs, "consistency_pixels": pixels,
        "flicker_m": sum(float(s["std_sum_m"]) for s in standing) / flicker_pixels if flicker_pixels else None,
        "flicker_pixels": flicker_pixels, "standing_segments": len(standing),
        "standing_frames": sum(int(s["frames"]) for s in standing),
    }


def sequence_metrics(depths_m: Iterable[np.ndarray], intrinsics: CameraIntrinsics,
                     poses: Iterable[np.ndarray | None] | None = None,
                     gts_m: Iterable[np.ndarray | None] | None = None) -> dict[str, float | int | None]:
    """:func:`merge_parts` of a whole sequence: ``depths_m`` (H, W) [m] in capture order, their 4x4
    ``world_T_camera`` poses (None: a standing camera) and ground truths (optional)."""
    depths = list(depths_m)
    pose_list = list(poses) if poses is not None else [None] * len(depths)
    gt_list = list(gts_m) if gts_m is not None else [None] * len(depths)
    metrics = TemporalMetrics(posed=poses is not None)
    for index, (depth, pose, gt) in enumerate(zip(depths, pose_list, gt_list)):
        metrics.add(index, depth, intrinsics, pose, gt)
    return metrics.summary()


__all__ = ["MIN_FLICKER_FRAMES", "STANDING_ROTATION_RAD", "STANDING_TRANSLATION_M", "TemporalMetrics",
           "camera_motion", "forward_warp", "is_standing", "merge_parts", "pair_error", "sequence_metrics",
           "valid_depth"]
