"""Per-frame processing without ROS: estimator, output validity, colorizing, cloud points.

The node converts messages to numpy, calls :meth:`DepthPipeline.process`, and converts the result
back; keeping the middle here makes it testable and benchmarkable alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lingbot_depth_ros.colorize import colorize_depth
from lingbot_depth_ros.confidence.gating import gate_depth
from lingbot_depth_ros.confidence.maps import confidence_map, frame_kind, profile_for
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators.base import (
    METRIC,
    RELATIVE_DISPARITY,
    DepthEstimate,
    DepthEstimator,
    EstimatorInput,
    makes_device_cloud,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import CloudPoints, depth_to_cloud_points
from lingbot_depth_ros.geometry.scale_alignment import (
    DEFAULT_MIN_INLIER_RATIO,
    DEFAULT_MIN_INLIERS,
    DEPTH,
    INVERSE_DEPTH,
    AlignmentRejected,
    AlignmentResult,
    robust_scale_shift,
)
from lingbot_depth_ros.pipeline.lidar_guard import (
    GuardInput,
    GuardSettings,
    LidarAgreement,
    apply_guard_action,
    measure_agreement,
)

if TYPE_CHECKING:
    from lingbot_depth_ros.model.device_cloud import CloudRequest
    from lingbot_depth_ros.pipeline.temporal_filter import TemporalResult
    from lingbot_depth_ros.pipeline.temporal_stage import TemporalStep


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
    align_min_inlier_ratio: float = DEFAULT_MIN_INLIER_RATIO  # smallest inlier share of an accepted fit
    align_min_inliers: int = DEFAULT_MIN_INLIERS  # fewest inliers of an accepted fit
    confidence: bool = False  # make the per-pixel confidence map (lingbot_depth_ros.confidence)
    confidence_points_min: float = 0.0  # cloud: leave out pixels below this confidence (0 = no gate)
    guard: GuardSettings = field(default_factory=GuardSettings)  # the LiDAR agreement guard (guard.*)
    temporal: bool = False  # temporal.enabled: the depth is filtered over time (the cloud is made from it here)

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> OutputSettings:
        """The settings of the node's parameter ``values`` (names of :mod:`lingbot_depth_ros.params.node`)."""
        v = values
        return cls(
            depth_min_m=v["depth.min_m"], depth_max_m=v["depth.max_m"], colorized=v["colorized.enabled"],
            colormap=v["colorized.colormap"], color_range=v["colorized.range"], color_min_m=v["colorized.min_m"],
            color_max_m=v["colorized.max_m"],
            color_percentiles=(v["colorized.percentile_low"], v["colorized.percentile_high"]),
            cloud=v["cloud.enabled"], cloud_organized=v["cloud.organized"], cloud_rgb=v["cloud.rgb"],
            cloud_stride=v["cloud.stride"], cloud_min_range_m=v["cloud.min_range_m"],
            cloud_max_range_m=v["cloud.max_range_m"], align=v["align_to_sparse"], align_method=v["align.method"],
            align_inlier_threshold=v["align.inlier_threshold"], align_min_inlier_ratio=v["align.min_inlier_ratio"],
            align_min_inliers=v["align.min_inliers"], guard=GuardSettings.from_params(v),
            confidence=v["confidence.enabled"],
            confidence_points_min=v["confidence.points_min"], temporal=v["temporal.enabled"])


