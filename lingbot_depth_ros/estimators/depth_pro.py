"""The ``depth_pro`` estimator: Apple Depth Pro through ``transformers`` (DepthProForDepthEstimation).

Depth Pro predicts a *canonical inverse depth* map and, with its field-of-view head, the horizontal
field of view of the image. Metric depth follows from a focal length ``f_px`` (horizontal, [px]):

    depth_m = f_px / (W * canonical_inverse_depth)          (W = image width [px])

which is what ``DepthProImageProcessor.post_process_depth_estimation`` computes from the estimated
field of view. Here ``f_px`` is either the model's estimate (``use_fov_estimate=True``, or no
intrinsics given) or the camera's ``fx`` (``use_fov_estimate=False``): a calibrated camera gives the
better scale. Either way the estimate is reported (``DepthEstimate.estimated_focal_px``) so the node
can compare it with CameraInfo.

Pre-processing is the image processor's, written out in torch (the transformers processor needs
torchvision, a large extra on a robot): scale to [0, 1], normalize with the checkpoint's
``preprocessor_config.json`` mean/std, then bilinear resize (no antialiasing) to its ``size``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError, EstimatorError, InputError
from lingbot_depth_ros.estimators.base import METRIC, MONOCULAR, DepthEstimate, DepthEstimator
from lingbot_depth_ros.estimators.hf_common import (
    device_and_dtype,
    hf_options,
    read_model_type,
    resolve_hf_checkpoint,
    run_guarded,
    short_error,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec

DEFAULT_REPO = "apple/DepthPro-hf"
# Depth Pro's processor clamps the inverse depth to [1e-4, 1e4] (depth 1e-4..1e4 m).
_MIN_INVERSE, _MAX_INVERSE = 1e-4, 1e4
# A field of view outside this range [deg] is not an estimate a camera can have.
FOV_RANGE_DEG = (1.0, 179.0)


def _processor_settings(folder: Path) -> dict[str, Any]:
    """Size (H, W), mean, std and rescale factor from ``preprocessor_config.json`` (processor defaults if absent)."""
    settings: dict[str, Any] = {"size": (1536, 1536), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
                                "rescale": 1.0 / 255.0}
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return settings
    try:
        raw = json.loads(path.read_text())
        size = raw.get("size", {})
        if size:
            settings["size"] = (int(size["height"]), int(size["width"]))
        settings["mean"] = tuple(float(v) for v in raw.get("image_mean", settings["mean"]))
        settings["std"] = tuple(float(v) for v in raw.get("image_std", settings["std"]))
        settings["rescale"] = float(raw.get("rescale_factor", settings["rescale"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: unreadable image-processor settings ({exc})") from exc
    return settings


def focal_from_fov(fov_deg: float, width: int) -> float:
    """Horizontal focal length [px] of an image ``width`` px wide with horizontal field of view ``fov_deg``."""
    return 0.5 * width / math.tan(0.5 * math.radians(fov_deg))


#: the depth_pro estimator's options (node parameters ``depth_pro.<option>``, CLI flags ``--<option>``)
OPTIONS: tuple[ParamSpec, ...] = hf_options(
    "Depth Pro", DEFAULT_REPO, "Depth Pro checkpoint: a local folder in the Hugging Face "
    "layout, or a repo id resolved through the local HF cache (downloaded only when missing and online).",
    "fp32, fp16 or bf16 (reduced precision on CUDA only; the CPU runs fp32).") + (
    ParamSpec("use_fov_estimate", False, "Scale Depth Pro's depth with its own focal-length estimate (true) "
              "or with CameraInfo's fx (false: CameraInfo stays the truth). Either way diagnostics report the "
              "estimate vs CameraInfo (a calibration check).", read_only=True),
)


class DepthProEstimator(DepthEstimator):
    """Depth Pro: monocular metric depth with its own focal-length estimate.

    Options: :data:`OPTIONS`: ``checkpoint`` a local folder in the Hugging Face layout (``config.json``,
    ``model.safetensors``, ``preprocessor_config.json``) or a repo id resolved through the local HF cache;
    ``use_fov_estimate`` True = scale depth with the model's focal estimate, False = with the camera's fx (the
    estimate is then only reported); without intrinsics the estimate is always used. ``cache_dir``: Hugging
    Face hub cache for repo ids.

    Raises:
        CheckpointError: missing or unreadable checkpoint.
        ConfigError: an unknown option or value out of range, an unusable device, or ``use_fov_estimate``
            with a checkpoint that has no field-of-view head.
    """

    name = "depth_pro"
    summary = "Apple Depth Pro: monocular metric"
    supported_modes = frozenset({MONOCULAR})
    output_kind = METRIC
    estimates_focal = True
    options = OPTIONS
    requires = ("torch", "transformers")
    learned = True  # weights: checked by the LiDAR agreement guard

    def __init__(self, *, cache_dir: str | Path | None = None, **options: Any) -> None:
        o = self.resolve_options(options)
        import torch
        from transformers import DepthProForDepthEstimation

        checkpoint, device, precision, use_fov_estimate = (o["checkpoint"], o["device"], o["precision"],
                                                           o["use_fov_estimate"])
        self.device, self.dtype, self.precision = device_and_dtype(device, precision)
        folder, self.checkpoint = resolve_hf_checkpoint(checkpoint, "depth_pro", DEFAULT_REPO, cache_dir=cache_dir)
        read_model_type(folder, "depth_pro", ("depth_pro",))
        self.use_fov_estimate = use_fov_estimate
        self._settings = _processor_settings(folder)
        try:
            model = DepthProForDepthEstimation.from_pretrained(str(folder), local_files_only=True, dtype=self.dtype)
        except Exception as exc:
            raise CheckpointError(f"depth_pro.checkpoint {self.checkpoint}: transformers could not load it as "
                                  f"DepthProForDepthEstimation ({short_error(exc)})") from exc
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.has_fov_head = bool(getattr(self.model, "use_fov_model", False))
        if use_fov_estimate and not self.has_fov_head:
            raise ConfigError(f"depth_pro.use_fov_estimate is true but {self.checkpoint} has no field-of-view head "
                              "(config use_fov_model: false); set it false and give CameraInfo")
        self._torch = torch

    def describe(self) -> str:
        focal = "focal: model estimate" if self.use_fov_estimate else "focal: CameraInfo fx"
        return f"depth_pro: {self.checkpoint} on {self.device} ({self.precision}), {focal}"

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        torch = self._torch
        height, width = rgb.shape[:2]
        inverse, fov_deg = run_guarded(lambda: self._forward(rgb), "Depth Pro", self.device)
        estimated = None
        if fov_deg is not None and FOV_RANGE_DEG[0] < fov_deg < FOV_RANGE_DEG[1]:
            estimated = focal_from_fov(fov_deg, width)
        use_estimate = self.use_fov_estimate or intrinsics is None
        if intrinsics is not None and not use_estimate:
            focal_px = float(intrinsics.fx)
        elif estimated is not None:
            focal_px = estimated
        else:
            why = ("this checkpoint has no field-of-view head" if fov_deg is None
                   else f"its field-of-view estimate {fov_deg:.1f} deg is outside {FOV_RANGE_DEG} deg")
            if intrinsics is None:
                raise InputError(f"depth_pro needs camera intrinsics for this image: {why}")
            raise EstimatorError(f"depth_pro cannot scale this frame with its own focal length: {why}")
        inverse = torch.nn.functional.interpolate(inverse[None, None], size=(height, width), mode="bilinear",
                                                  align_corners=False)[0, 0]
        inverse = torch.clamp(inverse * (width / focal_px), min=_MIN_INVERSE, max=_MAX_INVERSE)
        depth_m = (1.0 / inverse).float().cpu().numpy().astype(np.float32)
        valid = np.isfinite(depth_m) & (depth_m > 0)
        return DepthEstimate(depth_m=depth_m, valid=valid, estimated_focal_px=estimated,
                             focal_from_estimate=use_estimate)

    def _forward(self, rgb: np.ndarray) -> tuple[Any, float | None]:
        """Canonical inverse depth (h, w) float32 tensor at the model's output size, and the FOV [deg] or None."""
        torch = self._torch
        s = self._settings
        with torch.inference_mode():
            pixels = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None].float()
            pixels = pixels * s["rescale"]
            mean = torch.tensor(s["mean"], device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(s["std"], device=self.device).view(1, 3, 1, 1)
            pixels = (pixels - mean) / std
            pixels = torch.nn.functional.interpolate(pixels, size=s["size"], mode="bilinear", align_corners=False,
                                                     antialias=False).to(self.dtype)
            out = self.model(pixel_values=pixels)
            inverse = out.predicted_depth[0].float()
            fov = out.field_of_view
            fov_deg = float(fov.reshape(-1)[0].float()) if fov is not None else None
        if fov_deg is not None and not math.isfinite(fov_deg):
            fov_deg = None
        return inverse, fov_deg
