"""Extent of a planar region: oriented bounding rectangle, area, and the largest free square (no ROS).

The region's points are projected onto its plane and rotated into the axes of their minimum-area
rectangle (OpenCV ``minAreaRect``). A raster of ``cell`` [m] in those axes marks the cells holding region
points (closed by ``gap_cells`` to bridge the sample spacing): their count x cell^2 is the area unless the
caller knows it from the samples' footprints. Cells under a
point that lies above the plane (beyond the inlier distance, up to ``clearance_m``) are blocked, together
with their 8 neighbours. The largest free square is the largest square of region cells free of blocked
cells, axis-aligned with the rectangle (chessboard distance transform: found to within one cell).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lingbot_depth_ros.surfaces.planes import plane_basis

MAX_CELLS_PER_SIDE = 600


@dataclass(frozen=True)
class Extent:
    """``center`` (3,) [m]; ``axes`` (2, 3) unit vectors (length axis first); ``size_m`` (length, width) [m];
    ``corners`` (4, 3) [m]; ``area_m2``; free square: side [m] (0 when none) and centre (3,) [m] or None."""

    center: np.ndarray
    axes: np.ndarray
    size_m: tuple[float, float]
    corners: np.ndarray
    area_m2: float
    free_side_m: float
    free_center: np.ndarray | None


def describe_extent(region: np.ndarray, normal: np.ndarray, offset: float, others: np.ndarray,
                    others_threshold_m: np.ndarray, cell_m: float, clearance_m: float, gap_cells: int = 1,
                    area_m2: float | None = None) -> Extent:
    """Rectangle, area and free square of one plane.

    Args:
        region: (N, 3) points of the region [m]; normal/offset: its plane (normal points to the free side).
        others: (M, 3) every analysed point [m] (candidates for obstacles above the plane);
        others_threshold_m: (M,) inlier distance of each [m]; cell_m: raster cell [m];
        clearance_m: free height needed above the plane [m]; gap_cells: gaps between region points up to
        this many cells are closed (sample spacing / cell); area_m2: the area when known from the samples'
        footprints (else the closed raster's).
    """
    e1, e2 = plane_basis(normal)
    origin = region.mean(axis=0)
    origin = origin - (origin @ normal + offset) * normal
    uv = np.stack([(region - origin) @ e1, (region - origin) @ e2], axis=1)
    (_, _), (_, _), angle_deg = cv2.minAreaRect(uv.astype(np.float32))
    a = np.radians(angle_deg)
    axis_u = np.cos(a) * e1 + np.sin(a) * e2
    axis_v = np.cross(normal, axis_u)
    st = np.stack([(region - origin) @ axis_u, (region - origin) @ axis_v], axis=1)
    lo, hi = st.min(axis=0), st.max(axis=0)
    if hi[1] - lo[1] > hi[0] - lo[0]:  # length axis first
        axis_u, axis_v = axis_v, -axis_u
        st = np.stack([(region - origin) @ axis_u, (region - origin) @ axis_v], axis=1)
        lo, hi = st.min(axis=0), st.max(axis=0)
    size = hi - lo
    mid = (lo + hi) / 2
    center = origin + mid[0] * axis_u + mid[1] * axis_v
    half_u, half_v = size[0] / 2 * axis_u, size[1] / 2 * axis_v
    corners = np.stack([center - half_u - half_v, center + half_u - half_v, center + half_u + half_v,
                        center - half_u + half_v])
    cell = max(cell_m, float(size.max()) / MAX_CELLS_PER_SIDE)
    shape = (int(np.floor(size[1] / cell)) + 1, int(np.floor(size[0] / cell)) + 1)  # rows = v, cols = u

    def raster(points_st: np.ndarray) -> np.ndarray:
        grid = np.zeros(shape, np.uint8)
        ij = np.floor((points_st - lo) / cell).astype(np.int64)
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < shape[1]) & (ij[:, 1] >= 0) & (ij[:, 1] < shape[0])
        grid[ij[inside, 1], ij[inside, 0]] = 1
        return grid

    occupied = raster(st)
    gap = max(1, int(gap_cells))
    closing = np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)
    padded: np.ndarray = cv2.morphologyEx(np.pad(occupied, gap + 1), cv2.MORPH_CLOSE, closing)
    occupied = padded[gap + 1:-gap - 1, gap + 1:-gap - 1]
    area = float(occupied.sum()) * cell * cell if area_m2 is None else float(area_m2)
    kernel = np.ones((3, 3), np.uint8)
    height = others @ normal + offset
    above = (height > others_threshold_m) & (height <= clearance_m)
    rel = others[above] - origin
    blocked = cv2.dilate(raster(np.stack([rel @ axis_u, rel @ axis_v], axis=1)), kernel)
    free = np.pad((occupied & (1 - blocked)).astype(np.uint8), 1)
    dist = cv2.distanceTransform(free, cv2.DIST_C, 3)
    best = float(dist.max())
    if best < 1:
        return Extent(center, np.stack([axis_u, axis_v]), (float(size[0]), float(size[1])), corners, area, 0.0, None)
    r, c = np.unravel_index(int(dist.argmax()), dist.shape)
    su = lo[0] + (c - 1 + 0.5) * cell
    sv = lo[1] + (r - 1 + 0.5) * cell
    free_center = origin + su * axis_u + sv * axis_v
    return Extent(center, np.stack([axis_u, axis_v]), (float(size[0]), float(size[1])), corners, area,
                  (2 * best - 1) * cell, free_center)
