"""What a replay produced, frame by frame and per run, and how a frame is scored. No rclpy.

A run's figure is the mean of the per-frame values (the KITTI convention); ``n_valid`` is summed.
Every frame is scored twice (:func:`score_frame`): on the pixels the prediction covered, and on all
valid ground-truth pixels with the uncovered ones filled from the nearest prediction (see
:mod:`lingbot_depth_ros.evaluation.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.metrics import depth_metrics
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


@dataclass
class FrameInputs:
    """What the bag gave for one frame: (H, W, 3) uint8 ``rgb``; (H, W) float32 ``sparse_depth_m`` and
    ``depth_gt_m`` [m] (0 = none) or None. ``sparse_label`` names the sparse input in the pictures
    (e.g. the projected LiDAR cloud when the node was sent clouds, not the sparse image). ``intrinsics`` and
    ``camera_pose`` (4x4 T_world_camera, the bag's ground-truth pose) feed the temporal metrics (None: not known)."""

    index: int
    stamp_ns: int
    rgb: np.ndarray
    sparse_depth_m: np.ndarray | None
    depth_gt_m: np.ndarray | None
    sparse_label: str = "sparse input"
    intrinsics: CameraIntrinsics | None = None
    camera_pose: np.ndarray | None = None


@dataclass
class FrameOutcome:
    """One frame of one run: whether an output came back, its latency [ms], its metrics (None if no GT)
    and the number of finite points of its cloud (None when clouds were not recorded or none came).

    ``metrics``: errors on the pixels the prediction covered (``invalid="exclude"``);
    ``metrics_all``: errors on all valid ground-truth pixels, uncovered ones filled with the nearest
    predicted depth (``invalid="nearest"``). Both carry the same ``coverage``.
    """

    index: int
    stamp_ns: int
    answered: bool
    latency_ms: float | None = None
    metrics: dict[str, float] | None = None
    cloud_points: int | None = None
    metrics_all: dict[str, float] | None = None


@dataclass
class RunResult:
    """One replay of a bag into one node.

    ``predictions``: frame index -> (H, W) float32 depth [m] (NaN/0 = invalid) of the answered
    frames; ``first_send_s`` / ``last_receive_s``: monotonic times [s] bounding the run;
    ``settings``: how it ran (rate, estimator, topics...).
    """

    label: str
    outcomes: list[FrameOutcome]
    predictions: dict[int, np.ndarray] = field(default_factory=dict)
    first_send_s: float = 0.0
    last_receive_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts, latency statistics [ms], throughput [Hz] and mean metrics of the run."""
        sent = len(self.outcomes)
        answered = [o for o in self.outcomes if o.answered]
        latencies = [o.latency_ms for o in answered if o.latency_ms is not None]
        span = self.last_receive_s - self.first_send_s
        return {
            "label": self.label,
            "frames_sent": sent,
            "frames_answered": len(answered),
            "frames_dropped": sent - len(answered),
            "latency_ms": latency_stats(latencies),
            "throughput_hz": (len(answered) / span) if answered and span > 0 else 0.0,
            "metrics": mean_metrics([o.metrics for o in answered if o.metrics is not None]),
            "metrics_all": mean_metrics([o.metrics_all for o in answered if o.metrics_all is not None]),
            "settings": self.settings,
        }


def latency_stats(latencies_ms: list[float]) -> dict[str, float | None]:
    """mean, min, p50, p90, p95, max of latencies [ms] (None values when the list is empty)."""
    keys = ("mean", "min", "p50", "p90", "p95", "max")
    if not latencies_ms:
        return {k: None for k in keys}
    values = np.asarray(latencies_ms, dtype=np.float64)
    return {"mean": float(values.mean()), "min": float(values.min()), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)), "p95": float(np.percentile(values, 95)),
            "max": float(values.max())}


def mean_metrics(per_frame: list[dict[str, float]]) -> dict[str, float | None]:
    """Mean over frames of every metric (NaN frames skipped), ``n_valid`` summed; {} for no frames."""
    if not per_frame:
        return {}
    out: dict[str, float | None] = {}
    for key in per_frame[0]:
        values = np.array([m[key] for m in per_frame if key in m], dtype=np.float64)
        if key == "n_valid":
            out[key] = float(values.sum())
            continue
        finite = values[np.isfinite(values)]
        out[key] = float(finite.mean()) if finite.size else None
    out["n_frames"] = float(len(per_frame))
    return out


def score_frame(pred_m: np.ndarray, gt_m: np.ndarray | None, max_depth_m: float | None = None,
                invalid: Literal["exclude", "nearest"] = "exclude") -> dict[str, float] | None:
    """:func:`depth_metrics` of one frame (``invalid`` as there), or None when there is no (valid) ground truth."""
    if gt_m is None:
        return None
    if pred_m.shape != gt_m.shape:
        raise InputError(f"prediction {pred_m.shape} and ground truth {gt_m.shape} differ in size")
    try:
        return depth_metrics(pred_m, gt_m, max_depth_m=max_depth_m, invalid=invalid)
    except InputError:
        return None  # no valid ground-truth pixel in this frame


# ---------------------------------------------------------------------------------- report
