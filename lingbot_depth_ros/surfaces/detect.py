"""Planar surfaces of a depth frame or of a point cloud, in a gravity-aligned frame (z up). No ROS.

Entry points:

- :func:`find_surfaces_in_depth` (depth image + intrinsics + ``base_T_optical``, the camera pose in a z-up
  frame such as ``base_link``, from TF or from ``camera_pose_from_mounting``);
- :func:`find_surfaces_in_cloud` (an (N, 3) cloud already in a z-up frame such as ``map``, e.g. the fused map).

Both return a :class:`SurfaceReport`; :mod:`lingbot_depth_ros.surfaces.surface_report` turns it into JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.surfaces.config import SurfaceConfig
from lingbot_depth_ros.surfaces.extent import Extent, describe_extent
from lingbot_depth_ros.surfaces.graph import grid_edges
from lingbot_depth_ros.surfaces.merge import merge_coplanar
from lingbot_depth_ros.surfaces.normals import grid_normals, voxel_cloud
from lingbot_depth_ros.surfaces.orient import Occupancy, facing_sign
from lingbot_depth_ros.surfaces.planes import MAX_VARIATION, PlaneFit, segment_planes
from lingbot_depth_ros.surfaces.sampling import block_backproject

UP = np.array([0.0, 0.0, 1.0])
MAX_JUMP_REL = 0.1  # relative range jump between neighbouring samples that separates surfaces
SHAPE_RINGS = 2  # links beyond a candidate's inliers over which its height-field curvature is fitted
KINDS = ("floor", "horizontal", "vertical", "tilted")


@dataclass(frozen=True)
class Surface:
    """One planar surface (frame of the analysis, z up). Plane: ``normal . p + offset_m = 0``; the unit
    normal points to the free side: n . (camera_centre - p) > 0 for the camera(s) that saw it (up for clouds
    without viewpoints)."""

    normal: np.ndarray
    offset_m: float
    centroid: np.ndarray
    extent: Extent
    tilt_deg: float
    horizontal: bool
    kind: str
    height_m: float | None
    n_points: int
    rms_m: float
    curvature_per_m: float


@dataclass(frozen=True)
class SurfaceReport:
    """Surfaces, largest first. ``floor_z_m``: floor height used for ``height_m`` (None = unknown);
    ``floor_source``: ``given`` | ``estimated`` (lowest horizontal surface) | ``none``."""

    surfaces: list[Surface]
    floor_z_m: float | None
    floor_source: str
    n_points: int


def _orient(fit: PlaneFit, points: np.ndarray, cameras: np.ndarray | None,
            occupancy: Occupancy | None) -> tuple[np.ndarray, float]:
    """The fit's normal and offset, the normal towards the cameras (M, 3) that saw it (:mod:`.orient`), or up
    when ``cameras`` is None."""
    normal, offset = fit.normal, fit.offset
    if cameras is not None:
        flip = facing_sign(normal, offset, points[fit.indices], cameras, occupancy) < 0
    else:
        flip = normal[2] < 0
    return (-normal, -offset) if flip else (normal, offset)


def _tilt_deg(normal: np.ndarray) -> float:
    """Angle [deg] between a plane's normal (either sign) and the vertical."""
    return math.degrees(math.acos(min(1.0, abs(float(normal @ UP)))))


def _kind(tilt_deg: float, height_m: float | None, inlier_distance_m: float, config: SurfaceConfig) -> str:
    """``floor`` (horizontal, within ``floor_tolerance_m`` + its inlier distance [m] of the floor: the depth noise
    at its range), ``horizontal``, ``vertical``, ``tilted``."""
    if tilt_deg <= config.max_tilt_deg:
        tolerance = config.floor_tolerance_m + inlier_distance_m
        return "floor" if height_m is not None and abs(height_m) <= tolerance else "horizontal"
    return "vertical" if tilt_deg >= 90.0 - config.max_tilt_deg else "tilted"


