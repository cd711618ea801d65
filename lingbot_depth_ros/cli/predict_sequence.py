"""``lingbot-depth predict`` over a folder as one sequence (issue 21): the node's temporal stage and the temporal
metrics, frame by frame in name order.

``--param temporal.*`` (the node's table): ``temporal.lidar_sweeps`` > 1 densifies each frame's sparse depth with
the older sweeps before the estimator, ``temporal.enabled`` filters the depth (and confidence) after it; the
colour picture and the point cloud are made from the filtered depth. Poses: ``--poses FILE`` (one per image, 4x4 /
KITTI 3x4 / TUM), used by the stage with ``temporal.pose_source`` other than none (else a standing camera), and by
the metrics whenever given. Image files carry no capture time: the filter's and the sweeps' time limits do not
apply. Resets are said once per run of a reason on stderr; ``temporal.json`` in the output folder keeps the
metrics, the resets and each announcement.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.batch.poses import load_pose_file
from lingbot_depth_ros.batch.worker import temporal_active
from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.evaluation.temporal_metrics import TemporalMetrics
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.pipeline.prediction import Prediction
from lingbot_depth_ros.pipeline.temporal_stage import (
    NO_POSE_SOURCE,
    STANDING,
    FramePose,
    TemporalConfig,
    TemporalStage,
    filter_device,
)

#: the colour picture and cloud of a filtered frame, as ``predict_depth`` makes them (full range, coloured points)
_PICTURE_SETTINGS = OutputSettings(depth_min_m=0.0, depth_max_m=1e9, cloud_organized=False, cloud_rgb=True,
                                   cloud_stride=1, cloud_min_range_m=0.0, cloud_max_range_m=float("inf"))


def temporal_values(assignments: Sequence[str]) -> dict[str, Any]:
    """The node's parameter values with ``--param`` ``assignments`` (``temporal.*`` names only).

    Raises:
        ConfigError: another parameter, a malformed assignment or a bad value (checked by the node's table).
    """
    others = [a.partition("=")[0].strip() for a in assignments if not a.strip().startswith("temporal.")]
    if others:
        raise ConfigError(f"predict takes only temporal.* parameters with --param (got {', '.join(others)}; the "
                          "others are predict's own options)")
    return node_values(assignments)


class PredictSequence:
    """One predict run's temporal stage and metrics (the frames in order, one :meth:`densify` and one
    :meth:`smooth` each)."""

    def __init__(self, values: dict[str, Any], poses: list[np.ndarray] | None) -> None:
        self.config = TemporalConfig.from_params(values)
        self.active = temporal_active(values)
        self.poses = poses
        self.stage = TemporalStage()
        self.metrics = TemporalMetrics(posed=poses is not None)
        self.announcements: list[str] = []   # said since the last take_announcements()
        self._said: list[str] = []           # every announcement of the run

    @classmethod
    def from_options(cls, assignments: Sequence[str], poses_file: Path | None,
                     image_names: Sequence[str]) -> PredictSequence:
        """The run's sequence from ``--param`` and ``--poses`` (``image_names``: the frames in order).

        Raises:
            ConfigError / InputError: bad parameters, a corrupt pose file, fewer poses than images, a pose source
                without ``--poses``.
        """
        values = temporal_values(assignments)
        poses = load_pose_file(poses_file, image_names) if poses_file is not None else None
        if poses is None and values["temporal.pose_source"] != NO_POSE_SOURCE and temporal_active(values):
            raise InputError(f"temporal.pose_source {values['temporal.pose_source']} needs --poses FILE for image "
                             "files (temporal.pose_source none: a standing camera)")
        return cls(values, poses)

    def use_estimator(self, estimator: object) -> None:
        """Keep the filter's history on ``estimator``'s CUDA device (LingBot-Depth on a GPU), as the node does."""
        device = filter_device(estimator)
        if device is not None:
            self.stage = TemporalStage(device)

    def _pose(self, index: int) -> FramePose:
        if self.config.pose_source == NO_POSE_SOURCE or self.poses is None:
            return STANDING
        return FramePose(self.poses[index])

    def densify(self, index: int, sparse_m: np.ndarray | None, intrinsics: CameraIntrinsics) -> np.ndarray | None:
        """Frame ``index``'s (H, W) sparse depth [m] (0 = none) with the older sweeps (``temporal.lidar_sweeps``
        > 1), else as it is."""
        if sparse_m is None or self.config.sweeps.sweeps <= 1:
            return sparse_m
        dense = self.stage.densify(np.nan_to_num(sparse_m, nan=0.0), intrinsics, self._pose(index), None,
                                   self.config)
        self._take_announcement(index)
        return dense

    def smooth(self, index: int, prediction: Prediction, rgb: np.ndarray) -> Prediction:
        """Frame ``index``'s prediction with the filtered depth and confidence (``temporal.enabled``; the picture
        and the cloud made again from it), recorded in the metrics."""
        result = self.stage.smooth(prediction.depth_m, prediction.confidence, prediction.intrinsics,
                                   self._pose(index), None, self.config)
        self._take_announcement(index)
        if result is not None:
            prediction = _with_depth(prediction, result.depth_m, result.confidence, rgb)
        self.metrics.add(index, prediction.depth_m, prediction.intrinsics,
                         self.poses[index] if self.poses is not None else None)
        return prediction

    def _take_announcement(self, index: int) -> None:
        message = self.stage.take_announcement()
        if message is not None:
            self.announcements.append(f"frame {index}: {message}")

    def take_announcements(self) -> list[str]:
        """The resets said since the last call (one line each)."""
        lines, self.announcements = self.announcements, []
        self._said += lines
        return lines

    def summary(self) -> dict[str, Any]:
        """Metrics (:func:`~lingbot_depth_ros.evaluation.temporal_metrics.merge_parts`), resets by reason and
        every announcement of the run."""
        self.take_announcements()
        return {"temporal_enabled": self.config.enabled, "lidar_sweeps": self.config.sweeps.sweeps,
                "pose_source": self.config.pose_source,
                "poses": "file" if self.poses is not None else "none (a standing camera assumed)",
                **self.metrics.summary(), "resets": dict(sorted(self.stage.resets.items())),
                "announcements": list(self._said)}

    def write_summary(self, out: Path) -> tuple[Path, str]:
        """``temporal.json`` in ``out`` and a one-line summary."""
        summary = self.summary()
        path = out / "temporal.json"
        path.write_text(json.dumps(summary, indent=2))
        error, flicker = (_mm(summary[key]) for key in ("consistency_error_m", "flicker_m"))
        resets = ", ".join(f"{k}: {n}" for k, n in summary["resets"].items()) or "none"
        line = (f"temporal: consistency error {error} over {summary['consistency_pairs']} pairs, flicker {flicker} "
                f"(poses: {summary['poses']}); resets: {resets}")
        return path, line


def _mm(value_m: float | None) -> str:
    return "—" if value_m is None else f"{value_m * 1000:.1f} mm"


def _with_depth(prediction: Prediction, depth_m: np.ndarray, confidence: np.ndarray | None,
                rgb: np.ndarray) -> Prediction:
    """``prediction`` with another depth (NaN = none) and confidence: validity, range, picture, cloud made again."""
    depth = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    valid = np.isfinite(depth)
    if prediction.confidence is not None:
        source = confidence if confidence is not None else prediction.confidence
        confidence = np.where(valid, np.nan_to_num(source, nan=0.0), np.nan).astype(np.float32)
    else:
        confidence = None
    cloud = DepthPipeline.cloud(depth, rgb, prediction.intrinsics, _PICTURE_SETTINGS)
    return dataclasses.replace(
        prediction, depth_m=depth, valid=valid, colorized=DepthPipeline.colorize(depth, _PICTURE_SETTINGS),
        points_xyz=cloud.xyz, points_rgb=cloud.rgb if cloud.rgb is not None else prediction.points_rgb[:0],
        depth_range_m=(float(depth[valid].min()), float(depth[valid].max())) if valid.any() else None,
        confidence=confidence)


__all__ = ["PredictSequence", "temporal_values"]
