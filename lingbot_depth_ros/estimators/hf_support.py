"""Loading and running helpers of the ``depth_pro`` and ``marigold`` estimators, on top of :mod:`hf_common`.

Neither fits :class:`hf_common.HFDepthEstimator`: Depth Pro's transformers image processor needs
torchvision (so :mod:`depth_pro` does its pre-processing in torch) and Marigold is a diffusers pipeline.
Checkpoint resolution, device and precision are hf_common's, so every HF estimator behaves alike.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from lingbot_depth_ros.errors import EstimatorError, EstimatorOutOfMemory
from lingbot_depth_ros.estimators.hf_common import is_out_of_memory, resolve_precision

T = TypeVar("T")


def device_and_dtype(device: str, precision: str) -> tuple[Any, Any, str]:
    """``(torch.device, torch dtype, effective precision)`` (reduced precision only on CUDA).

    Raises:
        ConfigError: unavailable device or unknown precision.
    """
    from lingbot_depth_ros.model.inference import resolve_device
    dev = resolve_device(device)
    dtype, effective = resolve_precision(precision, dev)
    return dev, dtype, effective


def run_guarded(fn: Callable[[], T], label: str, device: Any) -> T:
    """``fn()``, with runtime failures turned into EstimatorOutOfMemory / EstimatorError naming ``label``."""
    try:
        return fn()
    except (RuntimeError, MemoryError) as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if is_out_of_memory(exc):
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EstimatorOutOfMemory(f"{label} ran out of memory on {device} ({detail})") from exc
        raise EstimatorError(f"{label} inference failed on {device}: {detail}") from exc


def short_error(exc: BaseException) -> str:
    """``Type: first line`` of an exception, for one-line messages."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}"


__all__ = ["device_and_dtype", "run_guarded", "short_error"]
