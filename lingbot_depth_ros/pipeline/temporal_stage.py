"""One camera's temporal state (ROS-free): multi-sweep LiDAR before the estimator, the temporal filter after it.

The depth node keeps one :class:`TemporalStage` per camera, the offline runs (``lingbot-depth predict`` on a
sequence, ``batch`` per bag) one per sequence; frames go through it in capture order:

1. :meth:`TemporalStage.densify`: the frame's sparse depth [m] with the previous ``temporal.lidar_sweeps - 1``
   sweeps reprojected into it (:class:`~lingbot_depth_ros.pipeline.lidar_sweeps.LidarSweeps`), given to a
   completion estimator;
2. :meth:`TemporalStage.smooth`: the published depth (and its confidence) filtered with the warped history
   (:class:`~lingbot_depth_ros.pipeline.temporal_filter.TemporalFilter`).

Both need the camera's pose at the frame (``world_T_camera``, 4x4, optical frame, metres, in a fixed frame), which
the caller looks up from ``temporal.pose_source`` (none: a standing camera, no pose needed). A reset of the history
(a missing or stale pose, a size change, time going backwards...) is counted by reason; :attr:`TemporalStage.
announcement` says it once per run of resets of one reason (the node logs it as a warning).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.lidar_sweeps import LidarSweeps, SweepSettings
from lingbot_depth_ros.pipeline.temporal_filter import POSE_MISSING, TemporalResult, TemporalSettings
from lingbot_depth_ros.pipeline.temporal_filter_factory import make_temporal_filter

NO_POSE_SOURCE = "none"
#: reset reason: the image's frame_id or the poses' fixed frame differs from the history's
FRAME_CHANGED = "frame changed"


@dataclass(frozen=True)
class TemporalConfig:
    """The ``temporal.*`` parameter values (:mod:`lingbot_depth_ros.params.temporal`) as the stage uses them."""

    enabled: bool = False
    pose_source: str = NO_POSE_SOURCE
    max_pose_age_s: float = 0.1
    filter: TemporalSettings = TemporalSettings()
    sweeps: SweepSettings = SweepSettings()

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> TemporalConfig:
        """The config of the node's (or an offline run's) parameter ``values``."""
        v = values
        moving = v["temporal.pose_source"] != NO_POSE_SOURCE
        return cls(
            enabled=v["temporal.enabled"], pose_source=v["temporal.pose_source"],
            max_pose_age_s=v["temporal.max_pose_age_s"],
            filter=TemporalSettings(reset_rel=v["temporal.reset_rel"],
                                    max_history_weight=v["temporal.max_history_weight"],
                                    hole_decay=v["temporal.hole_decay"], min_hole_weight=v["temporal.min_hole_weight"],
                                    pose_required=moving, max_gap_s=v["temporal.max_gap_s"],
                                    max_jump_m=v["temporal.max_jump_m"], confirm_frames=v["temporal.confirm_frames"]),
            sweeps=SweepSettings(sweeps=v["temporal.lidar_sweeps"], disagree_rel=v["temporal.sweep_disagree_rel"],
                                 max_age_s=v["temporal.sweep_max_age_s"]))

    @property
    def needs_pose(self) -> bool:
        """Frames need the camera's pose: a pose source is set and the filter or the sweeps are on."""
        return self.pose_source != NO_POSE_SOURCE and (self.enabled or self.sweeps.sweeps > 1)


@dataclass(frozen=True)
class FramePose:
    """The camera's pose at a frame: ``world_T_camera`` 4x4 float64 (optical frame, metres, in the fixed frame
    ``fixed_frame``) or None with ``problem`` saying why there is none (e.g. "no pose within 0.1 s of the image
    stamp")."""

    world_T_camera: np.ndarray | None = None
    problem: str | None = None
    fixed_frame: str = ""


STANDING = FramePose()   # pose source none: no pose, no problem


@dataclass(frozen=True)
class TemporalStep:
    """What :meth:`DepthPipeline.finish <lingbot_depth_ros.pipeline.depth_pipeline.DepthPipeline.finish>` needs to
    filter one frame: the camera's stage, the frame's pose and capture time [s], the config of this frame."""

    stage: TemporalStage
    pose: FramePose
    stamp_s: float | None
    config: TemporalConfig


def filter_device(estimator: object) -> str | None:
    """The torch device the temporal filter keeps its history on: the estimator's CUDA device (LingBot-Depth on a
    GPU), else None (the numpy/OpenCV filter on the host, faster on a CPU: bench/bench_temporal_cost.py)."""
    device = getattr(getattr(estimator, "model", None), "device", None)
    kind = getattr(device, "type", None)
    return str(device) if kind == "cuda" else None


