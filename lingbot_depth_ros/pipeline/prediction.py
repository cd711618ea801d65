"""One depth prediction off the robot: mode resolution, estimation, colorizing, point cloud.

Shared by ``lingbot-depth predict`` and the HTTP API so both give the same numbers as the node
(same estimators, same colorizing, same back-projection). Imports no web framework and no rclpy.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators import AUTO, COMPLETION, METRIC, MONOCULAR, DepthEstimator
from lingbot_depth_ros.estimators.base import sparse_valid_mask
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.scale_alignment import (
    DEFAULT_MIN_INLIER_RATIO,
    DEFAULT_MIN_INLIERS,
    AlignmentRejected,
    AlignmentResult,
)
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.pipeline.lidar_guard import GuardSettings, LidarAgreement, split_for_guard
from lingbot_depth_ros.pipeline.modes import check_mode, estimator_gets_sparse, frame_mode, needs_sparse

REQUEST_MODES = (MONOCULAR, COMPLETION)
# Fit of the prediction to the sparse depth: auto = scale_shift for relative estimators, off for metric ones.
ALIGN_CHOICES = ("auto", "off", "scale", "scale_shift")
FOCAL_CAMERA_INFO, FOCAL_ESTIMATED, FOCAL_ASSUMED = "camera_info", "estimated", "assumed"
# Focal length assumed when a caller gives no intrinsics, as a multiple of the longer image side
# (about 53 degrees of field of view along that side, typical of webcams and phone cameras).
ASSUMED_FOCAL_PER_SIDE = 1.0
# Everything the estimator calls valid, every pixel in the cloud (valid points only, row-major order).
_DOWNLOAD_SETTINGS = OutputSettings(depth_min_m=0.0, depth_max_m=1e9, cloud_organized=False, cloud_rgb=True,
                                    cloud_stride=1, cloud_min_range_m=0.0, cloud_max_range_m=float("inf"))


@dataclass
class Prediction:
    """Result of :func:`predict_depth`.

    ``depth_m``: (H, W) float32 depth [m], NaN where invalid. ``valid``: (H, W) bool.
    ``colorized``: (H, W, 3) uint8 RGB (turbo, near = red, invalid black).
    ``points_xyz``: (N, 3) float32 [m] in the camera optical frame, one per valid pixel in
    row-major order; ``points_rgb``: the matching (N, 3) uint8 colours of the input image.
    ``depth_range_m``: (min, max) of the valid depths [m], None if nothing is valid.
    ``focal_px``: the horizontal focal length [px] the metric depth scale rests on; ``focal_source``:
    where it came from (``camera_info``: the caller's intrinsics; ``estimated``: the estimator's own
    estimate, e.g. Depth Pro's field of view; ``assumed``: :func:`assumed_intrinsics`).
    ``estimated_focal_px``: the estimator's estimate [px] whether used or not (None if it makes none).
    ``confidence``: (H, W) float32 per-pixel confidence (``lingbot_depth_ros.confidence.definition``: the probability
    that the depth is within max(0.10 m, 5 %) of the truth), 0..1, NaN exactly where ``depth_m`` is NaN; None
    unless asked for.
    """

    depth_m: np.ndarray
    valid: np.ndarray
    colorized: np.ndarray
    points_xyz: np.ndarray
    points_rgb: np.ndarray
    intrinsics: CameraIntrinsics
    intrinsics_assumed: bool
    mode: str
    depth_range_m: tuple[float, float] | None
    elapsed_s: float
    focal_px: float = 0.0
    focal_source: str = FOCAL_ASSUMED
    estimated_focal_px: float | None = None
    output_kind: str = METRIC  # what the estimator produced before alignment (see DepthEstimator.output_kind)
    alignment: AlignmentResult | None = None  # the fit to the sparse depth, when one was applied
    confidence: np.ndarray | None = None
    #: the LiDAR agreement guard's figures (a learned estimator with sparse depth; README "LiDAR agreement guard")
    lidar_agreement: LidarAgreement | None = None


def assumed_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """Intrinsics to use when none are known: centred principal point, focal = longer side [px]."""
    return centred_intrinsics(ASSUMED_FOCAL_PER_SIDE * max(width, height), width, height)


def centred_intrinsics(focal_px: float, width: int, height: int) -> CameraIntrinsics:
    """Square-pixel intrinsics with focal length ``focal_px`` [px] and the principal point at the image centre."""
    return CameraIntrinsics(fx=focal_px, fy=focal_px, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0,
                            width=width, height=height)


def resolve_align(estimator: DepthEstimator, requested: str | None) -> str:
    """The fit to apply: ``requested``, or for None / "auto" scale_shift if the estimator's output is
    relative (it has no metric scale without it), else off.

    Raises:
        InputError: an unknown value, or "off" for a relative estimator.
    """
    if requested in (None, "auto"):
        return "off" if estimator.output_kind == METRIC else "scale_shift"
    if requested not in ALIGN_CHOICES:
        raise InputError(f"unknown align '{requested}'; choose one of: {', '.join(ALIGN_CHOICES)}")
    if requested == "off" and estimator.output_kind != METRIC:
        raise InputError(f"estimator '{estimator.name}' outputs {estimator.output_kind.replace('_', ' ')} (no metric "
                         "scale): it needs sparse depth and align scale_shift (or a metric checkpoint)")
    return requested


def resolve_mode(requested: str | None, has_sparse: bool, default: str | None = None, *, align: str = "off",
                 supported: frozenset[str] | None = None) -> str:
    """The mode to run: ``requested``, else ``default``, else auto's choice for this frame
    (:func:`~lingbot_depth_ros.pipeline.modes.frame_mode`: completion if sparse depth came and the estimator
    (``supported`` modes; None: not known yet, both) can complete, else monocular).

    With ``align`` other than "off" the sparse depth may serve only the fit (monocular).

    Raises:
        InputError: unknown mode, completion without sparse depth, or monocular with sparse depth
            (and no alignment to use it for).
    """
    capabilities = frozenset(REQUEST_MODES) if supported is None else supported
    # an estimator that can run neither is refused later by check_mode, with its own message
    mode = requested or default or frame_mode(AUTO, capabilities, has_sparse) or MONOCULAR
    if mode not in REQUEST_MODES:
        raise InputError(f"unknown mode '{mode}'; choose one of: {', '.join(REQUEST_MODES)}")
    if mode == COMPLETION and not has_sparse:
        raise InputError("mode 'completion' needs sparse depth (a 16-bit PNG in mm or a float .npy in m); "
                         "send it, or ask for mode 'monocular'")
    if has_sparse and not needs_sparse(mode, capabilities, has_sparse, align):  # sparse depth it would not use
        raise InputError("mode 'monocular' takes no sparse depth; ask for mode 'completion' to use it, or "
                         "leave the sparse depth out")
    return mode


def predict_depth(estimator: DepthEstimator, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None, mode: str, align: str = "off", *,
                  align_min_inlier_ratio: float = DEFAULT_MIN_INLIER_RATIO,
                  align_min_inliers: int = DEFAULT_MIN_INLIERS, confidence: bool = False,
                  guard: GuardSettings | None = None, guard_seed: int = 0) -> Prediction:
    """Run ``estimator`` once and derive everything a user downloads.

    Args:
        estimator: any registered estimator (see ``create_estimator``).
        rgb: (H, W, 3) uint8 RGB.
        sparse_depth_m: (H, W) float32 sparse depth [m] (0/NaN = none), or None for monocular.
        intrinsics: intrinsics of ``rgb``; None = :func:`assumed_intrinsics` (reported back).
        mode: "monocular" or "completion", already consistent with ``sparse_depth_m``
            (see :func:`resolve_mode`).
        align: "off", "scale" or "scale_shift": robust fit of the prediction to ``sparse_depth_m``
            (see :func:`resolve_align`; required by relative estimators, whose output is never returned
            as metres unaligned).
        align_min_inlier_ratio, align_min_inliers: the smallest inlier share (0..1) and count of an
            accepted fit (see :func:`~lingbot_depth_ros.geometry.scale_alignment.robust_scale_shift`).
        confidence: also make the per-pixel confidence (``Prediction.confidence``).
        guard: the LiDAR agreement guard (README "LiDAR agreement guard"; None = its defaults, as the node's):
            with sparse depth and a learned estimator, ``Prediction.lidar_agreement``; ``guard_seed``: the
            hold-out draw's seed (the batch gives the frame stamp [ns], as the node does).

    Raises:
        ConfigError: the estimator cannot run ``mode``.
        AlignmentRejected: the fit asked for was refused (scale <= 0, too few inliers).
        InputError: inconsistent shapes, or completion with no usable sparse measurement.
    """
    check_mode(estimator, mode)
    if estimator.output_kind != METRIC and (align == "off" or sparse_depth_m is None):
        raise InputError(f"estimator '{estimator.name}' outputs {estimator.output_kind.replace('_', ' ')} (no metric "
                         "scale): send sparse depth (LiDAR) to align it to, with align scale_shift (or auto)")
    if align != "off" and sparse_depth_m is None:
        raise InputError(f"align {align} fits the prediction to sparse depth: send sparse depth (LiDAR), or "
                         "align off")
    height, width = rgb.shape[:2]
    if sparse_depth_m is not None and not sparse_valid_mask(sparse_depth_m).any():
        raise InputError("sparse depth holds no valid measurement (all zero, NaN or negative)")
    assumed = intrinsics is None
    if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
        raise InputError(f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the image is "
                         f"{width}x{height}")
    guard = guard or GuardSettings()
    settings = dataclasses.replace(_DOWNLOAD_SETTINGS, align=align, align_min_inlier_ratio=align_min_inlier_ratio,
                                   align_min_inliers=align_min_inliers, confidence=confidence, guard=guard)
    align_to = sparse_depth_m if align != "off" else None
    pipeline = DepthPipeline(estimator, settings)
    sparse_in = sparse_depth_m if estimator_gets_sparse(mode, estimator.supported_modes,
                                                        sparse_depth_m is not None) else None
    split = split_for_guard(sparse_depth_m, sparse_in, align != "off", estimator, guard,
                            guard_seed)  # the guard's hold-out is kept from the estimator and the fit
    sparse_in, align_to = split.estimator_sparse_m, (split.align_sparse_m if align != "off" else None)
    if intrinsics is None and estimator.estimates_focal:
        # the estimator measures the focal length itself: estimate first, then build the intrinsics
        # (centred principal point) from that estimate for the point cloud
        start = time.perf_counter()
        estimate = estimator.estimate(rgb, sparse_in, None)
        elapsed = time.perf_counter() - start
        if estimate.estimated_focal_px is None:
            raise InputError(f"estimator '{estimator.name}' made no focal-length estimate for this image; "
                             "give the camera intrinsics")
        intrinsics = centred_intrinsics(estimate.estimated_focal_px, width, height)
        result = pipeline.finish(estimate, rgb, intrinsics, settings, align_to, inference_s=elapsed,
                                 guard=split.guard)
    else:
        if intrinsics is None:
            intrinsics = assumed_intrinsics(width, height)
        result = pipeline.process(rgb, sparse_in, intrinsics, settings, align_to, guard=split.guard)
    if align != "off" and result.alignment is None:  # asked for: never a silently unaligned answer
        message = f"could not align the prediction to the sparse depth: {result.alignment_error}"
        rejection = result.alignment_rejection
        if rejection is not None:
            raise AlignmentRejected(message, rejection.reason, rejection.fit)
        raise InputError(message)
    if result.focal_from_estimate and result.estimated_focal_px is not None:
        focal_px, focal_source = result.estimated_focal_px, FOCAL_ESTIMATED
    else:
        focal_px, focal_source = intrinsics.fx, (FOCAL_ASSUMED if assumed else FOCAL_CAMERA_INFO)
    depth, colorized, cloud = result.depth_m, result.colorized, result.cloud
    # _DOWNLOAD_SETTINGS asks for the colorized depth and a coloured cloud
    assert colorized is not None and cloud is not None and cloud.rgb is not None
    valid = np.isfinite(depth)
    depth_range = (float(depth[valid].min()), float(depth[valid].max())) if valid.any() else None
    return Prediction(depth_m=depth, valid=valid, colorized=colorized, points_xyz=cloud.xyz,
                      points_rgb=cloud.rgb, intrinsics=intrinsics, intrinsics_assumed=assumed, mode=mode,
                      depth_range_m=depth_range, elapsed_s=result.timings_s["inference"],
                      focal_px=float(focal_px), focal_source=focal_source,
                      estimated_focal_px=result.estimated_focal_px, output_kind=estimator.output_kind,
                      alignment=result.alignment, confidence=result.confidence,
                      lidar_agreement=result.lidar_agreement)
