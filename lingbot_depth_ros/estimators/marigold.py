"""The ``marigold`` estimator: Marigold depth through ``diffusers`` (MarigoldDepthPipeline).

Marigold is a diffusion model fine-tuned from Stable Diffusion: it denoises a depth latent
conditioned on the image latent and decodes an *affine-invariant* depth map in [0, 1] (0 = near,
1 = far for the depth checkpoints): ``output = a * depth_m + b`` with unknown a > 0, b. Its output
kind is therefore ``relative_depth``: the node publishes metres only after fitting a and b to the
LiDAR (``align_to_sparse``).

Test-time ensembling (``ensemble_size > 1``) runs several denoisings from different noise and merges
them (the pipeline's scale/shift-invariant ensembling); every frame draws its noise from a generator
seeded with ``seed``, so a frame always gives the same output. With at least three members, the members' spread
is returned as a confidence cue (``DepthEstimate.cues["spread"]``; with two, diffusers' median absolute deviation
is always 0: the lower median of two deviations |a - a| and |b - a|).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import CheckpointError
from lingbot_depth_ros.estimators.base import MONOCULAR, RELATIVE_DEPTH, DepthEstimate, DepthEstimator
from lingbot_depth_ros.estimators.hf_common import (
    PIPELINE_MARKERS,
    device_and_dtype,
    hf_options,
    resolve_hf_checkpoint,
    run_guarded,
    short_error,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec

DEFAULT_REPO = "prs-eth/marigold-depth-v1-1"
MAD_TO_STD = 1.4826  # standard deviation / median absolute deviation of a Gaussian
SPREAD_MIN_MEMBERS = 3  # fewest ensemble members whose median absolute deviation says something


P = ParamSpec
#: the marigold estimator's options (node parameters ``marigold.<option>``, CLI flags ``--<option>``)
OPTIONS: tuple[ParamSpec, ...] = hf_options(
    "Marigold", DEFAULT_REPO, "Marigold pipeline: a local folder in the diffusers "
    "layout (model_index.json, unet/, vae/...), or a repo id resolved through the local HF cache. Its output is "
    "relative depth: set align_to_sparse.",
    "fp32, fp16 or bf16 (reduced precision on CUDA only; the CPU runs fp32).") + (
    P("denoising_steps", 0, "Diffusion steps per prediction; 0 = the checkpoint's default (v1-1: 4).",
      min=0, max=100, read_only=True),
    P("ensemble_size", 1, "Predictions merged per frame (test-time ensembling): smoother, "
      "proportionally slower.", min=1, max=20, read_only=True),
    P("processing_resolution", 0, "Longer image side [px] Marigold runs at; 0 = the checkpoint's "
      "default (v1-1: 768).", min=0, max=4096, read_only=True),
    P("seed", 0, "Seed of the noise, re-drawn every frame: the same image gives the same depth.",
      min=0, max=2**31 - 1, read_only=True),
)


class MarigoldEstimator(DepthEstimator):
    """Marigold: monocular affine-invariant depth (output kind ``relative_depth``).

    Options: :data:`OPTIONS`: ``checkpoint`` a local pipeline folder (``model_index.json``, ``unet/``,
    ``vae/``, ``scheduler/``, ``text_encoder/``, ``tokenizer/``) or a repo id resolved through the local HF
    cache; ``processing_resolution``: the output is resized back to the input size; ``seed``: the noise
    generator is re-seeded every frame (same frame -> same output). ``cache_dir``: Hugging Face hub cache.

    Raises:
        CheckpointError: missing or unreadable pipeline folder.
        ConfigError: an unknown option or value out of range, an unusable device.
    """

    name = "marigold"
    summary = "diffusion: monocular relative depth, needs align_to_sparse"
    supported_modes = frozenset({MONOCULAR})
    output_kind = RELATIVE_DEPTH
    options = OPTIONS
    requires = ("torch", "transformers", "diffusers", "scipy")
    learned = True  # weights: checked by the LiDAR agreement guard

    def __init__(self, *, cache_dir: str | Path | None = None, **options: Any) -> None:
        o = self.resolve_options(options)
        import torch
        from diffusers import MarigoldDepthPipeline

        checkpoint, device, precision = o["checkpoint"], o["device"], o["precision"]
        self.denoising_steps: int = o["denoising_steps"]
        self.ensemble_size: int = o["ensemble_size"]
        self.processing_resolution: int = o["processing_resolution"]
        self.seed: int = o["seed"]
        self.device, self.dtype, self.precision = device_and_dtype(device, precision)
        folder, self.checkpoint = resolve_hf_checkpoint(checkpoint, "marigold", DEFAULT_REPO,
                                                        markers=PIPELINE_MARKERS, cache_dir=cache_dir)
        try:
            pipe = MarigoldDepthPipeline.from_pretrained(str(folder), local_files_only=True, dtype=self.dtype)
        except Exception as exc:
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
        relative, spread = run_guarded(lambda: self._predict(rgb), "Marigold", self.device)
        valid = np.isfinite(relative)
        cues = {"spread": spread} if spread is not None else {}
        return DepthEstimate(depth_m=relative, valid=valid, cues=cues)

    def _predict(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(H, W) float32 affine-invariant depth in [0, 1] for an (H, W, 3) uint8 image, and with ``ensemble_size``
        >= 3 (SPREAD_MIN_MEMBERS) its ensemble spread (H, W) float32 in the same units (the pipeline's median
        absolute deviation of the aligned members x 1.4826: the standard deviation for Gaussian members), else
        None."""
        torch = self._torch
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255.0)
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        ensembled = self.ensemble_size >= SPREAD_MIN_MEMBERS
        options: dict[str, Any] = {"ensemble_size": self.ensemble_size, "generator": generator,
                                   "output_type": "np", "batch_size": min(self.ensemble_size, 4),
                                   "output_uncertainty": ensembled}
        if self.denoising_steps:
            options["num_inference_steps"] = self.denoising_steps
        if self.processing_resolution:
            options["processing_resolution"] = self.processing_resolution
        with torch.inference_mode():
            out = self.pipe(image.to(self.device), **options)
        prediction = np.asarray(out.prediction, dtype=np.float32)[0, :, :, 0]
        if not ensembled or out.uncertainty is None:
            return prediction, None
        return prediction, np.asarray(out.uncertainty, dtype=np.float32)[0, :, :, 0] * np.float32(MAD_TO_STD)