def _build(fits: list[PlaneFit], points: np.ndarray, threshold_m: np.ndarray, spacing_m: np.ndarray | None,
           config: SurfaceConfig, cameras: np.ndarray | None, floor_z_m: float | None,
           cell_m: float = 0.0) -> SurfaceReport:
    """Surfaces from plane fits. ``spacing_m``: (N, 2) short and long side of each sample's footprint [m]
    (depth frames: raster cell = median short side, gaps closed up to the long side, area = sum of the
    footprints); None = voxels of ``cell_m`` (raster area). ``cameras``: (M, 3) centres of the cameras that saw
    the points [m] (normals point towards them), None = normals point up."""
    tilt_limit = config.max_tilt_deg
    floor_source = "given" if floor_z_m is not None else "none"
    if floor_z_m is None:
        horizontal_z = [float(points[f.indices, 2].mean()) for f in fits if _tilt_deg(f.normal) <= tilt_limit]
        if horizontal_z:
            floor_z_m, floor_source = min(horizontal_z), "estimated"

    def kind_of(fit: PlaneFit) -> str:
        height = None if floor_z_m is None else float(points[fit.indices, 2].mean() - floor_z_m)
        return _kind(_tilt_deg(fit.normal), height, float(np.median(threshold_m[fit.indices])), config)

    fits = merge_coplanar(fits, points, config, kind_of)  # one plane split by what stands on it = one surface
    fits = sorted(fits, key=lambda f: -f.area_m2)[: config.max_surfaces]
    occupancy = Occupancy(points, cell_m) if cameras is not None and len(cameras) > 1 and cell_m > 0 else None
    oriented = [_orient(f, points, cameras, occupancy) for f in fits]
    tilts = [_tilt_deg(n) for n, _ in oriented]
    centroids = [points[f.indices].mean(axis=0) for f in fits]
    surfaces: list[Surface] = []
    for fit, (normal, offset), tilt, centroid in zip(fits, oriented, tilts, centroids):
        if spacing_m is None:
            cell, gap, area = max(cell_m, config.cell_m), 1, None
        else:
            short, long = np.median(spacing_m[fit.indices], axis=0)
            cell = max(float(short), config.cell_m)
            gap, area = int(np.ceil(long / cell)), fit.area_m2
        extent = describe_extent(points[fit.indices], normal, offset, points, threshold_m, cell,
                                 config.clearance_m, gap, area)
        horizontal = tilt <= tilt_limit
        height = None if floor_z_m is None else float(centroid[2] - floor_z_m)
        kind = _kind(tilt, height, float(np.median(threshold_m[fit.indices])), config)
        surfaces.append(Surface(normal, offset, centroid, extent, tilt, horizontal, kind, height, len(fit.indices),
                                fit.rms_m, fit.curvature_per_m))
    return SurfaceReport(surfaces, floor_z_m, floor_source, len(points))


