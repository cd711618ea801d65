"""The per-pixel confidence's parameters (``confidence.*``, no rclpy): the depth node's table rows.

What the confidence is: :mod:`lingbot_depth_ros.confidence.definition` (README "Per-pixel confidence").
"""

from __future__ import annotations

from lingbot_depth_ros.param_spec import ParamSpec

P = ParamSpec
CONFIDENCE_PARAMS: tuple[ParamSpec, ...] = (
    P("confidence.enabled", True, "Compute the per-pixel confidence of the depth (the probability that the pixel's "
      "depth is within max(0.10 m, 5 % of the true depth) of the true depth; README 'Per-pixel confidence') and "
      "publish it on depth/confidence (32FC1, header and size of depth/image, 0..1, NaN exactly where the depth is "
      "NaN). Lazy: made only while depth/confidence has a subscriber or a confidence gate is set (it costs about "
      "2x the classical estimator's time per frame)."),
    P("confidence.points_min", 0.0, "Minimum confidence of a pixel in the points cloud: pixels below it are left out "
      "(NaN in an organized cloud). 0 = no gate (the cloud as without confidence). Needs confidence.enabled. "
      "README 'Per-pixel confidence and gated outputs' (0.95 measured on two KITTI frames, classical: 87-88 % of "
      "the pixels kept, their RMSE -63 / -72 %).",
      min=0.0, max=1.0),
    P("confidence.scan_min", 0.0, "Minimum confidence of a pixel used for obstacles/scan: pixels below it are "
      "ignored, so a ray seen only through them is NaN (unknown, REP 117), never +Inf (free). 0 = no gate. Needs "
      "confidence.enabled.", min=0.0, max=1.0),
    P("confidence.sectors_min", 0.0, "Minimum confidence of a pixel used for the obstacle sectors "
      "(obstacles/recommendation, markers): a sector whose pixels are all below it is 'unknown', never 'clear'. "
      "0 = no gate. Needs confidence.enabled.", min=0.0, max=1.0),
)

__all__ = ["CONFIDENCE_PARAMS"]