class TemporalStage:
    """One camera's (or sequence's) sweeps and filter, fed in capture order (see the module docstring). Not
    thread-safe: one frame at a time (the node's camera channel finishes one frame at a time).

    ``device``: where the filter's history lives (:func:`~lingbot_depth_ros.pipeline.temporal_filter_factory.
    make_temporal_filter`: None = numpy on the host, ``"cuda:0"`` = torch on that GPU; :func:`filter_device`).
    """

    def __init__(self, device: str | None = None) -> None:
        self.filter = make_temporal_filter(None, device)
        self.sweeps = LidarSweeps()
        self.resets: Counter[str] = Counter()   # history resets by reason (filter and sweeps)
        self.last_reset = ""                    # the last reset with its detail ("" = none yet)
        self.announcement: str | None = None    # a reset to log once (set by the frame that starts a run)
        self._runs: dict[str, str] = {}         # part ("temporal filter", "lidar sweeps") -> reason of its run
        self.last_result: TemporalResult | None = None
        self._frames: tuple[str, str] | None = None   # (image frame_id, poses' fixed frame) of the last frame

    def reset(self) -> None:
        """Forget both histories (e.g. the filter was turned off, the node deactivated)."""
        self.filter.reset()
        self.sweeps.reset()
        self._runs.clear()
        self._frames = None

    def check_frames(self, image_frame_id: str, pose: FramePose) -> None:
        """Call first for each frame: forget both histories (a counted, announced reset) when the image's frame_id
        or the poses' fixed frame differs from the last frame's (another camera on the topic, a relocalised map)."""
        frames = (image_frame_id, pose.fixed_frame or (self._frames[1] if self._frames else ""))
        if self._frames is not None and frames != self._frames and (self.filter.has_history
                                                                    or self.sweeps.held_points):
            what = "image" if frames[0] != self._frames[0] else "pose"
            old, new = (self._frames[0], frames[0]) if what == "image" else (self._frames[1], frames[1])
            self.filter.reset()
            self.sweeps.reset()
            self._record("temporal", FRAME_CHANGED, f"{what} frame '{old}' -> '{new}'")
        self._frames = frames

    def densify(self, sparse_m: np.ndarray, intrinsics: CameraIntrinsics, pose: FramePose, stamp_s: float | None,
                config: TemporalConfig) -> np.ndarray:
        """(H, W) float32 sparse depth [m] (0 = no return) of this frame with the older sweeps reprojected into it
        (``config.sweeps.sweeps`` > 1), else ``sparse_m`` as it is. A reset of the older sweeps is recorded."""
        if config.sweeps.sweeps <= 1:
            if self.sweeps.held_points:
                self.sweeps.reset()
            return sparse_m
        if self.sweeps.settings != config.sweeps:
            self.sweeps = LidarSweeps(config.sweeps)
        world_T_camera = pose.world_T_camera if config.pose_source != NO_POSE_SOURCE else None
        result = self.sweeps.add(sparse_m, intrinsics, world_T_camera, stamp_s)
        reason = result.reset_reason
        if config.pose_source != NO_POSE_SOURCE and pose.world_T_camera is None:
            self.sweeps.reset()   # without a pose the older sweeps cannot be reprojected: the next frame starts again
            reason = reason or POSE_MISSING
        if reason is not None:
            self._record("lidar sweeps", reason, pose.problem)
        else:
            self._runs.pop("lidar sweeps", None)
        return result.depth_m

    def smooth(self, depth_m: np.ndarray, confidence: np.ndarray | None, intrinsics: CameraIntrinsics,
               pose: FramePose, stamp_s: float | None, config: TemporalConfig) -> TemporalResult | None:
        """The filtered frame (``config.enabled``), else None (and the history is forgotten).

        Raises:
            InputError: ``depth_m`` / ``confidence`` not (H, W) of the intrinsics' size.
        """
        if not config.enabled:
            if self.filter.has_history:
                self.filter.reset()
            return None
        if self.filter.settings != config.filter:
            self.filter.settings = config.filter
        if config.pose_source == NO_POSE_SOURCE:
            result = self.filter.update(depth_m, confidence, intrinsics, None, stamp_s=stamp_s)
        else:
            result = self.filter.update_at_pose(depth_m, confidence, intrinsics, pose.world_T_camera,
                                                stamp_s=stamp_s)
        if result.reset_reason is not None:
            self._record("temporal filter", result.reset_reason, pose.problem)
        else:
            self._runs.pop("temporal filter", None)
        self.last_result = result
        return result

    def _record(self, what: str, reason: str, pose_problem: str | None) -> None:
        detail = f"{reason} ({pose_problem})" if pose_problem and ("pose" in reason or reason == FRAME_CHANGED) \
            else reason
        self.resets[reason] += 1
        self.last_reset = f"{what}: {detail}"
        if self._runs.get(what) != reason:
            self._runs[what] = reason
            self.announcement = f"{what}: history reset, {detail} (said once until it recovers; counted in " \
                                f"diagnostics 'temporal resets')"

    def resetting(self) -> str | None:
        """The last reset while its run goes on (the last frame reset the history), else None."""
        return self.last_reset if self._runs else None

    def take_announcement(self) -> str | None:
        """The reset to log now (once per run of resets of one reason), or None."""
        message, self.announcement = self.announcement, None
        return message

    def diagnostics(self, config: TemporalConfig) -> list[tuple[str, str]]:
        """(key, value) pairs for the camera's diagnostics status."""
        if not config.enabled and config.sweeps.sweeps <= 1:
            return [("temporal", "off (temporal.enabled false, temporal.lidar_sweeps 1)")]
        values = [("temporal pose source", config.pose_source),
                  ("temporal resets", ", ".join(f"{k}: {n}" for k, n in sorted(self.resets.items())) or "none"),
                  ("temporal last reset", self.last_reset or "none")]
        if config.sweeps.sweeps > 1:
            values.append(("lidar sweeps held points", str(self.sweeps.held_points)))
        result = self.last_result
        if config.enabled and result is not None:
            values.append(("temporal last frame blended / reset / filled pixels",
                           f"{result.blended_pixels} / {result.reset_pixels} / {result.filled_pixels}"))
        return values