def find_surfaces_in_depth(depth_m: np.ndarray, intrinsics: CameraIntrinsics, base_T_optical: RigidTransform,
                           config: SurfaceConfig | None = None, *, stride: int = 2,
                           floor_z_m: float | None = 0.0) -> SurfaceReport:
    """Planar surfaces seen in one depth image.

    Args:
        depth_m: (H, W) depth along the optical axis [m]; NaN/<=0 invalid.
        intrinsics: of ``depth_m``.
        base_T_optical: camera optical frame -> a z-up frame (``base_link``; gravity = -z). Every output
            coordinate is in that frame.
        config: thresholds (defaults: :class:`SurfaceConfig`).
        stride: pixel decimation (2 = one sample per 2x2 block: its first valid pixel).
        floor_z_m: floor height in that frame [m] (0 for ``base_footprint``); None = the lowest horizontal
            surface is the floor.
    """
    config = config or SurfaceConfig()
    xyz = block_backproject(depth_m, intrinsics, stride)
    rng_m = np.linalg.norm(xyz, axis=2)
    xyz[~(rng_m <= config.max_range_m)] = np.nan
    normals_opt, variation = grid_normals(xyz, config.normal_window, max_jump_rel=MAX_JUMP_REL,
                                          coarse_window=config.coarse_normal_window,
                                          flat_variation=MAX_VARIATION)
    h, w = xyz.shape[:2]
    valid = np.isfinite(xyz).all(axis=2).ravel()
    rot, trans = base_T_optical.rotation, base_T_optical.translation
    points = xyz.reshape(-1, 3) @ rot.T + trans
    normals = normals_opt.reshape(-1, 3) @ rot.T
    rays = xyz.reshape(-1, 3) / np.maximum(rng_m.reshape(-1, 1), 1e-9)
    cos_inc = np.clip(np.nan_to_num(np.abs(np.einsum("ij,ij->i", normals_opt.reshape(-1, 3), rays)), nan=1.0),
                      0.05, 1.0)
    z = xyz[..., 2].ravel()
    # footprint of a sample on a surface facing the ray: solid angle (stride/f)^2 cos(off-axis angle)^3 x range^2
    side = z * stride / math.sqrt(intrinsics.fx * intrinsics.fy) * np.sqrt(z / np.maximum(rng_m.ravel(), 1e-9))
    area = side * side / cos_inc
    spacing = np.stack([side, side / cos_inc], axis=1)
    threshold = config.distance_threshold_m + config.distance_threshold_rel * rng_m.ravel()
    edges = grid_edges((h, w))
    edges = edges[valid[edges[:, 0]] & valid[edges[:, 1]]]
    ra, rb = rng_m.ravel()[edges[:, 0]], rng_m.ravel()[edges[:, 1]]
    edges = edges[np.abs(ra - rb) <= MAX_JUMP_REL * np.minimum(ra, rb)]  # no link across depth discontinuities
    index = np.nonzero(valid)[0]
    local = np.full(h * w, -1, np.int64)
    local[index] = np.arange(len(index))
    fits = segment_planes(points[index], normals[index], variation.ravel()[index], local[edges],
                          threshold[index], np.nan_to_num(area[index]), config,
                          grow_rings=config.normal_window // 2 + 1,
                          samples_per_normal=max(config.normal_window, config.coarse_normal_window) ** 2,
                          shape_rings=SHAPE_RINGS,
                          footprint=((rays @ rot.T)[index], np.nan_to_num(side[index])))
    return _build(fits, points[index], threshold[index], spacing[index], config, trans.reshape(1, 3).copy(),
                  floor_z_m)


def find_surfaces_in_cloud(points: np.ndarray, config: SurfaceConfig | None = None, *, voxel_m: float = 0.03,
                           floor_z_m: float | None = None, viewpoint: np.ndarray | None = None) -> SurfaceReport:
    """Planar surfaces of a point cloud (e.g. the fused map), voxel-downsampled to ``voxel_m`` [m].

    Args:
        points: (N, 3) [m] in a z-up frame (``map``, ``odom``, ``base_link``; gravity = -z); non-finite rows
            are ignored.
        config: thresholds (``max_range_m`` and the normal windows do not apply; the neighbourhood is 3x3x3
            voxels).
        voxel_m: voxel side [m]; also the raster cell when larger than ``config.cell_m``.
        floor_z_m: floor height [m]; None = the lowest horizontal surface.
        viewpoint: (3,) or (M, 3) centres of the cameras that saw the cloud [m] (e.g. the poses the fused map
            was integrated at): each normal points towards the cameras with a clear line of sight to its plane
            (:mod:`lingbot_depth_ros.surfaces.orient`); None = normals point up (their z >= 0; the sign of a
            vertical plane's normal is then arbitrary).
    """
    config = config or SurfaceConfig()
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got {pts.shape}")
    centroids, normals, variation, edges = voxel_cloud(pts, voxel_m)
    dominant = np.nan_to_num(np.abs(normals).max(axis=1), nan=1.0)
    area = voxel_m * voxel_m / np.maximum(dominant, 0.5)
    threshold = np.full(len(centroids), config.distance_threshold_m + 0.5 * voxel_m)
    fits = segment_planes(centroids, normals, variation, edges, threshold, area, config, shape_rings=SHAPE_RINGS)
    view = None
    if viewpoint is not None:
        view = np.asarray(viewpoint, dtype=np.float64)
        if view.ndim not in (1, 2) or view.shape[-1] != 3 or view.size == 0 or not np.isfinite(view).all():
            raise InputError(f"viewpoint must be finite (3,) or (M, 3) camera centres [m], got shape {view.shape}")
        view = view.reshape(-1, 3)
    return _build(fits, centroids, threshold, None, config, view, floor_z_m, voxel_m)
