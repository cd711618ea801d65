"""Parameters of the obstacle sectors and of the LiDAR point-cloud input, in the node's ParamSpec table format.

No rclpy here. The node declares :data:`NAVIGATION_PARAMS` next to its own parameters and turns a full set
of values into the pure configuration objects with :func:`sector_config_from_params`,
:func:`camera_mounting_from_params` and :func:`lidar_extrinsics_from_params`.

Angles are radians (REP 103). Frames: the analysis, the LaserScan, the JSON report and the markers are all
in ``obstacles.base_frame`` (see :mod:`lingbot_depth_ros.navigation.scan`), so no extra TF is published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.geometry.transforms import BODY_R_OPTICAL, RigidTransform, camera_pose_from_mounting
from lingbot_depth_ros.navigation.sectors import SectorConfig
from lingbot_depth_ros.param_spec import ParamSpec

P = ParamSpec
NAVIGATION_PARAMS: tuple[ParamSpec, ...] = (
    P("obstacles.enabled", True, "Run the obstacle-sector analysis on every depth frame and publish "
      "obstacles/scan, obstacles/recommendation and obstacles/markers."),
    P("obstacles.base_frame", "base_link", "Robot base frame (REP 103, z up): frame_id of the scan, report and "
      "markers, origin of every distance and bearing.", read_only=True),
    P("obstacles.use_tf", True, "Look up base_frame <- image frame with tf2 when tf2_ros is installed; the "
      "obstacles.camera.* mounting is used when tf2_ros is missing or this is false."),
    P("obstacles.camera.x_m", 0.0, "Camera position ahead of the base origin [m] (fallback mounting).",
      min=-100.0, max=100.0),
    P("obstacles.camera.y_m", 0.0, "Camera position left of the base origin [m] (fallback mounting).",
      min=-100.0, max=100.0),
    P("obstacles.camera.height_m", 0.5, "Camera height above the base origin [m] (fallback mounting; above the "
      "floor when floor_z_m = 0).", min=-100.0, max=100.0),
    P("obstacles.camera.roll_rad", 0.0, "Camera roll [rad] about its viewing direction; > 0 raises the image's "
      "left edge (fallback mounting).", min=-math.pi, max=math.pi),
    P("obstacles.camera.pitch_rad", 0.0, "Camera pitch [rad]; > 0 looks down (fallback mounting).",
      min=-math.pi / 2, max=math.pi / 2),
    P("obstacles.camera.yaw_rad", 0.0, "Camera yaw [rad]; > 0 looks left (fallback mounting).",
      min=-math.pi, max=math.pi),
    P("obstacles.floor_z_m", 0.0, "Height of the floor in base_frame [m] (0 for base_footprint; minus the "
      "base_link height for a base_link above the floor).", min=-10.0, max=10.0),
    P("obstacles.num_sectors", 3, "Number of sectors over the field of view (3 = left, center, right).",
      min=1, max=64),
    P("obstacles.fov_rad", 0.0, "Bearing span covered by the sectors [rad]; 0 = the camera's horizontal field "
      "of view.", min=0.0, max=2 * math.pi),
    P("obstacles.center_rad", 0.0, "Bearing of the middle of the span when fov_rad > 0 [rad] (0 = forward).",
      min=-math.pi, max=math.pi),
    P("obstacles.min_height_m", 0.10, "Points lower than this above the floor [m] are floor, not obstacles.",
      min=-10.0, max=10.0),
    P("obstacles.max_height_m", 1.5, "Points higher than this above the floor [m] are ignored (robot height).",
      min=-10.0, max=100.0),
    P("obstacles.min_range_m", 0.0, "Points nearer than this horizontal distance [m] are ignored (robot body); "
      "also the scan's range_min.", min=0.0, max=1000.0),
    P("obstacles.max_range_m", 8.0, "Points farther than this horizontal distance [m] are ignored; also the "
      "scan's range_max.", min=0.01, max=1000.0),
    P("obstacles.blocked_distance_m", 0.5, "A sector with an obstacle nearer than this [m] is blocked.",
      min=0.0, max=1000.0),
    P("obstacles.caution_distance_m", 1.0, "A sector with an obstacle nearer than this [m] is caution; a free "
      "sector must be seen at least this far to be clear.", min=0.0, max=1000.0),
    P("obstacles.hysteresis_m", 0.1, "A status relaxes only when the distance exceeds its threshold by this "
      "much [m]; it escalates at once.", min=0.0, max=100.0),
    P("obstacles.percentile", 5.0, "Percentile of the obstacle distances taken in each sub-bin (robust nearest).",
      min=0.0, max=100.0),
    P("obstacles.min_points", 10, "Obstacle points (after decimation) a sub-bin needs to count; also the valid "
      "points a sector needs to be observed.", min=1, max=100000),
    P("obstacles.sub_bins", 8, "Sub-bins per sector; the sector distance is their minimum, so thin objects in "
      "front of wide walls are not averaged away.", min=1, max=64),
    P("obstacles.min_valid_fraction", 0.5, "Fraction of the pixels expected to see the floor that must return "
      "depth for a sector without obstacles to be clear (else unknown).", min=0.0, max=1.0),
    P("obstacles.decimation", 4, "Pixel stride of the analysis in both directions.", min=1, max=64),
    P("obstacles.scan_mode", "sectors", "obstacles/scan layout: sectors (one ray per sector) or dense (one ray "
      "per angular bin, for Nav2 costmaps).", choices=("sectors", "dense")),
    P("obstacles.dense_rays", 160, "Rays of the dense scan over the field of view.", min=1, max=4096),
    P("obstacles.dense_min_points", 3, "Obstacle points a dense-scan ray needs.", min=1, max=100000),
    P("obstacles.markers", True, "Publish obstacles/markers (sector wedges and labels for RViz)."),
    P("lidar.use_tf", True, "Look up camera optical frame <- LiDAR frame with tf2 when tf2_ros is installed; "
      "the lidar.* extrinsics are used when tf2_ros is missing or this is false."),
    P("lidar.x_m", 0.0, "LiDAR origin ahead of the camera [m], in the camera body frame (x forward, y left, "
      "z up; fallback extrinsics).", min=-100.0, max=100.0),
    P("lidar.y_m", 0.0, "LiDAR origin left of the camera [m] (fallback extrinsics).", min=-100.0, max=100.0),
    P("lidar.z_m", 0.0, "LiDAR origin above the camera [m] (fallback extrinsics).", min=-100.0, max=100.0),
    P("lidar.roll_rad", 0.0, "LiDAR roll relative to the camera body frame [rad] (fallback extrinsics).",
      min=-math.pi, max=math.pi),
    P("lidar.pitch_rad", 0.0, "LiDAR pitch relative to the camera body frame [rad]; > 0 tilted down.",
      min=-math.pi / 2, max=math.pi / 2),
    P("lidar.yaw_rad", 0.0, "LiDAR yaw relative to the camera body frame [rad]; > 0 turned left.",
      min=-math.pi, max=math.pi),
    P("lidar.min_depth_m", 0.1, "LiDAR points nearer than this depth along the optical axis [m] are dropped.",
      min=0.0, max=1000.0),
    P("lidar.max_depth_m", 100.0, "LiDAR points farther than this depth [m] are dropped.", min=0.01, max=10000.0),
)

NAVIGATION_PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in NAVIGATION_PARAMS}


def check_navigation_consistency(values: Mapping[str, Any]) -> str | None:
    """Cross-parameter rules; the reason of the first violation or None."""
    pairs = (("obstacles.min_height_m", "obstacles.max_height_m"), ("obstacles.min_range_m", "obstacles.max_range_m"),
             ("lidar.min_depth_m", "lidar.max_depth_m"))
    for lo, hi in pairs:
        if lo in values and hi in values and not values[lo] < values[hi]:
            return f"{lo} ({values[lo]}) must be below {hi} ({values[hi]})"
    lo, hi = "obstacles.blocked_distance_m", "obstacles.caution_distance_m"
    if lo in values and hi in values and not values[lo] <= values[hi]:
        return f"{lo} ({values[lo]}) must not exceed {hi} ({values[hi]})"
    return None


def _value(values: Mapping[str, Any], name: str) -> Any:
    return values[name] if name in values else NAVIGATION_PARAMS_BY_NAME[name].default


def sector_config_from_params(values: Mapping[str, Any]) -> SectorConfig:
    """:class:`SectorConfig` from parameter values (missing names take their defaults).

    Raises:
        ConfigError: a value is out of range or the values contradict each other.
    """
    reason = check_navigation_consistency({n: _value(values, n) for n in NAVIGATION_PARAMS_BY_NAME})
    if reason:
        raise ConfigError(reason)
    def v(name: str) -> Any:
        return _value(values, "obstacles." + name)

    return SectorConfig(num_sectors=int(v("num_sectors")), fov_rad=float(v("fov_rad")),
                        center_rad=float(v("center_rad")), floor_z_m=float(v("floor_z_m")),
                        min_obstacle_height_m=float(v("min_height_m")), max_obstacle_height_m=float(v("max_height_m")),
                        min_range_m=float(v("min_range_m")), max_range_m=float(v("max_range_m")),
                        blocked_distance_m=float(v("blocked_distance_m")),
                        caution_distance_m=float(v("caution_distance_m")), hysteresis_m=float(v("hysteresis_m")),
                        percentile=float(v("percentile")), min_points=int(v("min_points")),
                        min_valid_fraction=float(v("min_valid_fraction")), decimation=int(v("decimation")),
                        sub_bins=int(v("sub_bins")))


def camera_mounting_from_params(values: Mapping[str, Any]) -> RigidTransform:
    """Fallback ``base_T_optical`` from the obstacles.camera.* parameters (used without tf2)."""
    def v(name: str) -> float:
        return float(_value(values, "obstacles.camera." + name))

    return camera_pose_from_mounting(height_m=v("height_m"), pitch_rad=v("pitch_rad"), roll_rad=v("roll_rad"),
                                     yaw_rad=v("yaw_rad"), x_m=v("x_m"), y_m=v("y_m"))


def lidar_extrinsics_from_params(values: Mapping[str, Any]) -> RigidTransform:
    """Fallback ``optical_T_lidar`` from the lidar.* parameters, which give the LiDAR pose in the camera *body*
    frame (x forward, y left, z up at the optical centre): all zeros = a LiDAR at the camera with REP 103 axes."""
    def v(name: str) -> float:
        return float(_value(values, "lidar." + name))

    body_t_lidar = RigidTransform.from_xyz_rpy(v("x_m"), v("y_m"), v("z_m"), v("roll_rad"), v("pitch_rad"),
                                               v("yaw_rad"))
    optical_t_body = RigidTransform(BODY_R_OPTICAL, np.zeros(3)).inverse()
    return optical_t_body.compose(body_t_lidar)
