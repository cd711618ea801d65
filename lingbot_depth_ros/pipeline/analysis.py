"""Surfaces and obstacle sectors of a predicted depth map, off the robot (CLI ``predict`` and HTTP API).

Both reports use the node's JSON schemas (``lingbot_depth_ros/surfaces`` v1 and
``lingbot_depth_ros/obstacle_sectors`` v1) in a ``base_link``-like frame built from the camera mounting the
caller gives: height above the floor [m], pitch (> 0 looks down) and roll [deg] (REP 103, as the node's
``obstacles.camera.*`` parameters). Obstacles need the camera height; surfaces without it report heights
above the lowest horizontal surface (``floor_source: "estimated"``). No ROS.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.navigation.obstacle_report import report_to_dict as obstacle_report_to_dict
from lingbot_depth_ros.navigation.sectors import ObstacleSectorAnalyzer, SectorConfig
from lingbot_depth_ros.params.surfaces import SURFACE_PARAMS_BY_NAME
from lingbot_depth_ros.surfaces import SurfaceConfig, find_surfaces_in_depth
from lingbot_depth_ros.surfaces import report_to_dict as surface_report_to_dict

BASE_FRAME = "base_link"


@dataclass(frozen=True)
class AnalysisRequest:
    """What to analyse: ``surfaces`` / ``obstacles`` flags and the camera mounting (height [m] above the floor
    or None, pitch [deg] > 0 down, roll [deg]); the surface finder's settings (None = defaults) and pixel
    decimation (``surfaces.decimation``)."""

    surfaces: bool = False
    obstacles: bool = False
    camera_height_m: float | None = None
    camera_pitch_deg: float = 0.0
    camera_roll_deg: float = 0.0
    surface_config: SurfaceConfig | None = None
    surface_decimation: int = int(SURFACE_PARAMS_BY_NAME["surfaces.decimation"].default)

    def __post_init__(self) -> None:
        for name in ("camera_pitch_deg", "camera_roll_deg"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be finite, got {getattr(self, name)}")
        if not -90.0 <= self.camera_pitch_deg <= 90.0:
            raise InputError(f"camera pitch must be within [-90, 90] deg, got {self.camera_pitch_deg}")
        if not -180.0 <= self.camera_roll_deg <= 180.0:
            raise InputError(f"camera roll must be within [-180, 180] deg, got {self.camera_roll_deg}")
        if self.camera_height_m is not None and not (math.isfinite(self.camera_height_m)
                                                     and 0.0 < self.camera_height_m <= 100.0):
            raise InputError(f"camera height must be in (0, 100] m, got {self.camera_height_m}")
        if self.obstacles and self.camera_height_m is None:
            raise InputError("obstacles need the camera height above the floor (--camera-height-m / "
                             "camera_height_m)")

    @property
    def wanted(self) -> bool:
        return self.surfaces or self.obstacles


def decimate_for_analysis(depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                          max_pixels: int) -> tuple[np.ndarray, CameraIntrinsics, int]:
    """Every ``factor``-th pixel of each ``factor``-th row of (H, W) depth [m], ``factor`` the smallest integer
    that leaves at most ``max_pixels`` pixels (1: the depth itself), with the intrinsics of that image.

    Keeps measured depths (no averaging across edges); the decimated image is what a camera of
    ceil(W / factor) x ceil(H / factor) pixels with the same field of view would see: fx / factor, cx / factor
    (pixel centres at integer coordinates). Returns (depth (h, w), its intrinsics, factor).
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be > 0, got {max_pixels}")
    height, width = depth_m.shape
    factor = max(1, math.isqrt(height * width // max_pixels))
    while -(-height // factor) * -(-width // factor) > max_pixels:
        factor += 1
    if factor == 1:
        return depth_m, intrinsics, 1
    view = np.ascontiguousarray(depth_m[::factor, ::factor])
    k = intrinsics
    return view, CameraIntrinsics(fx=k.fx / factor, fy=k.fy / factor, cx=k.cx / factor, cy=k.cy / factor,
                                  width=view.shape[1], height=view.shape[0]), factor


def analyse(depth_m: np.ndarray, intrinsics: CameraIntrinsics, request: AnalysisRequest,
            surface_config: SurfaceConfig | None = None,
            sector_config: SectorConfig | None = None) -> dict[str, dict[str, Any]]:
    """The requested reports of (H, W) depth [m]: ``{"surfaces": {...}, "obstacles": {...}}`` (only those asked)."""
    height = request.camera_height_m
    pose = camera_pose_from_mounting(0.0 if height is None else height, math.radians(request.camera_pitch_deg),
                                     math.radians(request.camera_roll_deg))
    out: dict[str, dict[str, Any]] = {}
    if request.surfaces:
        surface_settings = surface_config or request.surface_config or SurfaceConfig()
        report = find_surfaces_in_depth(depth_m, intrinsics, pose, surface_settings, stride=request.surface_decimation,
                                        floor_z_m=None if height is None else 0.0)
        out["surfaces"] = surface_report_to_dict(report, surface_settings, frame_id=BASE_FRAME)
    if request.obstacles:
        sector_settings = sector_config or SectorConfig()
        sectors = ObstacleSectorAnalyzer(sector_settings).analyze_depth(depth_m, intrinsics, pose)
        out["obstacles"] = obstacle_report_to_dict(sectors, sector_settings, stamp_sec=0, stamp_nanosec=0,
                                                   frame_id=BASE_FRAME)
    return out


def write_analysis(reports: dict[str, dict[str, Any]], out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>_surfaces.json`` / ``<stem>_obstacles.json`` (strict JSON); returns the paths."""
    paths = []
    for name, document in reports.items():
        path = out_dir / f"{stem}_{name}.json"
        path.write_text(json.dumps(document, allow_nan=False, indent=1) + "\n")
        paths.append(path)
    return paths
