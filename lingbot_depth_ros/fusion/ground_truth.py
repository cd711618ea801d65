"""Fusion accuracy and completeness against the procedural scene's exact geometry (no rclpy, no Open3D).

* accuracy: distance of every fused point to the nearest true surface, computed analytically from the
  scene layout (room interior faces and box faces): mean and 95th percentile [m];
* completeness: the observed true surface (ground-truth depth of every fused frame, back-projected with
  the exact poses and thinned to one sample per voxel) and the fraction of it within ``2 voxels`` of a
  fused point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import backproject


def distance_to_layout(points: np.ndarray, room_min: np.ndarray, room_max: np.ndarray,
                       box_lo: np.ndarray, box_hi: np.ndarray) -> np.ndarray:
    """(N,) float64 distance [m] of (N, 3) points to the nearest surface of a closed room (the six
    interior faces of ``room_min``..``room_max``) with axis-aligned boxes ``box_lo``/``box_hi`` (B, 3)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    lo, hi = np.asarray(room_min, np.float64), np.asarray(room_max, np.float64)
    # Inside the room: distance to the nearest wall plane; outside: Euclidean distance to the room box.
    inside = np.all((p >= lo) & (p <= hi), axis=1)
    to_wall_inside = np.minimum(p - lo, hi - p).min(axis=1)
    outside_gap = np.maximum(np.maximum(lo - p, p - hi), 0.0)
    dist = np.where(inside, to_wall_inside, np.linalg.norm(outside_gap, axis=1))
    for blo, bhi in zip(np.asarray(box_lo, np.float64).reshape(-1, 3), np.asarray(box_hi, np.float64).reshape(-1, 3)):
        centre, half = (blo + bhi) / 2.0, (bhi - blo) / 2.0
        q = np.abs(p - centre) - half  # box SDF: |sdf| is the distance to the box surface
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside_depth = np.minimum(q.max(axis=1), 0.0)
        dist = np.minimum(dist, np.abs(outside + inside_depth))
    return dist


def observed_surface(depths_m: list[np.ndarray], intrinsics: CameraIntrinsics, poses: list[np.ndarray],
                     voxel_m: float, max_depth_m: float, stride: int = 2) -> np.ndarray:
    """(M, 3) float64 samples of the true surface seen by the frames (ground-truth depth within
    ``max_depth_m``, exact poses T_world_camera), one per ``voxel_m`` cube."""
    chunks = []
    for depth, pose in zip(depths_m, poses):
        d = np.where(np.asarray(depth) <= max_depth_m, depth, 0.0).astype(np.float32)
        cam = backproject(d, intrinsics, stride=stride).reshape(-1, 3).astype(np.float64)
        cam = cam[np.isfinite(cam).all(axis=1) & (cam[:, 2] > 0)]
        chunks.append(cam @ pose[:3, :3].T + pose[:3, 3])
    pts = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    _, first = np.unique(np.floor(pts / voxel_m).astype(np.int64), axis=0, return_index=True)
    return pts[np.sort(first)]


def nearest_distance(queries: np.ndarray, reference: np.ndarray, cell_m: float) -> np.ndarray:
    """(N,) distance [m] from each query to its nearest reference point, exact up to ``cell_m`` (larger
    distances are reported as ``inf``): a hash grid of cell ``cell_m`` searched over the 27 neighbours."""
    q = np.asarray(queries, np.float64).reshape(-1, 3)
    ref = np.asarray(reference, np.float64).reshape(-1, 3)
    best = np.full(len(q), np.inf)
    if len(ref) == 0 or len(q) == 0:
        return best
    ref_cell = np.floor(ref / cell_m).astype(np.int64)
    order = np.lexsort(ref_cell.T[::-1])
    ref_sorted, cells_sorted = ref[order], ref_cell[order]
    keys = _cell_key(cells_sorted)
    q_cell = np.floor(q / cell_m).astype(np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                k = _cell_key(q_cell + np.array([dx, dy, dz]))
                start = np.searchsorted(keys, k, side="left")
                stop = np.searchsorted(keys, k, side="right")
                # Walk the matching runs in lock-step (runs are short: points of one cell).
                span = stop - start
                offset = 0
                while True:
                    active = span > offset
                    if not active.any():
                        break
                    idx = np.nonzero(active)[0]
                    d = np.linalg.norm(ref_sorted[start[idx] + offset] - q[idx], axis=1)
                    best[idx] = np.minimum(best[idx], d)
                    offset += 1
    best[best > cell_m] = np.inf
    return best


def _cell_key(cells: np.ndarray) -> np.ndarray:
    c = cells + (1 << 20)
    return (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]


@dataclass
class FusionScore:
    """accuracy_mean_m, accuracy_p95_m: distance of fused points to the true surfaces [m];
    completeness: fraction of the observed true surface within ``2 * voxel_m`` of a fused point."""

    accuracy_mean_m: float
    accuracy_p95_m: float
    completeness: float
    n_points: int
    n_surface_samples: int
    voxel_m: float

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy_mean_m": round(self.accuracy_mean_m, 5), "accuracy_p95_m": round(self.accuracy_p95_m, 5),
                "accuracy_p95_voxels": round(self.accuracy_p95_m / self.voxel_m, 3),
                "completeness": round(self.completeness, 4), "n_points": self.n_points,
                "n_surface_samples": self.n_surface_samples, "voxel_m": self.voxel_m}


def score_fusion(fused_xyz: np.ndarray, surface_distance: np.ndarray, surface_samples: np.ndarray,
                 voxel_m: float) -> FusionScore:
    """Score fused points given their distance to the true surfaces and the observed true surface."""
    d = np.asarray(surface_distance, np.float64)
    near = nearest_distance(surface_samples, fused_xyz, 2.0 * voxel_m)
    return FusionScore(accuracy_mean_m=float(d.mean()) if d.size else float("nan"),
                       accuracy_p95_m=float(np.percentile(d, 95)) if d.size else float("nan"),
                       completeness=float(np.isfinite(near).mean()) if near.size else 0.0,
                       n_points=int(len(fused_xyz)), n_surface_samples=int(len(surface_samples)), voxel_m=voxel_m)


__all__ = ["FusionScore", "distance_to_layout", "nearest_distance", "observed_surface", "score_fusion"]
