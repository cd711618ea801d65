"""The temporal filter's and multi-sweep LiDAR's parameters (``temporal.*``, no rclpy): the depth node's and the
offline runs' table rows.

The filter is :mod:`lingbot_depth_ros.pipeline.temporal_filter`, the sweeps :mod:`lingbot_depth_ros.pipeline.
lidar_sweeps`, their per-camera state :mod:`lingbot_depth_ros.pipeline.temporal_stage` (README "Temporal filter").
"""

from __future__ import annotations

from lingbot_depth_ros.param_spec import ParamSpec

#: where the camera's motion between frames comes from (none = a standing camera)
TEMPORAL_POSE_SOURCES = ("none", "tf", "odometry", "pose")

P = ParamSpec
TEMPORAL_PARAMS: tuple[ParamSpec, ...] = (
    P("temporal.enabled", False, "Temporal filter of the published depth: the previous output (and its confidence) "
      "is warped into the current frame with the camera's motion (temporal.pose_source) and blended per pixel with "
      "the new estimate where they agree (within temporal.reset_rel), reset where they disagree (moving objects, "
      "disocclusions); holes keep a fading history. Less flicker, fewer holes; the depth image, cloud, scan and "
      "sectors all carry the filtered depth. README 'Temporal filter'."),
    P("temporal.pose_source", "none", "The camera's motion between frames: none (a standing camera: no motion), tf "
      "(tf2_ros: temporal.fixed_frame <- the image frame at each image stamp), odometry (nav_msgs/Odometry on "
      "temporal.odom_topic, interpolated, x the mounting temporal.mount_*), pose (geometry_msgs/PoseStamped of the "
      "optical frame on temporal.pose_topic, interpolated). A frame without a pose within temporal.max_pose_age_s "
      "resets the history (warned once per reason, counted in diagnostics).",
      choices=TEMPORAL_POSE_SOURCES, read_only=True),
    P("temporal.fixed_frame", "odom", "tf source: the fixed frame camera poses are looked up in (odom: smooth; map "
      "jumps at relocalisation)."),
    P("temporal.odom_topic", "odom", "odometry source: the nav_msgs/Odometry topic (the robot base's pose).",
      read_only=True),
    P("temporal.pose_topic", "camera_pose", "pose source: the geometry_msgs/PoseStamped topic of the camera optical "
      "frame's pose (relative to the camera's namespace).", read_only=True),
    P("temporal.mount_x", 0.0, "odometry source: camera body position on the base, forward [m]."),
    P("temporal.mount_y", 0.0, "odometry source: camera body position on the base, left [m]."),
    P("temporal.mount_z", 0.0, "odometry source: camera body position on the base, up [m]."),
    P("temporal.mount_roll", 0.0, "odometry source: camera body roll on the base [rad]."),
    P("temporal.mount_pitch", 0.0, "odometry source: camera body pitch on the base, + = down [rad]."),
    P("temporal.mount_yaw", 0.0, "odometry source: camera body yaw on the base [rad]."),
    P("temporal.max_pose_age_s", 0.1, "A pose farther than this from the image stamp (no pose near it: the source "
      "stopped, or a gap) counts as missing: the history is reset [s].", min=0.0, max=10.0),
    P("temporal.reset_rel", 0.1, "A pixel whose warped history and new depth differ by more than this share of "
      "the depth is reset to the new depth (nothing trails) [1].", min=0.01, max=0.99),
    P("temporal.max_history_weight", 8.0, "Cap of a pixel's accumulated weight [frames]: the new frame gets at "
      "least 1/(cap+1) of the blend (higher: steadier, slower to follow slow changes).", min=0.1, max=1000.0),
    P("temporal.hole_decay", 0.5, "Factor on the weight of a pixel kept from history where the new frame has no "
      "depth, per frame [1] (0 = holes are never filled from history).", min=0.0, max=1.0),
    P("temporal.min_hole_weight", 0.2, "A pixel kept from history is dropped once its weight falls below this "
      "[frames].", min=0.0, max=1000.0),
    P("temporal.confirm_frames", 1, "1: a disagreeing pixel resets at once; 2: the first disagreeing frame is "
      "held (one frame at most; while the camera moves only where the new depth is in front of the history, e.g. a "
      "moving object's edge): less flicker at a standing camera (edges, dropouts), one frame of lag for a moving "
      "object.", min=1, max=2),
    P("temporal.max_gap_s", 1.0, "A longer time between two frames resets the history [s] (0 = never).",
      min=0.0, max=3600.0),
    P("temporal.max_jump_m", 0.0, "A larger camera translation between two frames resets the history (a "
      "relocalisation, an odometry reset) [m] (0 = never).", min=0.0, max=1000.0),
    P("temporal.lidar_sweeps", 1, "LiDAR sweeps given to a completion estimator: the current one and the previous "
      "N-1 reprojected into the current camera frame with the poses (temporal.pose_source); newer returns win, old "
      "returns that disagree with newer ones are dropped (1 = the current sweep only). Independent of "
      "temporal.enabled.", min=1, max=10),
    P("temporal.sweep_disagree_rel", 0.05, "An older LiDAR return is dropped where a newer one near it differs by "
      "more than this share of its depth (parallax, moving objects) [1].", min=0.005, max=0.5),
    P("temporal.sweep_max_age_s", 1.0, "Older LiDAR sweeps than this are dropped [s] (0 = no limit).",
      min=0.0, max=60.0),
)

__all__ = ["TEMPORAL_PARAMS", "TEMPORAL_POSE_SOURCES"]
