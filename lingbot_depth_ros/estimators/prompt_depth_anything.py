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

import cv2
import numpy as np

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.estimators.base import COMPLETION, METRIC, DepthEstimate, sparse_valid_mask
from lingbot_depth_ros.estimators.depth_anything import check_input_size, size_override
from lingbot_depth_ros.estimators.hf_common import HFDepthEstimator
from lingbot_depth_ros.estimators.nearest import nearest_fill
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

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
    values = np.where(mask, sparse_depth_m, 0).astype(np.float32)
    weights = mask.astype(np.float32)
    if scale < 1.0:
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
    has_sample = weights > 1e-6
    low = np.where(has_sample, values / np.maximum(weights, 1e-6), 0).astype(np.float32)
    filled, _ = nearest_fill(low, has_sample)
    return filled


class PromptDepthAnythingEstimator(HFDepthEstimator):
    """Prompt Depth Anything: RGB + LiDAR prompt -> metric depth (completion only).

    Args (besides :class:`~lingbot_depth_ros.estimators.hf_common.HFDepthEstimator`'s):
        input_size: target side [px] of the image resize (multiple of 14); None / 0 = the checkpoint's.
        prompt_max_side: longer side [px] of the prompt depth grid (see :func:`prompt_from_sparse`).
    """

    name = "prompt_depth_anything"
    supported_modes = frozenset({COMPLETION})
    output_kind = METRIC
    model_types = ("prompt_depth_anything",)
    model_class = "PromptDepthAnythingForDepthEstimation"
    example_repo = "depth-anything/prompt-depth-anything-vits-hf"

    def __init__(self, checkpoint: str | None = None, device: str = "auto", precision: str = "bf16",
                 input_size: int | None = None, prompt_max_side: int = DEFAULT_PROMPT_MAX_SIDE,
                 cache_dir: str | Path | None = None) -> None:
        self.input_size = check_input_size(input_size, self.name)
        if isinstance(prompt_max_side, bool) or not isinstance(prompt_max_side, int) or \
                not 8 <= prompt_max_side <= 4096:
            raise ConfigError(f"{self.name}.prompt_max_side must be an integer in 8..4096 [px], "
                              f"got {prompt_max_side!r}")
        self.prompt_max_side = prompt_max_side
        super().__init__(checkpoint, device=device, precision=precision, cache_dir=cache_dir)

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
