"""Depth estimators behind one interface, selected by name (the node's ``estimator`` parameter).

Factories import lazily so that a robot without torch can still run the weight-free estimators.
"""

from __future__ import annotations

from typing import Any, Callable

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.base import (AUTO, COMPLETION, MODES, MONOCULAR, DepthEstimate,
                                               DepthEstimator)


def _classical(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.estimators.classical import ClassicalCompletionEstimator
    return ClassicalCompletionEstimator(**options)


def _nearest(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.estimators.nearest import NearestFillEstimator
    return NearestFillEstimator(**options)


def _lingbot(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.optional import require
    require("estimator 'lingbot'", "torch")  # MissingExtraError naming the pip package, not a traceback
    from lingbot_depth_ros.estimators.lingbot import LingbotEstimator
    return LingbotEstimator(**options)


ESTIMATOR_FACTORIES: dict[str, Callable[..., DepthEstimator]] = {
    "classical": _classical,
    "nearest": _nearest,
    "lingbot": _lingbot,
}


def create_estimator(name: str, **options: Any) -> DepthEstimator:
    """Build the estimator called ``name`` with estimator-specific keyword ``options``.

    Raises:
        ConfigError: unknown estimator name.
        CheckpointError: (``lingbot``) the checkpoint is missing or does not match.
        MissingExtraError: (``lingbot``) torch is not installed (the message names the pip package).
    """
    try:
        factory = ESTIMATOR_FACTORIES[name]
    except KeyError:
        raise ConfigError(f"unknown estimator '{name}'; choose one of: "
                          f"{', '.join(sorted(ESTIMATOR_FACTORIES))}") from None
    return factory(**options)


def check_mode(estimator: DepthEstimator, mode: str) -> None:
    """Raise ConfigError if ``estimator`` cannot run in ``mode``.

    ``auto`` needs completion (run while sparse depth arrives); monocular is its optional fallback, so a
    completion-only estimator may run ``auto`` and simply waits for sparse depth (see :func:`auto_fallback`).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode '{mode}'; choose one of: {', '.join(MODES)}")
    needed = {COMPLETION} if mode == AUTO else {mode}
    missing = needed - set(estimator.supported_modes)
    if missing:
        raise ConfigError(f"estimator '{estimator.name}' cannot run mode '{mode}': it does not support "
                          f"{', '.join(sorted(missing))} (it supports "
                          f"{', '.join(sorted(estimator.supported_modes)) or 'nothing'})")


def auto_fallback(estimator: DepthEstimator) -> bool:
    """Whether ``auto`` mode can fall back to monocular without sparse depth (else it waits for sparse depth)."""
    return MONOCULAR in estimator.supported_modes


__all__ = ["AUTO", "COMPLETION", "MODES", "MONOCULAR", "DepthEstimate", "DepthEstimator",
           "ESTIMATOR_FACTORIES", "auto_fallback", "check_mode", "create_estimator"]
