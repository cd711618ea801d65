"""Parameters of the surface outputs (planes, free squares, markers) in the node's ParamSpec table format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.surfaces.config import SurfaceConfig

P = ParamSpec
SURFACE_PARAMS: tuple[ParamSpec, ...] = (
    P("surfaces.enabled", False, "Find planar surfaces (floor, tables, shelves, ramps) in the output depth and "
      "publish surfaces (JSON) and surfaces/markers; off by default (CPU: ~0.1 s per 320x240 frame at "
      "decimation 2, about 5x that at 640x480; on its own thread, rate-limited by surfaces.rate_hz)."),
    P("surfaces.rate_hz", 1.0, "Most surface analyses per second [Hz]; frames in between are skipped (depth "
      "publishing never waits for the analysis).", min=0.01, max=100.0),
    P("surfaces.decimation", 2, "Pixel stride of the surface analysis in both directions.", min=1, max=32),
    P("surfaces.max_tilt_deg", 10.0, "A surface is horizontal when its normal is within this angle of the "
      "gravity direction (from TF or obstacles.camera.*) [deg].", min=0.0, max=44.0),
    P("surfaces.clearance_m", 0.2, "Free height above a surface [m]: the free square has no points above it up "
      "to this height.", min=0.01, max=10.0),
    P("surfaces.min_area_m2", 0.04, "Smaller planar regions are not reported [m^2].", min=0.0001, max=1000.0),
    P("surfaces.distance_threshold_m", 0.015, "Plane inlier distance at zero range [m]; plus "
      "surfaces.distance_threshold_rel x range.", min=0.001, max=1.0),
    P("surfaces.distance_threshold_rel", 0.005, "Range-proportional part of the inlier distance (depth noise "
      "grows with range).", min=0.0, max=0.5),
    P("surfaces.normal_angle_deg", 10.0, "Local normals within this angle of a plane's normal belong to it "
      "[deg].", min=1.0, max=59.0),
    P("surfaces.normal_window", 5, "Side of the pixel window (decimated pixels, odd) of the local normals.",
      min=3, max=31),
    P("surfaces.coarse_normal_window", 9, "Side of a larger window (odd; 0 = off) whose normal replaces the "
      "surfaces.normal_window one wherever the surface is flat over it: less normal noise on noisy depth (a "
      "Kinect's quantised depth) without blurring the edges of small surfaces.", min=0, max=63),
    P("surfaces.max_curvature_per_m", 1.0, "Regions bending more than this (1/radius) [1/m] are curved, not "
      "planes.", min=0.001, max=100.0),
    P("surfaces.max_range_m", 8.0, "Points farther than this from the camera are ignored [m].", min=0.1,
      max=1000.0),
    P("surfaces.max_surfaces", 20, "At most this many surfaces per report, largest first.", min=1, max=1000),
    P("surfaces.markers", True, "Publish surfaces/markers (outlines, normals, free squares, labels for RViz)."),
)

SURFACE_PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in SURFACE_PARAMS}
#: the settings of the analysis itself (not the node's scheduling and outputs): also ``lingbot-depth predict``
#: options (``--surface-<name>``, cli/scene_analysis.py)
SURFACE_ANALYSIS_PARAMS: tuple[ParamSpec, ...] = tuple(
    p for p in SURFACE_PARAMS if p.name not in ("surfaces.enabled", "surfaces.rate_hz", "surfaces.markers"))


def surface_config_from_params(values: Mapping[str, Any]) -> SurfaceConfig:
    """:class:`SurfaceConfig` from surfaces.* values (missing names take their defaults); ConfigError if invalid."""
    def v(name: str) -> Any:
        return values.get("surfaces." + name, SURFACE_PARAMS_BY_NAME["surfaces." + name].default)

    return SurfaceConfig(max_tilt_deg=float(v("max_tilt_deg")), clearance_m=float(v("clearance_m")),
                         min_area_m2=float(v("min_area_m2")), distance_threshold_m=float(v("distance_threshold_m")),
                         distance_threshold_rel=float(v("distance_threshold_rel")),
                         normal_angle_deg=float(v("normal_angle_deg")), normal_window=int(v("normal_window")),
                         coarse_normal_window=int(v("coarse_normal_window")),
                         max_curvature_per_m=float(v("max_curvature_per_m")), max_range_m=float(v("max_range_m")),
                         max_surfaces=int(v("max_surfaces")))
