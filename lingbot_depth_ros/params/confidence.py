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
      "NaN)."),
)

__all__ = ["CONFIDENCE_PARAMS"]
