"""The ``marigold`` estimator: Marigold depth through ``diffusers`` (MarigoldDepthPipeline).

Marigold is a diffusion model fine-tuned from Stable Diffusion: it denoises a depth latent
conditioned on the image latent and decodes an *affine-invariant* depth map in [0, 1] (0 = near,
1 = far for the depth checkpoints): ``output = a * depth_m + b`` with unknown a > 0, b. Its output
kind is therefore ``relative_depth``: the node publishes metres only after fitting a and b to the
LiDAR (``align_to_sparse``).

Test-time ensembling (``ensemble_size > 1``) runs several denoisings from different noise and merges
them (the pipeline's scale/shift-invariant ensembling); every frame draws its noise from a generator
seeded with ``seed``, so a frame always gives the same output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError
from lingbot_depth_ros.estimators.base import MONOCULAR, RELATIVE_DEPTH, DepthEstimate, DepthEstimator
from lingbot_depth_ros.estimators.hf_common import (
    PIPELINE_MARKERS, device_and_dtype, resolve_hf_checkpoint, run_guarded, short_error)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

DEFAULT_REPO = "prs-eth/marigold-depth-v1-1"


def _non_negative_int(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"marigold.{name} must be an integer >= {minimum}, got {value!r}")
    return value


class MarigoldEstimator(DepthEstimator):
    """Marigold: monocular affine-invariant depth (output kind ``relative_depth``).

    Args:
        checkpoint: a local pipeline folder (``model_index.json``, ``unet/``, ``vae/``, ``scheduler/``,
            ``text_encoder/``, ``tokenizer/``) or a repo id resolved through the local HF cache
            (default :data:`DEFAULT_REPO`).
        device: 'auto' (CUDA if available), 'cuda', 'cuda:N' or 'cpu'.
        precision: 'fp32', 'fp16' or 'bf16' (CPU always runs fp32).
        denoising_steps: diffusion steps per prediction; 0 = the checkpoint's default (v1-1: 4).
        ensemble_size: predictions merged per frame (>= 1; more = smoother, proportionally slower).
        processing_resolution: longer side [px] the image is processed at; 0 = the checkpoint's default
            (v1-1: 768). The output is resized back to the input size.
        seed: seed of the noise generator, re-seeded every frame (same frame -> same output).

    Raises:
        CheckpointError: missing or unreadable pipeline folder.
        ConfigError: bad device, precision or knob value.
    """

    name = "marigold"
    supported_modes = frozenset({MONOCULAR})
    output_kind = RELATIVE_DEPTH

    def __init__(self, checkpoint: str = DEFAULT_REPO, device: str = "auto", precision: str = "bf16",
                 denoising_steps: int = 0, ensemble_size: int = 1, processing_resolution: int = 0,
                 seed: int = 0, cache_dir: str | Path | None = None) -> None:
        import torch
        from diffusers import MarigoldDepthPipeline

        self.denoising_steps = _non_negative_int("denoising_steps", denoising_steps)
        self.ensemble_size = _non_negative_int("ensemble_size", ensemble_size, minimum=1)
        self.processing_resolution = _non_negative_int("processing_resolution", processing_resolution)
        self.seed = _non_negative_int("seed", seed)
        self.device, self.dtype, self.precision = device_and_dtype(device, precision)
        folder, self.checkpoint = resolve_hf_checkpoint(checkpoint, "marigold", DEFAULT_REPO,
                                                        markers=PIPELINE_MARKERS, cache_dir=cache_dir)
        try:
            pipe = MarigoldDepthPipeline.from_pretrained(str(folder), local_files_only=True, dtype=self.dtype)
        except Exception as exc:  # noqa: BLE001 - diffusers raises many types for bad folders
            raise CheckpointError(f"marigold.checkpoint {self.checkpoint}: diffusers could not load it as "
                                  f"MarigoldDepthPipeline ({short_error(exc)})") from exc
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self._torch = torch

    def describe(self) -> str:
        steps = self.denoising_steps or f"default {self.pipe.default_denoising_steps}"
        resolution = self.processing_resolution or f"default {self.pipe.default_processing_resolution}"
        return (f"marigold: {self.checkpoint} on {self.device} ({self.precision}), steps {steps}, "
                f"ensemble {self.ensemble_size}, resolution {resolution}, seed {self.seed}")

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        relative = run_guarded(lambda: self._predict(rgb), "Marigold", self.device)
        valid = np.isfinite(relative)
        return DepthEstimate(depth_m=relative, valid=valid)

    def _predict(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 affine-invariant depth in [0, 1] for an (H, W, 3) uint8 image."""
        torch = self._torch
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255.0)
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        options: dict[str, Any] = {"ensemble_size": self.ensemble_size, "generator": generator,
                                   "output_type": "np", "batch_size": min(self.ensemble_size, 4)}
        if self.denoising_steps:
            options["num_inference_steps"] = self.denoising_steps
        if self.processing_resolution:
            options["processing_resolution"] = self.processing_resolution
        with torch.inference_mode():
            out = self.pipe(image.to(self.device), **options)
        return np.asarray(out.prediction, dtype=np.float32)[0, :, :, 0]
