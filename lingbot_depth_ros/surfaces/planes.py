"""Plane segmentation: smooth-normal region growing, then 1-point RANSAC inside each region (no ROS).

1. Points whose local normal is known and whose neighbourhood is flat (surface variation below
   :data:`MAX_VARIATION`) are linked to their grid/voxel neighbours when the two normals agree within
   ``normal_angle_deg / 2`` and each lies within the inlier distance of the other's tangent plane.
2. Each connected region is tested as one plane (least squares); when fewer than :data:`MIN_INLIER_FRACTION`
   of its points are inliers (distance and normal within the thresholds), the best plane is found by
   1-point RANSAC (hypothesis = a point and its own normal), and its largest connected inlier set is taken.
   The rest of the region goes round again (at most :data:`MAX_PLANES_PER_REGION` times).
3. A candidate is kept when it has at least :data:`MIN_POINTS` points, its area is at least ``min_area_m2``
   and its curvature - the largest principal curvature of the normal field fitted over the candidate - is at
   most ``max_curvature_per_m``. So a cylinder or a sphere, whose normals turn steadily, is never reported
   even when a thin strip of it lies within the distance threshold of a plane; for strips too thin to fit a
   curvature, the median angle between the local normals and the plane's must also be at most
   ``normal_angle_deg / 3`` (a plane's normals scatter by the noise only; a curved strip's spread evenly over
   +-normal_angle_deg). The spread test is skipped when the candidate's inliers span more than
   :func:`trusted_support_m` across (in-plane standard deviation, narrowest direction): on a surface bending
   by more than ``max_curvature_per_m``, the points within the inlier distance t of a plane lie on a strip of
   half-width at most sqrt(2 t / curvature), so a wider inlier set proves the curvature bound by itself.
   Large noisy but flat regions (fused TSDF maps, whose 3x3x3 voxel normals scatter by ~5 degrees, a median
   beyond ``normal_angle_deg / 3``) thus pass. For clouds (``shape_rings`` > 0) the curvature is the larger of
   the normal-field one and the height-field one (:func:`quadric_curvature`) over the inliers, their grown
   edge points and ``shape_rings`` smooth-surface links beyond: noisy voxel normals and an inlier strip
   picked by distance both understate a bend, so a noisy cylinder strip came out just under the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.surfaces.config import SurfaceConfig
from lingbot_depth_ros.surfaces.graph import connected_components, largest_component

MAX_VARIATION = 0.03
MIN_INLIER_FRACTION = 0.95
MAX_PLANES_PER_REGION = 8
RANSAC_HYPOTHESES = 48
MAX_MEDIAN_NORMAL_FRACTION = 1 / 3  # flat: median normal deviation <= normal_angle_deg / 3
MIN_POINTS = 30  # fewer points never make a surface (their normals and extent are not reliable)
CURVATURE_BOUND_SIGMAS = 3.0  # standard errors above the fitted curvature in :func:`curvature_upper_bound`


@dataclass(frozen=True)
class PlaneFit:
    """A planar region: ``indices`` into the analysed points; plane ``normal . p + offset = 0`` (unit normal)."""

    indices: np.ndarray
    normal: np.ndarray
    offset: float
    rms_m: float
    curvature_per_m: float
    area_m2: float
    normal_spread_deg: float  # median angle between the local normals and the plane normal
    support_m: float = 0.0  # in-plane standard deviation of the inliers, narrowest direction [m]
    inlier_distance_m: float = 0.0  # largest inlier distance threshold of the inliers [m]
    curvature_bound_per_m: float = math.inf  # :func:`curvature_upper_bound` over the inliers [1/m]


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares plane of (N, 3) points: unit normal, offset (n . p + offset = 0) and RMS distance [m]."""
    centroid = points.mean(axis=0)
    q = points - centroid
    values, vectors = np.linalg.eigh(q.T @ q)
    normal = vectors[:, 0]
    return normal, float(-normal @ centroid), float(math.sqrt(max(values[0], 0.0) / len(points)))


def plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane of ``normal`` (e1 horizontal when the plane is not)."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(helper, normal)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)


def trusted_support_m(inlier_distance_m: float, config: SurfaceConfig) -> float:
    """In-plane standard deviation [m] (narrowest direction) of a plane's inliers above which the surface is
    flatter than ``max_curvature_per_m`` whatever its normals: a surface of that curvature stays within
    ``inlier_distance_m`` of a plane only on a strip of half-width sqrt(2 t / curvature), standard deviation
    that / sqrt(3)."""
    return math.sqrt(2.0 * inlier_distance_m / config.max_curvature_per_m) / math.sqrt(3.0)


