"""The LiDAR agreement guard's parameters (``guard.*``, no rclpy): the depth node's and the batch's table rows.

The guard itself is :mod:`lingbot_depth_ros.pipeline.lidar_guard` (README "LiDAR agreement guard").
"""

from __future__ import annotations

from lingbot_depth_ros.param_spec import ParamSpec

GUARD_ACTIONS = ("warn", "rescale", "drop")
#: share of a frame's LiDAR samples withheld from a learned estimator (bench/bench_lidar_guard.py: 5 % costs
#: classical completion +0.9..1.9 % RMSE and +1.5..2.7 % MAE on KITTI and NYU; comparing with the samples the
#: model saw instead reports 0.00 % median error for a completion, whatever its output does between them)
DEFAULT_HOLDOUT_SHARE = 0.05
DEFAULT_MAX_REL_ERROR = 0.15
DEFAULT_WARN_AFTER_FRAMES = 5
DEFAULT_MIN_SAMPLES = 20

P = ParamSpec
GUARD_PARAMS: tuple[ParamSpec, ...] = (
    P("guard.enabled", True, "LiDAR agreement guard: whenever LiDAR (sparse depth) comes with a learned estimator's "
      "output (lingbot, prompt_depth_anything, depth_anything, depth_pro, marigold; classical and nearest "
      "interpolate the LiDAR and are not checked), compare the published depth with LiDAR samples: /diagnostics "
      "'lidar agreement' (median abs. rel. error, share within 5 %, robust scale output/LiDAR), WARN after "
      "guard.warn_after_frames disagreeing frames with the likely cause. README 'LiDAR agreement guard'."),
    P("guard.holdout_share", DEFAULT_HOLDOUT_SHARE, "Share of each frame's LiDAR samples withheld from the estimator "
      "(and from the align_to_sparse fit), drawn per frame (seeded by the frame stamp: reproducible), and compared "
      "with the output. 0 = the estimator gets every sample and the agreement is measured on the samples it saw "
      "(a completion reproduces them: blind to what it does between them). A frame with fewer than "
      "guard.min_samples to hold out keeps them all ('not enough samples').", min=0.0, max=0.5),
    P("guard.action", "warn", "What a frame that disagrees (median error above guard.max_rel_error) does: warn "
      "(published as estimated; diagnostics only), rescale (its depth divided by its robust scale output/LiDAR, "
      "when at least half of the samples agree on one; otherwise published as estimated) or drop (nothing "
      "published; counted as 'frames dropped lidar_disagreement').", choices=GUARD_ACTIONS),
    P("guard.max_rel_error", DEFAULT_MAX_REL_ERROR, "A frame disagrees with the LiDAR when the median of "
      "abs(depth - LiDAR) / LiDAR over its guard samples exceeds this; also the tolerance of the robust scale's "
      "inliers.", min=0.01, max=0.99),
    P("guard.warn_after_frames", DEFAULT_WARN_AFTER_FRAMES, "Diagnostics go WARN (and a warning is logged once) "
      "after this many disagreeing frames in a row; an agreeing frame ends the run (frames with too few samples "
      "neither count nor end it).", min=1, max=100000),
    P("guard.min_samples", DEFAULT_MIN_SAMPLES, "Fewest LiDAR samples (where the output is valid) a verdict rests "
      "on; fewer: 'not enough samples', no verdict.", min=3, max=1000000),
)

__all__ = ["DEFAULT_HOLDOUT_SHARE", "DEFAULT_MAX_REL_ERROR", "DEFAULT_MIN_SAMPLES", "DEFAULT_WARN_AFTER_FRAMES",
           "GUARD_ACTIONS", "GUARD_PARAMS"]
