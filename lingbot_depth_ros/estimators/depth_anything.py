"""The ``depth_anything`` estimator: Depth Anything V1 / V2 through transformers (monocular).

V1 and V2 checkpoints share one class, ``DepthAnythingForDepthEstimation``, and one image processor
(``DPTImageProcessor``: resize keeping the aspect ratio to a multiple of 14, ImageNet normalisation).
What the output is depends on the checkpoint, read from its ``config.json``:

* ``depth_estimation_type: "relative"`` (the original V1/V2 heads): affine-invariant *disparity*
  (``output_kind`` ``relative_disparity``); published only after ``align_to_sparse`` fitted it to the
  frame's LiDAR in inverse depth (see :mod:`lingbot_depth_ros.geometry.scale_alignment`).
* ``depth_estimation_type: "metric"`` (the metric fine-tunes, e.g. ``...-Metric-Indoor-...`` with
  ``max_depth`` 20 m or ``...-Metric-Outdoor-...`` with 80 m): depth in metres (``metric``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError
from lingbot_depth_ros.estimators.base import METRIC, MONOCULAR, RELATIVE_DISPARITY, DepthEstimate
from lingbot_depth_ros.estimators.hf_common import HFDepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

MAX_INPUT_SIZE = 4096


def check_input_size(value: object, estimator: str) -> int | None:
    """``input_size`` option: None / 0 = the checkpoint's processor size, else an int in [14, 4096] [px]."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 14 <= value <= MAX_INPUT_SIZE:
        raise ConfigError(f"{estimator}.input_size must be 0 (the checkpoint's) or an integer in "
                          f"14..{MAX_INPUT_SIZE} [px], got {value!r}")
    return value


def size_override(input_size: int | None) -> dict[str, object]:
    """Processor keyword arguments for ``input_size`` (empty = the checkpoint's size)."""
    return {} if input_size is None else {"size": {"height": input_size, "width": input_size}}


class DepthAnythingEstimator(HFDepthEstimator):
    """Depth Anything V1/V2 (relative or metric checkpoints), monocular.

    Args (besides :class:`~lingbot_depth_ros.estimators.hf_common.HFDepthEstimator`'s):
        input_size: target side [px] of the processor's aspect-preserving resize (multiple of 14 after
            rounding; the checkpoints use 518); None / 0 = the checkpoint's processor setting. Smaller
            is faster and coarser.
    """

    name = "depth_anything"
    supported_modes = frozenset({MONOCULAR})
    model_types = ("depth_anything",)
    model_class = "DepthAnythingForDepthEstimation"
    example_repo = "depth-anything/Depth-Anything-V2-Small-hf"

    def __init__(self, checkpoint: str | None = None, device: str = "auto", precision: str = "bf16",
                 input_size: int | None = None, cache_dir: str | Path | None = None) -> None:
        self.input_size = check_input_size(input_size, self.name)
        super().__init__(checkpoint, device=device, precision=precision, cache_dir=cache_dir)
        kind = getattr(self.model.config, "depth_estimation_type", "relative")
        if kind not in ("relative", "metric"):
            raise CheckpointError(f"{self.source}: unknown depth_estimation_type {kind!r} (relative or metric)")
        # per checkpoint: relative heads predict disparity, metric fine-tunes metres (sigmoid * max_depth)
        self.output_kind = METRIC if kind == "metric" else RELATIVE_DISPARITY
        self.max_depth_m = float(self.model.config.max_depth) if kind == "metric" else None

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        height, width = rgb.shape[:2]
        inputs = self.processor(images=rgb, return_tensors="pt", **size_override(self.input_size))
        outputs = self.run_model(dict(inputs))
        outputs.predicted_depth = outputs.predicted_depth.float()
        resized = self.processor.post_process_depth_estimation(outputs, target_sizes=[(height, width)])
        depth = self.to_numpy(resized[0]["predicted_depth"])
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(depth) & (depth > 0) if self.output_kind == METRIC else np.isfinite(depth)
        return DepthEstimate(depth_m=depth, valid=valid)

    def describe(self) -> str:
        size = f"input_size={self.input_size}" if self.input_size else "input_size=checkpoint"
        extra = f", max_depth {self.max_depth_m:g} m" if self.max_depth_m is not None else ""
        return f"{super().describe()}, {size}{extra}"
