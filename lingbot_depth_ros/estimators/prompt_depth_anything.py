"""The ``prompt_depth_anything`` estimator: Prompt Depth Anything through transformers (completion).

Prompt Depth Anything is a Depth Anything whose decoder takes a low-resolution *metric* depth map as
a prompt (the official models were trained with an iPhone's 256x192 LiDAR depth). The model min-max
normalises the prompt, injects it at every fusion stage, and maps its output back to the prompt's
depth range: the output is metric depth [m].

A robot's LiDAR gives *sparse* depth at the image resolution, so it is resampled to what the model
expects (:func:`prompt_from_sparse`):

1. downsample to a grid whose longer side is ``prompt_max_side`` (default 256, the size the models
   were trained with), each cell the mean of the LiDAR samples inside it (``cv2.INTER_AREA`` on the
   masked depth divided by the same on the mask);
2. fill the cells without a sample with the nearest cell that has one (nearest-neighbour fill at low
   resolution: cheap, never invents depths outside the measured range, and the decoder smooths it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators.base import COMPLETION, METRIC, DepthEstimate, sparse_valid_mask
from lingbot_depth_ros.estimators.depth_anything import check_input_size, size_override
from lingbot_depth_ros.estimators.hf_common import HFDepthEstimator, hf_options
from lingbot_depth_ros.estimators.nearest import nearest_fill
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec

DEFAULT_PROMPT_MAX_SIDE = 256


def prompt_from_sparse(sparse_depth_m: np.ndarray, max_side: int = DEFAULT_PROMPT_MAX_SIDE) -> np.ndarray:
    """Dense low-resolution prompt depth from sparse depth (see module docstring).

    Args:
        sparse_depth_m: (H, W) float sparse depth [m], 0 / NaN = no measurement.
        max_side: longer side [px] of the prompt; an image already smaller keeps its size.

    Returns:
        (h, w) float32 depth [m], every cell filled, h / w = H / W (rounded).

    Raises:
        InputError: no valid measurement at all.
    """
    mask = sparse_valid_mask(sparse_depth_m)
    if not mask.any():
        raise InputError("sparse depth has no valid measurement: Prompt Depth Anything needs a LiDAR prompt")
    height, width = sparse_depth_m.shape
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # cv2 order: (w, h)
    values: np.ndarray = np.where(mask, sparse_depth_m, 0).astype(np.float32)
    weights: np.ndarray = mask.astype(np.float32)
    if scale < 1.0:
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
    has_sample = weights > 1e-6
    low = np.where(has_sample, values / np.maximum(weights, 1e-6), 0).astype(np.float32)
    filled, _ = nearest_fill(low, has_sample)
    return filled


#: the prompt_depth_anything estimator's options (node parameters ``prompt_depth_anything.<option>``)
OPTIONS: tuple[ParamSpec, ...] = hf_options(
    "Prompt Depth Anything", "depth-anything/prompt-depth-anything-vits-hf", "Prompt Depth Anything "
    "checkpoint (vits / vitb / vitl): a local folder in the Hugging Face layout, or a repo id resolved through "
    "the local HF cache. Completion only: the LiDAR / sparse depth is its prompt.",
    "fp32, fp16 or bf16 (reduced precision on CUDA only; the CPU runs fp32).") + (
    ParamSpec("input_size", 0, "Side [px] of the image resize (multiple of 14); 0 = the checkpoint's.",
              min=0, max=4096, none_value=0, read_only=True),
    ParamSpec("prompt_max_side", DEFAULT_PROMPT_MAX_SIDE, "Longer side [px] of the low-resolution prompt the "
              "sparse depth is resampled to (mean of the samples per cell, empty cells nearest-filled; the models "
              "were trained with 256x192 LiDAR depth).", min=8, max=4096, read_only=True),
)


class PromptDepthAnythingEstimator(HFDepthEstimator):
    """Prompt Depth Anything: RGB + LiDAR prompt -> metric depth (completion only).

    Options: :data:`OPTIONS` (``input_size`` None / 0 = the checkpoint's; ``prompt_max_side``: see
    :func:`prompt_from_sparse`); ``cache_dir``: Hugging Face hub cache for repo ids.
    """

    name = "prompt_depth_anything"
    summary = "completion: LiDAR-prompted Depth Anything"
    supported_modes = frozenset({COMPLETION})
    output_kind = METRIC
    options = OPTIONS
    requires = ("torch", "transformers", "PIL")
    learned = True  # weights: checked by the LiDAR agreement guard
    model_types = ("prompt_depth_anything",)
    model_class = "PromptDepthAnythingForDepthEstimation"

    def __init__(self, *, cache_dir: str | Path | None = None, **options: Any) -> None:
        o = self.resolve_options(options)
        self.input_size = check_input_size(o["input_size"], self.name)
        self.prompt_max_side: int = o["prompt_max_side"]
        super().__init__(o, cache_dir=cache_dir)

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        assert sparse_depth_m is not None  # completion only: guaranteed by DepthEstimator.estimate
        height, width = rgb.shape[:2]
        prompt = prompt_from_sparse(sparse_depth_m, self.prompt_max_side)
        inputs = self.processor(images=rgb, prompt_depth=prompt, prompt_scale_to_meter=1.0, return_tensors="pt",
                                **size_override(self.input_size))
        outputs = self.run_model(dict(inputs))
        outputs.predicted_depth = outputs.predicted_depth.float()
        resized = self.processor.post_process_depth_estimation(outputs, target_sizes=[(height, width)])
        depth = self.to_numpy(resized[0]["predicted_depth"])
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(depth) & (depth > 0)
        return DepthEstimate(depth_m=depth, valid=valid)

    def describe(self) -> str:
        size = f"input_size={self.input_size}" if self.input_size else "input_size=checkpoint"
        return f"{super().describe()}, {size}, prompt <= {self.prompt_max_side} px"
