"""Procedural textures and Lambert shading for the ray-cast scene (so RGB edges follow geometry).

Floor: checkerboard tiles with grout lines; walls: panels with a dark skirting board; ceiling:
plain; boxes: their own colour with a dark band along every edge. Faces of one box get different
brightness from the directional light, so depth discontinuities show up as colour edges too.
"""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.synthetic.raycast import CEILING, FIRST_BOX_ID, FLOOR, RayHits

# Direction towards the light (world frame, unit length): from above, slightly ahead and left.
_LIGHT_DIR = np.array([0.35, 0.45, 1.0], dtype=np.float32) / np.float32(np.linalg.norm([0.35, 0.45, 1.0]))

FLOOR_TILE_M = 0.5
WALL_PANEL_M = 1.2
SKIRTING_M = 0.12
BOX_EDGE_BAND_M = 0.035


def shade(hits: RayHits, points: np.ndarray, surface_colors: np.ndarray, box_lo: np.ndarray,
          box_hi: np.ndarray) -> np.ndarray:
    """Colour N ray hits.

    Args:
        hits: the ray hits (surface ids, face axis and sign, ``t``).
        points: (3, N) float32 hit points [m], world frame, one row per axis.
        surface_colors: (S, 3) float32 base RGB in 0..1 per surface id.
        box_lo, box_hi: (B, 3) float32 obstacle box corners [m] (B may be 0).

    Returns:
        (N, 3) float32 linear RGB in 0..1.
    """
    n = points.shape[1]
    pattern = np.ones(n, dtype=np.float32)

    floor = np.flatnonzero(hits.surface == FLOOR)
    if floor.size:
        u = points[0, floor] * np.float32(1.0 / FLOOR_TILE_M)
        v = points[1, floor] * np.float32(1.0 / FLOOR_TILE_M)
        tile = (np.floor(u) + np.floor(v)) % 2
        grout = (np.abs(u - np.round(u)) < 0.03) | (np.abs(v - np.round(v)) < 0.03)
        pattern[floor] = np.where(grout, np.float32(0.45), np.where(tile > 0, np.float32(1.0), np.float32(0.72)))

    walls = np.flatnonzero((hits.surface < FIRST_BOX_ID) & (hits.surface > CEILING))
    if walls.size:
        # Horizontal coordinate along the wall: y for walls facing x, x for walls facing y.
        along = np.where(hits.axis[walls] == 0, points[1, walls], points[0, walls]) * np.float32(1.0 / WALL_PANEL_M)
        panel_line = np.abs(along - np.round(along)) < 0.012
        skirting = points[2, walls] < SKIRTING_M
        pattern[walls] = np.where(skirting, np.float32(0.35), np.where(panel_line, np.float32(0.6), np.float32(1.0)))

    boxes = np.flatnonzero(hits.surface >= FIRST_BOX_ID)
    if box_lo.shape[0] and boxes.size:
        k = hits.surface[boxes].astype(np.int64) - FIRST_BOX_ID
        axis = hits.axis[boxes].astype(np.int64)
        p = points[:, boxes]
        # Distance to the nearest face edge within the hit face: over the two in-plane axes.
        dist = np.minimum(p - box_lo[k].T, box_hi[k].T - p)  # (3, M)
        dist[axis, np.arange(boxes.size)] = np.inf
        pattern[boxes] = np.where(dist.min(axis=0) < BOX_EDGE_BAND_M, np.float32(0.4), np.float32(1.0))

    light_table = np.clip(np.concatenate([-_LIGHT_DIR, _LIGHT_DIR]), 0.0, 1.0)  # index: (sign > 0) * 3 + axis
    normal_dot_light = light_table[(hits.sign > 0).astype(np.int64) * 3 + hits.axis]
    intensity = pattern * (np.float32(0.38) + np.float32(0.62) * normal_dot_light) / (1.0 + np.float32(0.03) * hits.t)
    return np.take(surface_colors, hits.surface.astype(np.intp), axis=0) * intensity[:, None]
