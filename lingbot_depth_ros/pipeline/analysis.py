"""Surfaces and obstacle sectors of a predicted depth map, off the robot (CLI ``predict`` and HTTP API).

Both reports use the node's JSON schemas (``lingbot_depth_ros/surfaces`` v1 and
``lingbot_depth_ros/obstacle_sectors`` v1) in a ``base_link``-like frame built from the camera mounting the
caller gives: height above the floor [m], pitch (> 0 looks down) and roll [deg] (REP 103, as the node's
``obstacles.camera.*`` parameters). Obstacles need the camera height; surfaces without it report heights
above the lowest horizontal surface (``floor_source: "estimated"``). No ROS.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.navigation.report_json import report_to_dict as obstacle_report_to_dict
from lingbot_depth_ros.navigation.sectors import ObstacleSectorAnalyzer, SectorConfig
from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.surfaces import (SURFACE_ANALYSIS_PARAMS, SURFACE_PARAMS_BY_NAME,
                                                  surface_config_from_params)
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


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """``--surfaces``, ``--obstacles`` and the camera mounting options."""
    group = parser.add_argument_group("scene analysis (docs/surfaces.md, README 'Obstacle sectors')")
    group.add_argument("--surfaces", action="store_true",
                       help="also write <stem>_surfaces.json (planar surfaces, schema lingbot_depth_ros/surfaces v1)")
    group.add_argument("--obstacles", action="store_true",
                       help="also write <stem>_obstacles.json (obstacle sectors, the node's obstacles/recommendation "
                            "schema); needs --camera-height-m")
    group.add_argument("--camera-height-m", type=float, default=None,
                       help="camera height above the floor [m] (surfaces without it: floor = lowest horizontal plane)")
    group.add_argument("--camera-pitch-deg", type=float, default=0.0, help="camera pitch [deg], > 0 looks down")
    group.add_argument("--camera-roll-deg", type=float, default=0.0,
                       help="camera roll [deg] about the viewing direction, > 0 raises the image's left edge")
    for spec in SURFACE_ANALYSIS_PARAMS:  # one description: the node's surfaces.* parameter table
        name = spec.name.removeprefix("surfaces.")
        group.add_argument(f"--surface-{name.replace('_', '-')}", dest=f"surface_{name}", type=_spec_type(spec),
                           default=spec.default, metavar=type(spec.default).__name__.upper(),
                           help=f"{spec.description} Range {spec.range_text()}, default {spec.default} (node "
                                f"parameter {spec.name}).".replace("%", "%%"))


def _spec_type(spec: ParamSpec) -> Callable[[str], Any]:
    """argparse type of a numeric parameter: its Python type, refused with the spec's own message when out of
    range (argparse then exits 2 naming the option)."""
    kind = type(spec.default)

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{spec.name} must be a{'n integer' if kind is int else ' number'}, "
                                             f"got {text!r}") from None
        problem = spec.check(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    convert.__name__ = kind.__name__
    return convert


def request_from_args(args: argparse.Namespace) -> AnalysisRequest:
    """The :class:`AnalysisRequest` of parsed CLI options (InputError / ConfigError when inconsistent)."""
    values = {spec.name: getattr(args, "surface_" + spec.name.removeprefix("surfaces."), spec.default)
              for spec in SURFACE_ANALYSIS_PARAMS}
    return AnalysisRequest(surfaces=args.surfaces, obstacles=args.obstacles, camera_height_m=args.camera_height_m,
                           camera_pitch_deg=args.camera_pitch_deg, camera_roll_deg=args.camera_roll_deg,
                           surface_config=surface_config_from_params(values),
                           surface_decimation=int(values["surfaces.decimation"]))


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
        config = surface_config or request.surface_config or SurfaceConfig()
        report = find_surfaces_in_depth(depth_m, intrinsics, pose, config, stride=request.surface_decimation,
                                        floor_z_m=None if height is None else 0.0)
        out["surfaces"] = surface_report_to_dict(report, config, frame_id=BASE_FRAME)
    if request.obstacles:
        config = sector_config or SectorConfig()
        sectors = ObstacleSectorAnalyzer(config).analyze_depth(depth_m, intrinsics, pose)
        out["obstacles"] = obstacle_report_to_dict(sectors, config, stamp_sec=0, stamp_nanosec=0, frame_id=BASE_FRAME)
    return out


def write_analysis(reports: dict[str, dict[str, Any]], out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>_surfaces.json`` / ``<stem>_obstacles.json`` (strict JSON); returns the paths."""
    paths = []
    for name, document in reports.items():
        path = out_dir / f"{stem}_{name}.json"
        path.write_text(json.dumps(document, allow_nan=False, indent=1) + "\n")
        paths.append(path)
    return paths
