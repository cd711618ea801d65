"""Which side of a plane its normal points to: towards the cameras that saw it (no ROS).

A plane fit's normal has an arbitrary sign. A surface is seen from its free side, so the reported normal n
satisfies n . (camera_centre - p) > 0 for the camera that saw it. One depth frame has one camera, which saw
every point of it. A fused map is seen from many camera centres, and some lie behind a plane without having
seen it (the far side of a box the robot drove round): for each side of the plane, the
:data:`CAMERAS_PER_SIDE` cameras nearest to it are checked for a clear line of sight, through the cloud's
occupied voxels, to :data:`SIGHT_POINTS` points of the plane's inner half (nearest its centroid: sight lines
to its rim graze the neighbouring faces); voxels within a voxel of the plane itself do not block (a camera
looks along a plane at a grazing angle). The side with the larger fraction of clear sight lines wins (all
cameras on one side: that side; a tie, e.g. no clear line at all: the nearest camera's side).
"""

from __future__ import annotations

import numpy as np

CAMERAS_PER_SIDE = 8
SIGHT_POINTS = 8


class Occupancy:
    """The occupied voxels of a cloud: (M, 3) voxel centroids [m] on a ``voxel_m`` grid."""

    def __init__(self, centroids: np.ndarray, voxel_m: float) -> None:
        self.voxel_m = float(voxel_m)
        self.keys = np.unique(self._key(np.floor(np.asarray(centroids) / self.voxel_m + 0.5)))

    @staticmethod
    def _key(cells: np.ndarray) -> np.ndarray:
        c = cells.astype(np.int64) + (1 << 20)
        return (c[..., 0] << 42) | (c[..., 1] << 21) | c[..., 2]

    def occupied(self, points: np.ndarray) -> np.ndarray:
        """(...,) bool: whether each point of (..., 3) ``points`` [m] lies in an occupied voxel."""
        keys = self._key(np.floor(points / self.voxel_m + 0.5))
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        return self.keys[pos] == keys if len(self.keys) else np.zeros(keys.shape, bool)

    def clear(self, starts: np.ndarray, ends: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
        """(K,) bool: no occupied voxel on the segments (K, 3) ``starts`` -> ``ends`` [m] (sampled every half
        voxel) farther than one voxel from the plane ``normal . p + offset = 0`` that the ends lie on."""
        span = ends - starts
        length = np.linalg.norm(span, axis=1)
        steps = int(np.ceil(length.max(initial=0.0) / (0.5 * self.voxel_m))) + 1
        t = np.linspace(0.0, 1.0, steps)[None, :] * length[:, None]  # (K, S) distance from the start [m]
        samples = starts[:, None, :] + t[..., None] * (span / np.maximum(length, 1e-9)[:, None])[:, None, :]
        blocked = self.occupied(samples) & (np.abs(samples @ normal + offset) > self.voxel_m)
        return ~blocked.any(axis=1)


def facing_sign(normal: np.ndarray, offset: float, points: np.ndarray, cameras: np.ndarray,
                occupancy: Occupancy | None) -> float:
    """+1 when ``normal`` (plane ``normal . p + offset = 0``) points to the side of the cameras that saw the
    plane's (N, 3) ``points``, else -1 (module docstring). ``cameras``: (M, 3) camera centres [m], M >= 1;
    ``occupancy``: the cloud's voxels (None: no line-of-sight test, the nearest camera decides a split)."""
    side = cameras @ normal + offset  # signed distance of each camera [m]
    if (side > 0).all() or (side < 0).all():
        return 1.0 if side[0] > 0 else -1.0
    centroid = points.mean(axis=0)
    distance = np.linalg.norm(cameras - centroid, axis=1)
    nearest = 1.0 if side[int(np.argmin(distance))] > 0 else -1.0
    if occupancy is None:
        return nearest
    inner = np.argsort(np.linalg.norm(points - centroid, axis=1))[: max(len(points) // 2, 1)]
    targets = points[np.sort(inner)[np.linspace(0, len(inner) - 1, min(SIGHT_POINTS, len(inner))).astype(np.int64)]]
    clear_fraction = {}
    for sign in (1.0, -1.0):
        ids = np.nonzero(side * sign > 0)[0]
        ids = ids[np.argsort(distance[ids])[:CAMERAS_PER_SIDE]]
        starts = np.repeat(cameras[ids], len(targets), axis=0)
        ends = np.tile(targets, (len(ids), 1))
        clear_fraction[sign] = float(occupancy.clear(starts, ends, normal, offset).mean())
    if clear_fraction[1.0] == clear_fraction[-1.0]:
        return nearest
    return 1.0 if clear_fraction[1.0] > clear_fraction[-1.0] else -1.0