@dataclass
class FrameResult:
    """Products of one frame.

    ``depth_m``: (H, W) float32 [m], NaN where invalid. ``colorized``: (H, W, 3) uint8 RGB or None.
    ``cloud``: points for the PointCloud2 or None. ``timings_s``: seconds per stage
    (``inference``, ``postprocess``; ``confidence``, part of postprocess, when made). ``confidence``: (H, W)
    float32 probability that the depth is within max(0.10 m, 5 %) of the truth (``confidence/definition.py``),
    0..1 where ``depth_m`` is finite and NaN exactly where it is NaN; None unless ``OutputSettings.confidence``.
    ``confidence_profile``: the calibration profile that made it (e.g. ``completion/classical``).
    """

    depth_m: np.ndarray
    colorized: np.ndarray | None
    cloud: CloudPoints | None
    timings_s: dict[str, float] = field(default_factory=dict)
    alignment: AlignmentResult | None = None  # the fit applied (align_to_sparse), if any
    alignment_error: str | None = None  # why no fit was applied although one was asked for
    alignment_rejection: AlignmentRejected | None = None  # the fit made but refused (scale <= 0, few inliers)
    estimated_focal_px: float | None = None  # the estimator's own focal estimate [px] (depth_pro), if any
    focal_from_estimate: bool = False  # the depth scale rests on that estimate, not on the given intrinsics
    confidence: np.ndarray | None = None
    confidence_profile: str | None = None
    lidar_agreement: LidarAgreement | None = None  # the LiDAR agreement guard's figures (a guarded frame only)
    temporal: TemporalResult | None = None  # the temporal filter's record of this frame (temporal.enabled only)


def finalize_depth(depth_m: np.ndarray, valid: np.ndarray, min_m: float, max_m: float) -> np.ndarray:
    """(H, W) float32 [m] with NaN where not ``valid``, not finite, or outside [min_m, max_m]."""
    depth = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        # NaN fails both comparisons and +inf fails the finite upper bound: no isfinite pass needed
        keep = (depth > max(min_m, 0.0)) & (depth <= max_m)
    keep &= valid
    np.copyto(depth, np.float32(np.nan), where=~keep)
    return depth


def alignment_space(output_kind: str) -> str:
    """The space an estimator's output is fitted to sparse depth in: inverse depth for disparity outputs."""
    return INVERSE_DEPTH if output_kind == RELATIVE_DISPARITY else DEPTH


def unaligned_relative_reason(output_kind: str, align: str, alignment_error: str | None) -> str:
    """Why a relative output of this frame is not published (it would not be metres)."""
    if align == "off":
        why = "align_to_sparse is off"
    elif alignment_error is None:
        why = "this frame has no sparse depth to align to"
    else:
        why = f"alignment to sparse depth failed: {alignment_error}"
    return f"the estimator's output is {output_kind.replace('_', ' ')} (not metres) and {why}; not published"


