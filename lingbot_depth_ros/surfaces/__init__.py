"""Planar surfaces (floor, tables, shelves, ramps) from depth frames or clouds; no ROS.

- :func:`find_surfaces_in_depth` / :func:`find_surfaces_in_cloud` -> :class:`SurfaceReport`;
- :func:`report_to_dict` / :func:`report_to_json` -> the versioned JSON (``lingbot_depth_ros/surfaces`` v1),
  :data:`SURFACES_JSON_SCHEMA` and :func:`schema_errors` to check it.
"""

from lingbot_depth_ros.surfaces.config import SurfaceConfig
from lingbot_depth_ros.surfaces.detect import Surface, SurfaceReport, find_surfaces_in_cloud, find_surfaces_in_depth
from lingbot_depth_ros.surfaces.surface_report import (
    SURFACES_JSON_SCHEMA,
    report_to_dict,
    report_to_json,
    schema_errors,
)

__all__ = ["SurfaceConfig", "Surface", "SurfaceReport", "find_surfaces_in_cloud", "find_surfaces_in_depth",
           "SURFACES_JSON_SCHEMA", "report_to_dict", "report_to_json", "schema_errors"]
