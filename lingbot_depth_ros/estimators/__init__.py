"""Depth estimators behind one interface, selected by name (the node's ``estimator`` parameter).

The estimators are registered in :mod:`lingbot_depth_ros.estimators.registry`; their modules import torch
only inside their constructors, so a robot without torch can still run the weight-free estimators.
"""

from __future__ import annotations

from typing import Any

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.base import (
    AUTO,
    COMPLETION,
    METRIC,
    MODES,
    MONOCULAR,
    OUTPUT_KINDS,
    RELATIVE_DEPTH,
    RELATIVE_DISPARITY,
    DepthEstimate,
    DepthEstimator,
)
from lingbot_depth_ros.estimators.registry import estimator_class, estimator_names


def create_estimator(name: str, **options: Any) -> DepthEstimator:
    """Build the estimator called ``name`` with its keyword ``options`` (its option table, plus constructor-only
    keywords such as ``cache_dir``); options left out take the table's defaults.

    Raises:
        ConfigError: unknown estimator name, unknown option or a value outside its range.
        MissingExtraError: an optional package the estimator needs is not installed (the message names the
            pip package).
        CheckpointError: (learned estimators) the checkpoint is missing or does not match.
    """
    cls = estimator_class(name)
    if cls.requires:
        from lingbot_depth_ros.optional import require
        require(f"estimator '{name}'", *cls.requires)  # MissingExtraError naming the pip package, not a traceback
    return cls(**options)


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
           "RELATIVE_DISPARITY", "DepthEstimate", "DepthEstimator", "check_output_alignment",
           "create_estimator", "estimator_class", "estimator_names"]
