"""Nearest-neighbour fill: the simplest completion baseline.

Every pixel takes the depth of the closest valid sparse pixel (Euclidean distance in the image,
OpenCV's 3x3 distance-transform approximation). It is the reference the other completion
estimators are measured against, and a building block of the classical estimator.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators.base import COMPLETION, DepthEstimate, DepthEstimator, sparse_valid_mask
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec


def nearest_fill(sparse_depth_m: np.ndarray, sample_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill every pixel with the value of its nearest sample.

    Args:
        sparse_depth_m: (H, W) float sparse depth [m]; read only where ``sample_mask`` is True.
        sample_mask: (H, W) bool, True on the samples; must contain at least one True.

    Returns:
        ``(filled_m, distance_px)``: (H, W) float32 filled depth [m] and (H, W) float32 distance
        [px] from each pixel to the sample it copied (0 on the samples).

    Raises:
        InputError: ``sample_mask`` has no sample.
    """
    if not sample_mask.any():
        raise InputError("sparse depth has no valid measurements")
    # Zero pixels of the source are the seeds; DIST_LABEL_PIXEL gives each seed its own label, and
    # a lookup table label -> depth turns the label image into the filled depth (no per-pixel loop).
    seeds = np.where(sample_mask, 0, 1).astype(np.uint8)
    distance_px, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 3,
                                                          labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(labels.max()) + 1, np.float32)
    lut[labels[sample_mask]] = sparse_depth_m[sample_mask]
    return lut[labels], distance_px


#: the nearest estimator's options (node parameters ``nearest.<option>``, CLI flags ``--<option>``)
OPTIONS: tuple[ParamSpec, ...] = (
    ParamSpec("max_distance_px", 0.0, "nearest estimator: pixels farther than this [px] from any sample are "
              "invalid; 0 = unlimited.", min=0.0, max=10000.0, none_value=0.0),
)


class NearestFillEstimator(DepthEstimator):
    """Completion baseline: copy the nearest LiDAR / sparse sample into every pixel.

    Options: :data:`OPTIONS`; ``max_distance_px`` None (or 0) fills the whole image.
    """

    name = "nearest"
    summary = "nearest-neighbour fill baseline"
    supported_modes = frozenset({COMPLETION})
    options = OPTIONS

    def __init__(self, **options: Any) -> None:
        self.max_distance_px: float | None = self.resolve_options(options)["max_distance_px"]

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        assert sparse_depth_m is not None  # guaranteed by DepthEstimator.estimate (completion only)
        filled_m, distance_px = nearest_fill(sparse_depth_m, sparse_valid_mask(sparse_depth_m))
        if self.max_distance_px is None:
            valid = np.ones(filled_m.shape, bool)
        else:
            valid = distance_px <= self.max_distance_px
            filled_m[~valid] = np.nan
        return DepthEstimate(depth_m=filled_m, valid=valid)

    def describe(self) -> str:
        limit = "unlimited" if self.max_distance_px is None else f"<= {self.max_distance_px:g} px"
        return f"nearest (nearest-sample fill, {limit})"
