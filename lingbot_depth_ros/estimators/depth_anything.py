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
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError
from lingbot_depth_ros.estimators.base import METRIC, MONOCULAR, RELATIVE_DISPARITY, DepthEstimate
from lingbot_depth_ros.estimators.hf_common import HFDepthEstimator, hf_options
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec

P = ParamSpec
#: the depth_anything estimator's options (node parameters ``depth_anything.<option>``, CLI flags ``--<option>``)
OPTIONS: tuple[ParamSpec, ...] = hf_options(
    "Depth Anything", "depth-anything/Depth-Anything-V2-Small-hf", "Depth Anything V1/V2 checkpoint: "
    "a local folder in the Hugging Face layout, or a repo id resolved through the local HF cache (downloaded "
    "only when missing and online). Relative checkpoints output disparity and need align_to_sparse; metric "
    "fine-tunes (e.g. depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf) publish metres.",
    "fp32, fp16 or bf16 (reduced precision on CUDA only, bf16 only with native support; the CPU runs fp32).") + (
    P("input_size", 0, "Side [px] of the image processor's aspect-preserving resize (rounded to a "
      "multiple of 14; the checkpoints use 518): smaller is faster and coarser; 0 = the checkpoint's.",
      min=0, max=4096, none_value=0, read_only=True),
)
MIN_INPUT_SIZE = 14  # [px]: one ViT patch; 1..13 are refused (0 = the checkpoint's)


def check_input_size(value: int | None, estimator: str) -> int | None:
    """An ``input_size`` option already in its table range (None = the checkpoint's): refuse 1..13 [px]."""
    if value is not None and value < MIN_INPUT_SIZE:
        raise ConfigError(f"{estimator}.input_size must be 0 (the checkpoint's) or at least {MIN_INPUT_SIZE} [px], "
                          f"got {value!r}")
    return value


def size_override(input_size: int | None) -> dict[str, object]:
    """Processor keyword arguments for ``input_size`` (empty = the checkpoint's size)."""
    return {} if input_size is None else {"size": {"height": input_size, "width": input_size}}


class DepthAnythingEstimator(HFDepthEstimator):
    """Depth Anything V1/V2 (relative or metric checkpoints), monocular.

    Options: :data:`OPTIONS` (``input_size`` None / 0 = the checkpoint's processor setting);
    ``cache_dir``: Hugging Face hub cache for repo ids (default: huggingface_hub's).
    """

    name = "depth_anything"
    summary = "Depth Anything V1/V2: monocular, relative checkpoints need align_to_sparse"
    supported_modes = frozenset({MONOCULAR})
    options = OPTIONS
    requires = ("torch", "transformers", "PIL")
    learned = True  # weights: checked by the LiDAR agreement guard
    model_types = ("depth_anything",)
    model_class = "DepthAnythingForDepthEstimation"

    def __init__(self, *, cache_dir: str | Path | None = None, **options: Any) -> None:
        o = self.resolve_options(options)
        self.input_size = check_input_size(o["input_size"], self.name)
        super().__init__(o, cache_dir=cache_dir)
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