def in_plane_support_m(points: np.ndarray, normal: np.ndarray) -> float:
    """Standard deviation [m] of (N, 3) ``points`` within the plane of ``normal``, in its narrowest direction."""
    e1, e2 = plane_basis(normal)
    q = points - points.mean(axis=0)
    uv = np.stack([q @ e1, q @ e2], axis=1)
    return float(math.sqrt(max(float(np.linalg.eigvalsh(uv.T @ uv / len(uv))[0]), 0.0)))


def normal_curvature(points: np.ndarray, normals: np.ndarray, normal: np.ndarray, max_angle_rad: float) -> float:
    """Largest |principal curvature| [1/m] of the normal field over a region: the local normals' tangential
    components are fitted as linear functions of the in-plane position (only normals within
    ``max_angle_rad`` of ``normal``, which leaves out normals blended at the region's edges)."""
    sign = np.sign(normals @ normal)
    local = normals * sign[:, None]
    keep = (local @ normal) > math.cos(max_angle_rad)
    if keep.sum() < 10:
        return 0.0
    e1, e2 = plane_basis(normal)
    q = points[keep] - points[keep].mean(axis=0)
    design = np.stack([q @ e1, q @ e2, np.ones(int(keep.sum()))], axis=1)
    if np.linalg.matrix_rank(design[:, :2] - design[:, :2].mean(axis=0), tol=1e-4) < 1:
        return 0.0
    target = np.stack([local[keep] @ e1, local[keep] @ e2], axis=1)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    jac = coef[:2].T
    return float(np.abs(np.linalg.eigvalsh(0.5 * (jac + jac.T))).max())


def curvature_upper_bound(points: np.ndarray, normals: np.ndarray, normal: np.ndarray,
                          samples_per_normal: int = 1) -> float:
    """Upper confidence bound [1/m] of the largest |principal curvature| of the normal field of a region: the
    local normals' tangential components (all of them, sign-aligned with ``normal``; NaN rows ignored) fitted as
    linear functions of the in-plane position, plus :data:`CURVATURE_BOUND_SIGMAS` standard errors of that slope
    along the region's narrowest direction: residual normal scatter / sqrt(N_eff x in-plane variance), where
    N_eff = N / ``samples_per_normal`` (each local normal is computed from that many neighbouring samples, so
    neighbouring normals share their noise: only about one in ``samples_per_normal`` is independent). Many
    noisy normals over a wide region bound the curvature tightly; a few, or a thin strip, do not (inf when the
    fit is impossible: fewer than 10 normals or a line)."""
    ok = np.isfinite(normals).all(axis=1)
    if ok.sum() < 10:
        return math.inf
    local = normals[ok] * np.where(normals[ok] @ normal < 0, -1.0, 1.0)[:, None]
    e1, e2 = plane_basis(normal)
    q = points[ok] - points[ok].mean(axis=0)
    design = np.stack([q @ e1, q @ e2, np.ones(len(q))], axis=1)
    narrow_var = float(np.linalg.eigvalsh(design[:, :2].T @ design[:, :2] / len(q))[0])
    if narrow_var < 1e-8:
        return math.inf
    target = np.stack([local @ e1, local @ e2], axis=1)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    scatter = math.sqrt(float((residual ** 2).sum()) / max(2 * len(q) - 6, 1))
    jac = coef[:2].T
    curvature = float(np.abs(np.linalg.eigvalsh(0.5 * (jac + jac.T))).max())
    effective = max(len(q) / max(samples_per_normal, 1), 1.0)
    return curvature + CURVATURE_BOUND_SIGMAS * scatter / math.sqrt(effective * narrow_var)


def quadric_curvature(points: np.ndarray, normal: np.ndarray) -> float:
    """Largest |principal curvature| [1/m] of the least-squares height field h = a u^2 + b uv + c v^2 + d u + e v + f
    of (N, 3) ``points`` over the plane of ``normal`` (h along the normal, (u, v) in the plane); 0 when the
    points do not span two directions (fewer than 10 points, or a line)."""
    if len(points) < 10:
        return 0.0
    e1, e2 = plane_basis(normal)
    q = points - points.mean(axis=0)
    u, v, h = q @ e1, q @ e2, q @ normal
    su, sv = float(u.std()), float(v.std())
    if min(su, sv) < 1e-6:
        return 0.0
    un, vn = u / su, v / sv  # normalised for conditioning
    design = np.stack([un * un, un * vn, vn * vn, un, vn, np.ones(len(u))], axis=1)
    coef, _, rank, _ = np.linalg.lstsq(design, h, rcond=None)
    if rank < 6:
        return 0.0
    a, b, c = coef[0] / (su * su), coef[1] / (su * sv), coef[2] / (sv * sv)
    return float(np.abs(np.linalg.eigvalsh(np.array([[2 * a, b], [b, 2 * c]]))).max())