class DepthPipeline:
    """Runs an estimator and turns its output into the node's products."""

    def __init__(self, estimator: DepthEstimator, settings: OutputSettings | None = None) -> None:
        self._settings = settings or OutputSettings()
        self.estimator = estimator

    @property
    def estimator(self) -> DepthEstimator:
        """The estimator; setting it (or :attr:`settings`) asks it for the confidence cues that cost time
        (``DepthEstimator.confidence_cues``) exactly when the settings make the confidence."""
        return self._estimator

    @estimator.setter
    def estimator(self, estimator: DepthEstimator) -> None:
        self._estimator = estimator
        estimator.confidence_cues = self._settings.confidence

    @property
    def settings(self) -> OutputSettings:
        """The settings of frames processed without their own snapshot."""
        return self._settings

    @settings.setter
    def settings(self, settings: OutputSettings) -> None:
        self._settings = settings
        self._estimator.confidence_cues = settings.confidence

    def process(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None, intrinsics: CameraIntrinsics,
                settings: OutputSettings | None = None, align_depth_m: np.ndarray | None = None,
                guard: GuardInput | None = None) -> FrameResult:
        """Estimate and post-process one frame (see :class:`FrameResult`).

        Args:
            rgb: (H, W, 3) uint8 RGB.
            sparse_depth_m: (H, W) float32 sparse depth [m] (0/NaN = none) given to the estimator, or
                None (monocular).
            intrinsics: intrinsics of ``rgb``.
            settings: per-frame settings snapshot (defaults to ``self.settings``).
            align_depth_m: (H, W) float32 sparse depth [m] to fit the prediction to when
                ``settings.align`` is not "off" (e.g. LiDAR depth for a monocular prediction).
            guard: the LiDAR samples the output is compared with (``lidar_guard.split_for_guard``: the frame's
                guard hold-out, already taken out of ``sparse_depth_m`` / ``align_depth_m``), None = no guard.
        """
        t0 = time.perf_counter()
        request = self.device_cloud_request(settings or self.settings)
        estimator = self.estimator
        if request is None:
            estimate = estimator.estimate(rgb, sparse_depth_m, intrinsics)
        else:
            assert makes_device_cloud(estimator)  # the only estimators device_cloud_request asks
            estimate = estimator.estimate_batch([EstimatorInput(rgb, sparse_depth_m, intrinsics)], cloud=request)[0]
        return self.finish(estimate, rgb, intrinsics, settings, align_depth_m, time.perf_counter() - t0, guard)

    def finish(self, estimate: DepthEstimate, rgb: np.ndarray, intrinsics: CameraIntrinsics,
               settings: OutputSettings | None = None, align_depth_m: np.ndarray | None = None,
               inference_s: float = 0.0, guard: GuardInput | None = None,
               temporal: TemporalStep | None = None) -> FrameResult:
        """The products of an estimate made elsewhere (e.g. one frame of ``estimate_batch``); arguments as
        :meth:`process`, ``inference_s``: the estimator's time [s] reported in ``timings_s``; ``temporal``: the
        camera's temporal stage, pose and time of this frame (the depth, and its confidence, are filtered with the
        warped history before the colorized image and the cloud are made; ``timings_s["temporal"]``).

        Raises ``lidar_guard.LidarDisagreement`` for a guarded frame that disagrees with the LiDAR under
        ``guard.action`` drop."""
        s = settings or self.settings
        t1 = time.perf_counter()
        depth_m, alignment, alignment_error, rejection = estimate.depth_m, None, None, None
        if s.align != "off" and align_depth_m is not None:
            try:
                alignment = self.align(estimate.depth_m, estimate.valid, align_depth_m, s,
                                       space=alignment_space(self.estimator.output_kind))
                depth_m = alignment.apply(estimate.depth_m).astype(np.float32)
            except InputError as exc:  # too few LiDAR points, or a fit refused: publish unaligned, say why
                alignment_error = str(exc)
                rejection = exc if isinstance(exc, AlignmentRejected) else None
        if alignment is None and self.estimator.output_kind != METRIC:
            # a relative output in arbitrary units is never passed on as metres: the frame is dropped
            reason = unaligned_relative_reason(self.estimator.output_kind, s.align, alignment_error)
            if rejection is not None:
                raise AlignmentRejected(reason, rejection.reason, rejection.fit)
            raise InputError(reason)
        depth = self.postprocess_depth(depth_m, estimate.valid, s)
        agreement = None
        if guard is not None:  # compared as published; rescale / drop act on a disagreeing frame only
            agreement = measure_agreement(depth, guard, s.guard)
            rescaled_m, agreement = apply_guard_action(depth_m, agreement, s.guard)
            if agreement.applied_scale is not None:  # the depth range applies to the rescaled depth
                depth = self.postprocess_depth(rescaled_m, estimate.valid, s)
        rescaled = agreement is not None and agreement.applied_scale is not None
        confidence = profile = None
        confidence_s = None
        if s.confidence:
            tc = time.perf_counter()
            confidence, profile = self.confidence(depth, estimate, intrinsics, align_depth_m, alignment)
            confidence_s = time.perf_counter() - tc
        filtered, temporal_s = None, None
        if temporal is not None and temporal.config.enabled:
            tt = time.perf_counter()
            filtered = temporal.stage.smooth(depth, confidence, intrinsics, temporal.pose, temporal.stamp_s,
                                             temporal.config)
            if filtered is not None:
                depth = filtered.depth_m
                if confidence is not None:   # NaN exactly where the filtered depth is
                    confidence = filtered.confidence if getattr(filtered, "confidence", None) is not None else \
                        np.where(np.isfinite(depth), np.nan_to_num(confidence, nan=0.0), np.nan).astype(np.float32)
            temporal_s = time.perf_counter() - tt
        colorized = self.colorize(depth, s) if s.colorized else None
        cloud = None
        if s.cloud:  # made on the estimator's device when it was asked to (device_cloud_request), else here
            cloud = estimate.cloud if estimate.cloud is not None and alignment is None and not rescaled \
                and filtered is None else \
                self.cloud(gate_depth(depth, confidence, s.confidence_points_min), rgb, intrinsics, s)
        t2 = time.perf_counter()
        timings = {"inference": inference_s, "postprocess": t2 - t1}
        if confidence_s is not None:
            timings["confidence"] = confidence_s
        if temporal_s is not None:
            timings["temporal"] = temporal_s
        return FrameResult(depth_m=depth, colorized=colorized, cloud=cloud, timings_s=timings,
                           confidence=confidence, confidence_profile=profile,
                           alignment=alignment, alignment_error=alignment_error, alignment_rejection=rejection,
                           estimated_focal_px=estimate.estimated_focal_px,
                           focal_from_estimate=estimate.focal_from_estimate, lidar_agreement=agreement,
                           temporal=filtered)

    def confidence(self, depth_m: np.ndarray, estimate: DepthEstimate, intrinsics: CameraIntrinsics,
                   align_depth_m: np.ndarray | None, alignment: AlignmentResult | None) -> tuple[np.ndarray, str]:
        """(confidence map (H, W) float32, profile key) of the published ``depth_m`` (see :class:`FrameResult`):
        completion cues from the sparse depth the estimator got (``estimate.cues["sparse_input"]``), else the
        fit's residuals against the LiDAR it was aligned to, else the output's own cues
        (``lingbot_depth_ros.confidence.maps``)."""
        completed_from = estimate.cues.get("sparse_input")
        kind = frame_kind(completed_from is not None, alignment is not None)
        profile = profile_for(self.estimator.name, kind)
        sparse = completed_from if completed_from is not None else (align_depth_m if alignment is not None else None)
        scale = alignment.scale if alignment is not None and alignment.space == DEPTH else None
        return confidence_map(depth_m, intrinsics.fx, profile, sparse_m=sparse, estimator_cues=estimate.cues,
                              alignment_scale=scale), profile.key

    def device_cloud_request(self, s: OutputSettings) -> CloudRequest | None:
        """The ``CloudRequest`` to pass to ``estimate_batch(..., cloud=)`` when the estimator makes the cloud
        on its device (LingBot-Depth), the cloud is on and the depth is published as estimated (no
        align_to_sparse, which rescales it on the host, no confidence gate on the points and no temporal
        filter); else None: the
        cloud is made here from the depth."""
        gated = s.confidence and s.confidence_points_min > 0
        if not (s.cloud and s.align == "off" and not gated and not s.temporal and makes_device_cloud(self.estimator)):
            return None
        from lingbot_depth_ros.model.device_cloud import CloudRequest  # torch: only with such an estimator
        return CloudRequest(depth_min_m=s.depth_min_m, depth_max_m=s.depth_max_m, stride=s.cloud_stride,
                            min_range_m=s.cloud_min_range_m, max_range_m=s.cloud_max_range_m,
                            organized=s.cloud_organized, colours=s.cloud_rgb)

    @staticmethod
    def align(depth_m: np.ndarray, valid: np.ndarray, sparse_m: np.ndarray, s: OutputSettings,
              space: str = DEPTH) -> AlignmentResult:
        """Robust fit of ``scale * depth + shift`` (or scale only) to the sparse depth at valid pixels
        (``space`` "inverse_depth": to the inverse sparse depth, for disparity outputs). Raises
        AlignmentRejected for a fit with scale <= 0 or too few inliers, InputError for too few points."""
        prediction = np.where(valid, depth_m, np.nan).astype(np.float32)
        return robust_scale_shift(prediction, sparse_m, fit_shift=s.align == "scale_shift", method=s.align_method,
                                  inlier_threshold=s.align_inlier_threshold, space=space,
                                  min_inlier_ratio=s.align_min_inlier_ratio, min_inliers=s.align_min_inliers)

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
