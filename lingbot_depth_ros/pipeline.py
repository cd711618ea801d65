"""Per-frame processing without ROS: estimator, output validity, colorizing, cloud points.

The node converts messages to numpy, calls :meth:`DepthPipeline.process`, and converts the result
back; keeping the middle here makes it testable and benchmarkable alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lingbot_depth_ros.colorize import colorize_depth
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.geometry.scale_alignment import AlignmentResult, robust_scale_shift
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import CloudPoints, depth_to_cloud_points


@dataclass
class OutputSettings:
    """What to produce from a depth map (mirrors the node's depth.*, colorized.*, cloud.* parameters)."""

    depth_min_m: float = 0.0
    depth_max_m: float = 100.0
    colorized: bool = True
    colormap: str = "turbo"
    color_range: str = "percentile"  # or "fixed"
    color_min_m: float = 0.3
    color_max_m: float = 10.0
    color_percentiles: tuple[float, float] = (2.0, 98.0)
    cloud: bool = True
    cloud_organized: bool = True
    cloud_rgb: bool = True
    cloud_stride: int = 2
    cloud_min_range_m: float = 0.1
    cloud_max_range_m: float = 20.0
    align: str = "off"  # "off" | "scale" | "scale_shift": fit the prediction to the sparse depth
    align_method: str = "ransac"  # or "irls"
    align_inlier_threshold: float = 0.05  # relative residual of an inlier


@dataclass
class FrameResult:
    """Products of one frame.

    ``depth_m``: (H, W) float32 [m], NaN where invalid. ``colorized``: (H, W, 3) uint8 RGB or None.
    ``cloud``: points for the PointCloud2 or None. ``timings_s``: seconds per stage
    (``inference``, ``postprocess``).
    """

    depth_m: np.ndarray
    colorized: np.ndarray | None
    cloud: CloudPoints | None
    timings_s: dict[str, float] = field(default_factory=dict)
    alignment: AlignmentResult | None = None  # the fit applied (align_to_sparse), if any
    alignment_error: str | None = None  # why no fit was applied although one was asked for


def finalize_depth(depth_m: np.ndarray, valid: np.ndarray, min_m: float, max_m: float) -> np.ndarray:
    """(H, W) float32 [m] with NaN where not ``valid``, not finite, or outside [min_m, max_m]."""
    depth = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        # NaN fails both comparisons and +inf fails the finite upper bound: no isfinite pass needed
        keep = (depth > max(min_m, 0.0)) & (depth <= max_m)
    keep &= valid
    np.copyto(depth, np.float32(np.nan), where=~keep)
    return depth


class DepthPipeline:
    """Runs an estimator and turns its output into the node's products."""

    def __init__(self, estimator: DepthEstimator, settings: OutputSettings | None = None) -> None:
        self.estimator = estimator
        self.settings = settings or OutputSettings()

    def process(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None, intrinsics: CameraIntrinsics,
                settings: OutputSettings | None = None, align_depth_m: np.ndarray | None = None) -> FrameResult:
        """Estimate and post-process one frame (see :class:`FrameResult`).

        Args:
            rgb: (H, W, 3) uint8 RGB.
            sparse_depth_m: (H, W) float32 sparse depth [m] (0/NaN = none) given to the estimator, or
                None (monocular).
            intrinsics: intrinsics of ``rgb``.
            settings: per-frame settings snapshot (defaults to ``self.settings``).
            align_depth_m: (H, W) float32 sparse depth [m] to fit the prediction to when
                ``settings.align`` is not "off" (e.g. LiDAR depth for a monocular prediction).
        """
        s = settings or self.settings
        t0 = time.perf_counter()
        estimate = self.estimator.estimate(rgb, sparse_depth_m, intrinsics)
        t1 = time.perf_counter()
        depth_m, alignment, alignment_error = estimate.depth_m, None, None
        if s.align != "off" and align_depth_m is not None:
            try:
                alignment = self.align(estimate.depth_m, estimate.valid, align_depth_m, s)
                depth_m = alignment.apply(estimate.depth_m).astype(np.float32)
            except InputError as exc:  # too few LiDAR points this frame: publish unaligned, say why
                alignment_error = str(exc)
        depth = self.postprocess_depth(depth_m, estimate.valid, s)
        colorized = self.colorize(depth, s) if s.colorized else None
        cloud = self.cloud(depth, rgb, intrinsics, s) if s.cloud else None
        t2 = time.perf_counter()
        return FrameResult(depth_m=depth, colorized=colorized, cloud=cloud,
                           timings_s={"inference": t1 - t0, "postprocess": t2 - t1},
                           alignment=alignment, alignment_error=alignment_error)

    @staticmethod
    def align(depth_m: np.ndarray, valid: np.ndarray, sparse_m: np.ndarray, s: OutputSettings) -> AlignmentResult:
        """Robust fit of ``scale * depth + shift`` (or scale only) to the sparse depth at valid pixels."""
        prediction = np.where(valid, depth_m, np.nan).astype(np.float32)
        return robust_scale_shift(prediction, sparse_m, fit_shift=s.align == "scale_shift", method=s.align_method,
                                  inlier_threshold=s.align_inlier_threshold)

    @staticmethod
    def postprocess_depth(depth_m: np.ndarray, valid: np.ndarray, s: OutputSettings) -> np.ndarray:
        return finalize_depth(depth_m, valid, s.depth_min_m, s.depth_max_m)

    @staticmethod
    def colorize(depth_m: np.ndarray, s: OutputSettings) -> np.ndarray:
        fixed = (s.color_min_m, s.color_max_m) if s.color_range == "fixed" else None
        return colorize_depth(depth_m, range_m=fixed, percentiles=s.color_percentiles, colormap=s.colormap)

    @staticmethod
    def cloud(depth_m: np.ndarray, rgb: np.ndarray, intrinsics: CameraIntrinsics, s: OutputSettings) -> CloudPoints:
        return depth_to_cloud_points(depth_m, intrinsics, rgb=rgb if s.cloud_rgb else None, stride=s.cloud_stride,
                                     min_range_m=s.cloud_min_range_m, max_range_m=s.cloud_max_range_m,
                                     organized=s.cloud_organized)
