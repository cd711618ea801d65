"""A toy estimator, registered only by test_estimator_options.py: all that a new estimator writes.

Its depth is ``scale_m + offset_m`` everywhere, plus 0.125 m per construction of the class before this
instance, so a test can tell an option set on the running estimator (``scale_m``, live) from one that
rebuilt it (``offset_m``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lingbot_depth_ros.estimators.base import COMPLETION, DepthEstimate, DepthEstimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec

REBUILD_STEP_M = 0.125


class ToyEstimator(DepthEstimator):
    """Constant depth [m]; options ``scale_m`` (live), ``offset_m`` (rebuilds) and ``label`` (read-only)."""

    name = "toy"
    summary = "constant depth, a test stand-in"
    supported_modes = frozenset({COMPLETION})
    options = (
        ParamSpec("scale_m", 1.0, "Depth [m] added to offset_m; set on the running estimator.", min=0.0, max=10.0),
        ParamSpec("offset_m", 1.0, "Depth [m] added to scale_m; a change rebuilds the estimator.", min=0.0,
                  max=10.0),
        ParamSpec("label", "toy", "Shown by describe().", read_only=True),
    )
    live_options = frozenset({"scale_m"})
    builds = 0  # constructions of this class in this process

    def __init__(self, **options: Any) -> None:
        o = self.resolve_options(options)
        self.scale_m: float = o["scale_m"]
        self.offset_m: float = o["offset_m"]
        self.label: str = o["label"]
        self.earlier_builds = ToyEstimator.builds
        ToyEstimator.builds += 1

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        depth_m = self.scale_m + self.offset_m + REBUILD_STEP_M * self.earlier_builds
        return DepthEstimate(depth_m=np.full(rgb.shape[:2], depth_m, np.float32), valid=np.ones(rgb.shape[:2], bool))

    def describe(self) -> str:
        return f"toy ({self.label})"
