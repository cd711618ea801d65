"""The ``lingbot`` estimator: LingBot-Depth (our PyTorch implementation) for completion and monocular.

Completion feeds the sparse depth to the model; monocular feeds an all-zero depth map (every depth
token is then dropped), which is how the official model is meant to run without depth.
"""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError, EstimatorError, EstimatorOutOfMemory, InputError
from lingbot_depth_ros.estimators.base import COMPLETION, MONOCULAR, DepthEstimate, DepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

PRECISIONS = ("bf16", "fp32")


def _check_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ConfigError(f"resolution_level must be an integer in 0..9, got {level!r}")
    return level


def _check_tokens(num_tokens: object) -> int | None:
    if num_tokens is None:
        return None
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens <= 0:
        raise ConfigError(f"num_tokens must be a positive integer (or unset), got {num_tokens!r}")
    return num_tokens


class LingbotEstimator(DepthEstimator):
    """LingBot-Depth loaded from an official checkpoint.

    Args:
        checkpoint: path to ``model.pt`` / ``model.safetensors`` (+ ``config.json``) / a directory,
            or a Hugging Face repo id (downloaded into the HF cache when online).
        device: 'auto' (CUDA if available), 'cuda', 'cuda:N' or 'cpu'.
        precision: 'bf16' (autocast on CUDA; CPU always runs float32) or 'fp32'.
        resolution_level: 0..9, token budget (9 = finest, slowest).
        num_tokens: explicit token budget, overrides ``resolution_level`` when set.

    Raises:
        CheckpointError: the checkpoint is missing, unsafe, or does not match its config
            (the message names the file and the problem).
        ConfigError: invalid device, precision, level or token count.
    """

    name = "lingbot"
    supported_modes = frozenset({COMPLETION, MONOCULAR})

    def __init__(self, checkpoint: str, device: str = "auto", precision: str = "bf16",
                 resolution_level: int = 9, num_tokens: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self._resolution_level = _check_level(resolution_level)
        self._num_tokens = _check_tokens(num_tokens)
        if not checkpoint:
            raise CheckpointError("the lingbot estimator needs a checkpoint: a path to model.pt or a Hugging "
                                  "Face repo id such as robbyant/lingbot-depth-pretrain-vitl-14-v0.5")
        try:
            from lingbot_depth_ros.model.factory import load_model
        except ImportError as exc:
            raise CheckpointError(f"the lingbot estimator needs torch (pip install -r requirements.txt -r "
                                  f"requirements-model.txt): {exc}") from exc
        self.checkpoint = str(checkpoint)
        self.model = load_model(self.checkpoint, device=device, precision=precision)

    @property
    def resolution_level(self) -> int:
        """Token budget level 0..9 used by the next frame (settable at runtime)."""
        return self._resolution_level

    @resolution_level.setter
    def resolution_level(self, level: int) -> None:
        self._resolution_level = _check_level(level)

    @property
    def num_tokens(self) -> int | None:
        """Explicit token budget overriding ``resolution_level`` (None = use the level)."""
        return self._num_tokens

    @num_tokens.setter
    def num_tokens(self, value: int | None) -> None:
        self._num_tokens = _check_tokens(value)

    def describe(self) -> str:
        return f"lingbot: {self.model.describe()}, {self._budget_text()}"

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        try:
            out = self.model.infer(rgb, sparse_depth_m, resolution_level=self._resolution_level,
                                   num_tokens=self._num_tokens)
        except InputError:
            raise
        except (RuntimeError, MemoryError) as exc:  # CUDA OOM, driver errors
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if _is_out_of_memory(exc):
                _release_cached_memory()
                raise EstimatorOutOfMemory(f"LingBot-Depth ran out of memory on {self.model.device} at "
                                           f"{self._budget_text()} ({detail})") from exc
            raise EstimatorError(f"LingBot-Depth inference failed on {self.model.device}: {detail}") from exc
        return DepthEstimate(depth_m=out["depth_m"].astype(np.float32, copy=False), valid=out["valid"])

    def _budget_text(self) -> str:
        return f"num_tokens={self._num_tokens}" if self._num_tokens else f"resolution_level={self._resolution_level}"


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def _release_cached_memory() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
