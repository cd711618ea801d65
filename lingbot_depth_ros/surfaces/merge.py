"""Merging of coplanar plane fits into one surface (no ROS).

Region growing stops where a surface is hidden (a box standing on the floor splits the floor seen behind and
beside it into patches that touch nowhere), so one physical plane can come out as several fits. Fits are
merged when their normals agree within ``normal_angle_deg / 2`` (sign ignored), each one's centroid lies
within the other's inlier distance of its plane, and they are of the same kind (the caller's ``kind_of``).
The merged fit is the union of the points, refitted; its area is the sum of the parts'.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lingbot_depth_ros.surfaces.config import SurfaceConfig
from lingbot_depth_ros.surfaces.graph import connected_components
from lingbot_depth_ros.surfaces.planes import PlaneFit, fit_plane, in_plane_support_m


def _coplanar(a: PlaneFit, b: PlaneFit, ca: np.ndarray, cb: np.ndarray, cos_limit: float) -> bool:
    if abs(float(a.normal @ b.normal)) < cos_limit:
        return False
    return (abs(float(a.normal @ cb) + a.offset) <= max(a.inlier_distance_m, b.inlier_distance_m)
            and abs(float(b.normal @ ca) + b.offset) <= max(a.inlier_distance_m, b.inlier_distance_m))


def merge_coplanar(fits: list[PlaneFit], points: np.ndarray, config: SurfaceConfig,
                   kind_of: Callable[[PlaneFit], str]) -> list[PlaneFit]:
    """Fits with coplanar ones merged (module docstring); order: as given, merged fits at their first part.

    Args:
        fits: plane fits with ``indices`` into ``points``; points: (N, 3) [m].
        config: ``normal_angle_deg`` sets the normal agreement (half of it).
        kind_of: a fit's kind (``floor``/``horizontal``/``vertical``/``tilted``); only equal kinds merge.
    """
    if len(fits) < 2:
        return list(fits)
    cos_limit = math.cos(math.radians(config.normal_angle_deg / 2))
    centroids = [points[f.indices].mean(axis=0) for f in fits]
    kinds = [kind_of(f) for f in fits]
    pairs = [(i, j) for i in range(len(fits)) for j in range(i + 1, len(fits))
             if kinds[i] == kinds[j] and _coplanar(fits[i], fits[j], centroids[i], centroids[j], cos_limit)]
    if not pairs:
        return list(fits)
    labels = connected_components(len(fits), np.array(pairs, dtype=np.int64))
    merged: list[PlaneFit] = []
    for label in dict.fromkeys(labels.tolist()):
        group = [fits[i] for i in np.nonzero(labels == label)[0]]
        if len(group) == 1:
            merged.append(group[0])
            continue
        indices = np.unique(np.concatenate([f.indices for f in group]))
        normal, offset, rms = fit_plane(points[indices])
        if normal @ group[0].normal < 0:
            normal, offset = -normal, -offset
        n_all = sum(len(f.indices) for f in group)
        spread = sum(f.normal_spread_deg * len(f.indices) for f in group) / n_all
        merged.append(PlaneFit(indices, normal, offset, rms, max(f.curvature_per_m for f in group),
                               sum(f.area_m2 for f in group), spread, in_plane_support_m(points[indices], normal),
                               max(f.inlier_distance_m for f in group)))
    return merged
