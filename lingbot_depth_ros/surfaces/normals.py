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


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the six distinct entries of a 3x3 outer product


def _window_moments(xyz: np.ndarray, windows: tuple[int, ...], max_jump_rel: float
                    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each odd window side in ``windows``, per grid cell: the count (h, w), the sum (h, w, 3) and the sum
    of outer products (h, w, 3, 3) of the window's points relative to the centre point, counting only cells
    whose range is within ``max_jump_rel`` x the centre's range. One pass over the largest window; float32
    sums of centred coordinates (a window spans centimetres to a metre, far within float32's precision)."""
    h, w = xyz.shape[:2]
    r = max(windows) // 2
    valid = np.isfinite(xyz).all(axis=2)
    p = np.pad(np.where(valid[..., None], xyz, np.nan).astype(np.float32), ((r, r), (r, r), (0, 0)),
               constant_values=np.nan)
    rng = np.linalg.norm(p, axis=2)
    centre = p[r:r + h, r:r + w]
    centre_rng = rng[r:r + h, r:r + w]
    limit = max_jump_rel * centre_rng
    acc = [(np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32), np.zeros((h, w, 6), np.float32))
           for _ in windows]
    outer = np.empty((h, w, 6), np.float32)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            inside = [i for i, win in enumerate(windows) if max(abs(dy - r), abs(dx - r)) <= win // 2]
            if not inside:
                continue
            with np.errstate(invalid="ignore"):
                use = np.abs(rng[dy:dy + h, dx:dx + w] - centre_rng) <= limit
            q = np.where(use[..., None], p[dy:dy + h, dx:dx + w] - centre, np.float32(0.0))
            for k, (a, b) in enumerate(_PAIRS):
                np.multiply(q[..., a], q[..., b], out=outer[..., k])
            for i in inside:
                count, sums, second = acc[i]
                count += use
                sums += q
                second += outer
    out = []
    for count, sums, second in acc:
        full = np.empty((h, w, 3, 3))
        for k, (a, b) in enumerate(_PAIRS):
            full[..., a, b] = full[..., b, a] = second[..., k]
        out.append((count.astype(np.float64), sums.astype(np.float64), full))
    return out


def _normals_from(valid: np.ndarray, count: np.ndarray, sums: np.ndarray, second: np.ndarray, window: int,
                  min_fill: float, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normals (h, w, 3) and variation (h, w) of the cells with enough of the window valid (and ``where``)."""
    h, w = valid.shape
    ok = valid & (count >= min_fill * window * window)
    if where is not None:
        ok &= where
    normals = np.full((h, w, 3), np.nan)
    variation = np.ones((h, w))
    if ok.any():
        n, var = _pca(count[ok], sums[ok], second[ok])
        normals[ok] = n
        variation[ok] = var
    return normals, variation


def grid_normals(xyz: np.ndarray, window: int, min_fill: float = 0.6, max_jump_rel: float = 0.1,
                 coarse_window: int = 0, flat_variation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware normals of an organized grid: a window cell counts only when its range differs from the
    centre's by at most ``max_jump_rel`` x the centre's range, so windows across a depth discontinuity
    (a table edge in front of a wall) do not blend the two surfaces.

    Two scales when ``coarse_window`` > ``window``: where the coarse window's points are flat (surface variation
    below ``flat_variation``) its normal and variation replace the fine window's. Noisy depth (a Kinect's
    quantised disparity) then gets the normals of a wide window on wide flat surfaces, while at the edges of
    small surfaces, where the coarse window spans two faces and is not flat, the fine window keeps them apart.

    Args:
        xyz: (h, w, 3) float points [m], NaN where invalid (as from ``geometry.pointcloud.backproject``).
        window: odd side of the square neighbourhood [grid cells].
        min_fill: fraction of the window that must be valid and within the jump.
        max_jump_rel: relative range jump that separates surfaces.
        coarse_window: odd side of the coarse neighbourhood [grid cells]; <= ``window``: one scale.
        flat_variation: surface variation under which the coarse window counts as flat.

    Returns:
        normals (h, w, 3) float64 (unit, sign arbitrary; NaN where unknown) and variation (h, w) float64
        (1.0 where unknown).
    """
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise InputError(f"xyz must be (h, w, 3), got {xyz.shape}")
    valid = np.isfinite(xyz).all(axis=2)
    if coarse_window <= window:
        return _normals_from(valid, *_window_moments(xyz, (window,), max_jump_rel)[0], window, min_fill)
    fine, coarse = _window_moments(xyz, (window, coarse_window), max_jump_rel)
    normals, variation = _normals_from(valid, *coarse, coarse_window, min_fill)
    flat = variation < flat_variation
    fine_normals, fine_variation = _normals_from(valid, *fine, window, min_fill, where=~flat)
    normals[~flat] = fine_normals[~flat]
    variation[~flat] = fine_variation[~flat]
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
