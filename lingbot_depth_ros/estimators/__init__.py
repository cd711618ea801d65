"""Depth estimators behind one interface, selected by name (the node's ``estimator`` parameter).

Factories import lazily so that a robot without torch can still run the weight-free estimators.
"""

from __future__ import annotations

from typing import Any, Callable

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.base import (AUTO, COMPLETION, METRIC, MODES, MONOCULAR, OUTPUT_KINDS,
                                               RELATIVE_DEPTH, RELATIVE_DISPARITY, DepthEstimate, DepthEstimator)


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


def _depth_pro(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.optional import require
    require("estimator 'depth_pro'", "torch", "transformers")
    from lingbot_depth_ros.estimators.depth_pro import DepthProEstimator
    return DepthProEstimator(**options)


def _marigold(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.optional import require
    require("estimator 'marigold'", "torch", "transformers", "diffusers", "scipy")
    from lingbot_depth_ros.estimators.marigold import MarigoldEstimator
    return MarigoldEstimator(**options)


def _depth_anything(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.optional import require
    require("estimator 'depth_anything'", "torch", "transformers", "PIL")
    from lingbot_depth_ros.estimators.depth_anything import DepthAnythingEstimator
    return DepthAnythingEstimator(**options)


def _prompt_depth_anything(**options: Any) -> DepthEstimator:
    from lingbot_depth_ros.optional import require
    require("estimator 'prompt_depth_anything'", "torch", "transformers", "PIL")
    from lingbot_depth_ros.estimators.prompt_depth_anything import PromptDepthAnythingEstimator
    return PromptDepthAnythingEstimator(**options)


ESTIMATOR_FACTORIES: dict[str, Callable[..., DepthEstimator]] = {
    "classical": _classical,
    "nearest": _nearest,
    "lingbot": _lingbot,
    "depth_anything": _depth_anything,
    "prompt_depth_anything": _prompt_depth_anything,
    "depth_pro": _depth_pro,
    "marigold": _marigold,
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


def check_output_alignment(estimator: DepthEstimator, align_to_sparse: str) -> None:
    """Raise ConfigError if ``estimator``'s output is relative and ``align_to_sparse`` is off.

    A relative output (affine-invariant depth or disparity, ``output_kind`` != "metric") has no unit:
    the node publishes it only after fitting it to the frame's sparse depth (``align_to_sparse``), never
    as metres unaligned.
    """
    if estimator.output_kind != METRIC and align_to_sparse == "off":
        raise ConfigError(f"estimator '{estimator.name}' outputs {estimator.output_kind.replace('_', ' ')} "
                          "(no metric scale), so it needs align_to_sparse:=scale_shift (fit to the LiDAR / sparse "
                          "depth of each frame; with mode:=monocular the sparse input is used only for the fit), "
                          "or a metric checkpoint")


__all__ = ["AUTO", "COMPLETION", "METRIC", "MODES", "MONOCULAR", "OUTPUT_KINDS", "RELATIVE_DEPTH",
           "RELATIVE_DISPARITY", "DepthEstimate", "DepthEstimator", "ESTIMATOR_FACTORIES", "check_output_alignment",
           "create_estimator"]
