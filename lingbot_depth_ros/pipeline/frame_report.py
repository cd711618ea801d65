"""How the depth node reports a frame (ROS-free): the counter a lost frame is counted under, and the
diagnostics text of a frame's scale fit and focal-length check."""

from __future__ import annotations

from lingbot_depth_ros.errors import EstimatorOutOfMemory, InputError, LingbotDepthError
from lingbot_depth_ros.geometry.scale_alignment import INVERSE_DEPTH, AlignmentRejected, AlignmentResult
from lingbot_depth_ros.pipeline.lidar_guard import LidarDisagreement

#: the counters of frames a camera lost, by reason (diagnostics ``frames dropped <reason>``)
DROP_REASONS = ("stale", "no_sync", "bad_input", "alignment_rejected", "lidar_disagreement", "estimator_error",
                "out_of_memory", "internal_error")
#: |estimated / CameraInfo focal - 1| above which the diagnostics flag the calibration
FOCAL_MISMATCH = 0.15


def drop_reason(exc: BaseException) -> str:
    """The diagnostics counter a frame lost to ``exc`` is counted under (one of :data:`DROP_REASONS`)."""
    if isinstance(exc, EstimatorOutOfMemory):
        return "out_of_memory"
    if isinstance(exc, AlignmentRejected):  # a relative output whose fit to the LiDAR was refused
        return "alignment_rejected"
    if isinstance(exc, LidarDisagreement):  # guard.action drop: the output disagrees with the LiDAR
        return "lidar_disagreement"
    if isinstance(exc, InputError):
        return "bad_input"
    if isinstance(exc, LingbotDepthError):
        return "estimator_error"
    return "internal_error"


def alignment_diagnostic(a: AlignmentResult) -> tuple[str, str]:
    """The diagnostics key and value of an align_to_sparse fit, labelled with the units of its space: a
    depth fit's shift is in m, an inverse-depth (disparity) fit's in 1/m."""
    unit = "1/m" if a.space == INVERSE_DEPTH else "m"
    prefix = "alignment inverse-depth" if a.space == INVERSE_DEPTH else "alignment"
    return f"{prefix} scale / shift [{unit}] / inliers", f"{a.scale:.4f} / {a.shift:.3f} / {a.inlier_ratio:.2f}"


def focal_check_text(estimated_px: float, camera_info_px: float) -> str:
    """``"612.3 / 600.0 / 1.021"``, plus a hint when the two focal lengths [px] disagree by more than 15 %."""
    ratio = estimated_px / camera_info_px if camera_info_px > 0 else float("nan")
    text = f"{estimated_px:.1f} / {camera_info_px:.1f} / {ratio:.3f}"
    if not abs(ratio - 1.0) <= FOCAL_MISMATCH:
        text += " (differ by more than 15 %: check the calibration, or a crop/resize between camera and CameraInfo)"
    return text