class _Segmenter:
    def __init__(self, points: np.ndarray, normals: np.ndarray, variation: np.ndarray, edges: np.ndarray,
                 threshold_m: np.ndarray, area_m2: np.ndarray, config: SurfaceConfig, seed: int,
                 grow_rings: int, footprint: tuple[np.ndarray, np.ndarray] | None,
                 shape_rings: int = 0, samples_per_normal: int = 1) -> None:
        self.p, self.n, self.thr, self.area = points, normals, threshold_m, area_m2
        self.shape_rings = shape_rings
        self.samples_per_normal = samples_per_normal
        self.footprint = footprint
        self.grow_rings = grow_rings
        self.taken = np.zeros(len(points), dtype=bool)
        self.edges = edges
        self.config = config
        self.cos_angle = math.cos(math.radians(config.normal_angle_deg))
        self.rng = np.random.default_rng(seed)
        self.planar = np.isfinite(normals).all(axis=1) & (variation < MAX_VARIATION)

    def linked_edges(self) -> np.ndarray:
        a, b = self.edges[:, 0], self.edges[:, 1]
        ok = self.planar[a] & self.planar[b]
        a, b = a[ok], b[ok]
        na, nb = self.n[a], self.n[b]
        d = self.p[b] - self.p[a]
        cos_half = math.cos(math.radians(self.config.normal_angle_deg / 2))
        link = ((np.abs(np.einsum("ij,ij->i", na, nb)) > cos_half)
                & (np.abs(np.einsum("ij,ij->i", na, d)) < self.thr[a])
                & (np.abs(np.einsum("ij,ij->i", nb, d)) < self.thr[b]))
        return np.stack([a[link], b[link]], axis=1)

    def inliers(self, nodes: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
        dist = np.abs(self.p[nodes] @ normal + offset)
        return nodes[(dist < self.thr[nodes]) & (np.abs(self.n[nodes] @ normal) > self.cos_angle)]

    def ransac(self, nodes: np.ndarray) -> tuple[np.ndarray, float]:
        seeds = self.rng.choice(nodes, size=min(RANSAC_HYPOTHESES, len(nodes)), replace=False)
        normals = self.n[seeds]
        offsets = -np.einsum("ij,ij->i", normals, self.p[seeds])
        dist = np.abs(self.p[nodes] @ normals.T + offsets[None, :])
        agree = np.abs(self.n[nodes] @ normals.T) > self.cos_angle
        score = ((dist < self.thr[nodes][:, None]) & agree).sum(axis=0)
        best = int(score.argmax())
        return normals[best], float(offsets[best])

    def candidate(self, nodes: np.ndarray, links: np.ndarray) -> PlaneFit | None:
        normal, offset, _ = fit_plane(self.p[nodes])
        inl = self.inliers(nodes, normal, offset)
        if len(inl) < MIN_INLIER_FRACTION * len(nodes):
            normal, offset = self.ransac(nodes)
            inl = self.inliers(nodes, normal, offset)
        for _ in range(2):  # refit on the connected inliers, then take the inliers of the refined plane
            inl = largest_component(inl, links, len(self.p))
            if len(inl) < 3:
                return None
            normal, offset, _ = fit_plane(self.p[inl])
            inl = self.inliers(nodes, normal, offset)
        inl = largest_component(inl, links, len(self.p))
        if len(inl) < 3:
            return None
        normal, offset, rms = fit_plane(self.p[inl])
        support = in_plane_support_m(self.p[inl], normal)
        curvature = normal_curvature(self.p[inl], self.n[inl], normal,
                                     math.radians(self.config.normal_angle_deg / 2))
        grown = self.grow(inl, normal, offset)
        if self.shape_rings:
            shape = np.union1d(self.spread_along(inl, links), grown)
            curvature = max(curvature, quadric_curvature(self.p[shape], normal))
        spread = float(np.degrees(np.median(np.arccos(np.clip(np.abs(self.n[inl] @ normal), 0.0, 1.0)))))
        # grown samples stand for the plane's area unless their own normal says they lie on the next face
        on_plane = ~(np.abs(self.n[grown] @ normal) < math.cos(math.radians(45.0)))  # NaN normal counts
        if self.footprint is not None:  # depth samples: footprint on the fitted plane, exact for a plane
            rays, side = self.footprint
            counted = np.concatenate([inl, grown[on_plane]])
            area = float((side[counted] ** 2 / np.maximum(np.abs(rays[counted] @ normal), 0.05)).sum())
        else:
            area = float(self.area[inl].sum()) + int(on_plane.sum()) * float(np.median(self.area[inl]))
        return PlaneFit(np.concatenate([inl, grown]), normal, offset, rms, curvature, area, spread, support,
                        float(self.thr[inl].max()), curvature_upper_bound(self.p[inl], self.n[inl], normal,
                                                                        self.samples_per_normal))

    def spread_along(self, core: np.ndarray, links: np.ndarray) -> np.ndarray:
        """``core`` and the points up to ``shape_rings`` smooth-surface links (``links``) away from it, whatever
        their distance to the plane: on a curved surface they continue its bend beyond the inlier strip (whose
        selection by distance flattens it); a plane's links end at its edges."""
        inside = np.zeros(len(self.p), dtype=bool)
        inside[core] = True
        a, b = links[:, 0], links[:, 1]
        for _ in range(self.shape_rings):
            reach = np.concatenate([b[inside[a] & ~inside[b]], a[inside[b] & ~inside[a]]])
            if len(reach) == 0:
                break
            inside[reach] = True
        return np.nonzero(inside)[0]

    def grow(self, core: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
        """Points within ``grow_rings`` neighbour steps of ``core`` and within the inlier distance of its plane,
        whatever their local normal: the samples at the region's edges, whose normals blend in the next face."""
        inside = np.zeros(len(self.p), dtype=bool)
        inside[core] = True
        added: list[np.ndarray] = []
        a, b = self.edges[:, 0], self.edges[:, 1]
        for _ in range(self.grow_rings):
            reach = np.concatenate([b[inside[a] & ~inside[b]], a[inside[b] & ~inside[a]]])
            reach = np.unique(reach[~self.taken[reach]])
            reach = reach[np.abs(self.p[reach] @ normal + offset) < self.thr[reach]]
            if len(reach) == 0:
                break
            inside[reach] = True
            added.append(reach)
        return np.concatenate(added) if added else np.zeros(0, np.int64)

    def run(self) -> list[PlaneFit]:
        links = self.linked_edges()
        labels = connected_components(len(self.p), links)
        region_area = np.bincount(labels, weights=np.where(self.planar, self.area, 0.0), minlength=len(self.p))
        regions = [r for r in np.argsort(-region_area) if region_area[r] >= 0.5 * self.config.min_area_m2]
        planes: list[PlaneFit] = []
        for region in regions:
            remaining = np.nonzero((labels == region) & self.planar)[0]
            for _ in range(MAX_PLANES_PER_REGION):
                if self.area[remaining].sum() < self.config.min_area_m2:
                    break
                fit = self.candidate(remaining, links)
                if fit is None:
                    break
                if (len(fit.indices) >= MIN_POINTS and fit.area_m2 >= self.config.min_area_m2
                        and fit.curvature_per_m <= self.config.max_curvature_per_m
                        and (fit.support_m >= trusted_support_m(fit.inlier_distance_m, self.config)
                             or fit.normal_spread_deg <= MAX_MEDIAN_NORMAL_FRACTION * self.config.normal_angle_deg
                             or fit.curvature_bound_per_m <= self.config.max_curvature_per_m)):
                    planes.append(fit)
                    self.taken[fit.indices] = True
                remaining = np.setdiff1d(remaining, fit.indices, assume_unique=True)
        return planes


def segment_planes(points: np.ndarray, normals: np.ndarray, variation: np.ndarray, edges: np.ndarray,
                   threshold_m: np.ndarray, area_m2: np.ndarray, config: SurfaceConfig,
                   seed: int = 0, grow_rings: int = 2,
                   footprint: tuple[np.ndarray, np.ndarray] | None = None,
                   shape_rings: int = 0, samples_per_normal: int = 9) -> list[PlaneFit]:
    """Planar regions of a point set (module docstring).

    Args:
        points: (N, 3) float64 [m]; normals: (N, 3) unit local normals (NaN = unknown); variation: (N,)
        surface variation; edges: (E, 2) neighbour pairs; threshold_m: (N,) inlier distance of each point [m];
        area_m2: (N,) surface area each point stands for [m^2]; seed: RANSAC random seed (deterministic);
        grow_rings: neighbour steps by which an accepted plane takes in the in-distance samples at its edges
        (whose local normals are blended with the next face); footprint: for depth samples, (N, 3) unit
        viewing rays and (N,) footprint side [m] at normal incidence: the area of a plane is then
        sum(side^2 / |normal . ray|) with the fitted normal; shape_rings: when > 0 (clouds), a candidate's
        curvature is also that of the height field (:func:`quadric_curvature`) over its inliers and the points up
        to this many smooth-surface links beyond them; samples_per_normal: how many neighbouring samples each
        local normal is computed from in the surface (depth frames: the window's area; clouds: the 3x3 voxels of
        a plane through a 3x3x3 neighbourhood), for :func:`curvature_upper_bound`.
    """
    return _Segmenter(points, normals, variation, edges, threshold_m, area_m2, config, seed, grow_rings,
                      footprint, shape_rings, samples_per_normal).run()
