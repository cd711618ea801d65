"""Parameters of the surface finder (plain dataclass, no ROS). Distances [m], angles [deg], areas [m^2]."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lingbot_depth_ros.errors import ConfigError


@dataclass(frozen=True)
class SurfaceConfig:
    """How planar surfaces are found and described (see :mod:`lingbot_depth_ros.surfaces`).

    - ``max_tilt_deg``: a surface whose normal is within this angle of "up" (against gravity) is horizontal;
      one within this angle of perpendicular to "up" is vertical; the rest are tilted.
    - ``clearance_m``: height above a surface that must be free of points for its free square.
    - ``min_area_m2``: smaller planar regions are not reported.
    - ``distance_threshold_m`` + ``distance_threshold_rel`` x range: plane inlier distance [m].
    - ``normal_angle_deg``: a point's local normal must be within this angle of the plane's normal.
    - ``max_curvature_per_m``: regions bending more than this (1 / radius [1/m]) are curved, not planes.
    - ``normal_window``: side of the pixel window (decimated pixels) of the local normals of depth frames.
    - ``coarse_normal_window``: a larger window whose normal replaces the ``normal_window`` one wherever the
      surface is flat over it (less noise on noisy sensors, e.g. a Kinect's quantised depth, without blurring
      the edges of small surfaces); 0 or <= ``normal_window``: one window only.
    - ``cell_m``: raster cell of the area, extent and free-square computation (at least the point spacing).
    - ``max_range_m``: points farther than this from the camera are ignored (depth frames).
    - ``max_surfaces``: at most this many surfaces are reported, largest first.
    - ``floor_tolerance_m``: a horizontal surface within this height of the floor is the floor.
    """

    max_tilt_deg: float = 10.0
    clearance_m: float = 0.2
    min_area_m2: float = 0.04
    distance_threshold_m: float = 0.015
    distance_threshold_rel: float = 0.005
    normal_angle_deg: float = 10.0
    max_curvature_per_m: float = 1.0
    normal_window: int = 5
    coarse_normal_window: int = 9
    cell_m: float = 0.02
    max_range_m: float = 8.0
    max_surfaces: int = 20
    floor_tolerance_m: float = 0.05

    def __post_init__(self) -> None:
        checks = (("max_tilt_deg", 0.0 <= self.max_tilt_deg < 45.0), ("clearance_m", self.clearance_m > 0),
                  ("min_area_m2", self.min_area_m2 > 0), ("distance_threshold_m", self.distance_threshold_m > 0),
                  ("distance_threshold_rel", self.distance_threshold_rel >= 0),
                  ("normal_angle_deg", 0.0 < self.normal_angle_deg < 60.0),
                  ("max_curvature_per_m", self.max_curvature_per_m > 0),
                  ("normal_window", self.normal_window >= 3 and self.normal_window % 2 == 1),
                  ("coarse_normal_window", self.coarse_normal_window == 0
                   or (self.coarse_normal_window >= 3 and self.coarse_normal_window % 2 == 1)),
                  ("cell_m", self.cell_m > 0), ("max_range_m", self.max_range_m > 0),
                  ("max_surfaces", self.max_surfaces >= 1), ("floor_tolerance_m", self.floor_tolerance_m >= 0))
        for name, ok in checks:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise ConfigError(f"surfaces: invalid {name}={value!r} (see SurfaceConfig)")
