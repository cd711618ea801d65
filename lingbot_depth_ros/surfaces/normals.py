"""Local surface normals of organized point grids (depth frames) and of unorganized clouds (voxel grid).

Both return, per point, the unit normal of the least-squares plane through its neighbourhood (eigenvector
of the smallest eigenvalue of the neighbourhood covariance) and the *surface variation*
lambda_0 / (lambda_0 + lambda_1 + lambda_2): ~0 on a plane, large at edges and corners. No ROS.
"""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.errors import InputError

_KEY_BITS = 21
_KEY_OFFSET = 1 << (_KEY_BITS - 1)


def _pca(count: np.ndarray, sums: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normals (N, 3) and surface variation (N,) from neighbourhood counts (N,), sums (N, 3) and sums of
    outer products (N, 3, 3)."""
    mean = sums / count[:, None]
    cov = second / count[:, None, None] - mean[:, :, None] * mean[:, None, :]
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 0.0)
    total = values.sum(axis=1)
    variation = np.where(total > 0, values[:, 0] / np.where(total > 0, total, 1.0), 1.0)
    return vectors[:, :, 0], variation


def grid_normals(xyz: np.ndarray, window: int, min_fill: float = 0.6,
                 max_jump_rel: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware normals of an organized grid: a window cell counts only when its range differs from the
    centre's by at most ``max_jump_rel`` x the centre's range, so windows across a depth discontinuity
    (a table edge in front of a wall) do not blend the two surfaces.

    Args:
        xyz: (h, w, 3) float points [m], NaN where invalid (as from ``geometry.pointcloud.backproject``).
        window: odd side of the square neighbourhood [grid cells].
        min_fill: fraction of the window that must be valid and within the jump.
        max_jump_rel: relative range jump that separates surfaces.

    Returns:
        normals (h, w, 3) float64 (unit, sign arbitrary; NaN where unknown) and variation (h, w) float64
        (1.0 where unknown).
    """
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise InputError(f"xyz must be (h, w, 3), got {xyz.shape}")
    h, w = xyz.shape[:2]
    r = window // 2
    valid = np.isfinite(xyz).all(axis=2)
    p = np.pad(np.where(valid[..., None], xyz, np.nan).astype(np.float64), ((r, r), (r, r), (0, 0)),
               constant_values=np.nan)
    rng = np.linalg.norm(p, axis=2)
    centre_rng = rng[r:r + h, r:r + w]
    limit = max_jump_rel * centre_rng
    count = np.zeros((h, w))
    sums = np.zeros((h, w, 3))
    second = np.zeros((h, w, 3, 3))
    for dy in range(window):
        for dx in range(window):
            q = p[dy:dy + h, dx:dx + w]
            with np.errstate(invalid="ignore"):
                use = np.abs(rng[dy:dy + h, dx:dx + w] - centre_rng) <= limit
            q = np.where(use[..., None], q, 0.0)
            count += use
            sums += q
            second += q[..., :, None] * q[..., None, :]
    ok = valid & (count >= min_fill * window * window)
    normals = np.full((h, w, 3), np.nan)
    variation = np.ones((h, w))
    if ok.any():
        n, var = _pca(count[ok], sums[ok], second[ok])
        normals[ok] = n
        variation[ok] = var
    return normals, variation


def _encode(keys: np.ndarray) -> np.ndarray:
    k = keys.astype(np.int64) + _KEY_OFFSET
    return (k[..., 0] << (2 * _KEY_BITS)) | (k[..., 1] << _KEY_BITS) | k[..., 2]


def voxel_cloud(points: np.ndarray, voxel_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-downsample ``points`` and compute normals over each voxel's 3x3x3 neighbourhood.

    Args:
        points: (N, 3) float points [m]; rows with a non-finite coordinate are dropped.
        voxel_m: voxel side [m].

    Returns:
        centroids (M, 3) float64 [m], normals (M, 3) (NaN where fewer than 3 neighbouring voxels),
        variation (M,), and edges (E, 2) int64 between 26-neighbouring voxels.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if voxel_m <= 0:
        raise InputError(f"voxel_m must be > 0, got {voxel_m}")
    # voxels centred on multiples of voxel_m: clouds sampled on a grid of the same pitch (TSDF extractions)
    # have their points at voxel centres, not on the borders where rounding would empty whole slices
    grid = np.floor(pts / voxel_m + 0.5).astype(np.int64)
    if grid.size and np.abs(grid).max() >= _KEY_OFFSET - 2:
        raise InputError(f"cloud spans more than {_KEY_OFFSET * voxel_m:g} m from the origin at voxel {voxel_m} m")
    keys, inverse, counts = np.unique(_encode(grid), return_inverse=True, return_counts=True)
    m = len(keys)
    centroids = np.zeros((m, 3))
    for k in range(3):
        centroids[:, k] = np.bincount(inverse, weights=pts[:, k], minlength=m) / counts
    cell = np.floor(centroids / voxel_m + 0.5).astype(np.int64)
    count = np.zeros(m)
    sums = np.zeros((m, 3))
    second = np.zeros((m, 3, 3))
    outer = centroids[:, :, None] * centroids[:, None, :]
    edges: list[np.ndarray] = []
    offsets = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)])
    for off in offsets:
        target = _encode(cell + off)
        pos = np.minimum(np.searchsorted(keys, target), max(m - 1, 0))
        found = keys[pos] == target if m else np.zeros(0, bool)
        src, dst = np.nonzero(found)[0], pos[found]
        count[src] += 1
        sums[src] += centroids[dst]
        second[src] += outer[dst]
        if tuple(off) > (0, 0, 0):
            edges.append(np.stack([src, dst], axis=1))
    normals = np.full((m, 3), np.nan)
    variation = np.ones(m)
    ok = count >= 3
    if ok.any():
        normals[ok], variation[ok] = _pca(count[ok], sums[ok], second[ok])
    edge_array = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
    return centroids, normals, variation, edge_array
