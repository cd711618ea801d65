"""Analytic depth images of scenes with known planes, spheres and cylinders (for the surface tests).

Every object is in a z-up world frame with the floor at z = 0; the camera pose is ``base_T_optical``.
Depth = the optical-frame z of the nearest hit of each pixel's ray (NaN where nothing is hit).
Clouds (for ``find_surfaces_in_cloud``): :func:`cylinder_cloud`, :func:`sphere_cloud`, :func:`noisy_floor_cloud`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform


@dataclass(frozen=True)
class Rect:
    """A planar rectangle: centre (3,), half-axes u and v (3,) (their cross product is the normal)."""

    center: tuple[float, float, float]
    half_u: tuple[float, float, float]
    half_v: tuple[float, float, float]

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.half_u, self.half_v)
        return n / np.linalg.norm(n)


def box(center_xy: tuple[float, float], size: tuple[float, float, float], yaw: float = 0.0) -> list[Rect]:
    """The five visible faces (top + 4 sides) of a box standing on the floor: size (length, width, height)."""
    cx, cy = center_xy
    length, width, height = size
    ux = np.array([np.cos(yaw), np.sin(yaw), 0.0]) * length / 2
    uy = np.array([-np.sin(yaw), np.cos(yaw), 0.0]) * width / 2
    uz = np.array([0.0, 0.0, height / 2])
    c = np.array([cx, cy, height / 2])
    t = lambda v: tuple(float(x) for x in v)  # noqa: E731
    return [Rect(t(c + uz), t(ux), t(uy)), Rect(t(c + ux), t(uy), t(uz)), Rect(t(c - ux), t(uy), t(uz)),
            Rect(t(c + uy), t(ux), t(uz)), Rect(t(c - uy), t(ux), t(uz))]


@dataclass
class Scene:
    rects: list[Rect]
    spheres: list[tuple[tuple[float, float, float], float]]        # (centre, radius)
    cylinders: list[tuple[tuple[float, float], float, float, float]]  # vertical: (x, y), radius, z0, z1
    floor: bool = True

    def depth(self, intrinsics: CameraIntrinsics, base_T_optical: RigidTransform, noise_rel: float = 0.0,
              seed: int = 0) -> np.ndarray:
        """(H, W) float32 depth [m] with optional Gaussian noise of ``noise_rel`` x depth."""
        u, v = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
        d_opt = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy,
                          np.ones(u.shape)], axis=-1).reshape(-1, 3)
        dirs = d_opt @ base_T_optical.rotation.T  # ray with optical z = 1 per unit t
        o = base_T_optical.translation
        t_best = np.full(len(dirs), np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.floor:
                t = -o[2] / dirs[:, 2]
                t_best = np.where((t > 0) & (t < t_best), t, t_best)
            for r in self.rects:
                n = r.normal
                c = np.asarray(r.center)
                t = ((c - o) @ n) / (dirs @ n)
                p = o + t[:, None] * dirs - c
                hu, hv = np.asarray(r.half_u), np.asarray(r.half_v)
                inside = (np.abs(p @ hu) <= hu @ hu) & (np.abs(p @ hv) <= hv @ hv)
                t_best = np.where(inside & (t > 0) & (t < t_best), t, t_best)
            for c, radius in self.spheres:
                oc = o - np.asarray(c)
                a = np.einsum("ij,ij->i", dirs, dirs)
                b = 2 * dirs @ oc
                disc = b * b - 4 * a * (oc @ oc - radius ** 2)
                t = (-b - np.sqrt(disc)) / (2 * a)
                t_best = np.where((disc >= 0) & (t > 0) & (t < t_best), t, t_best)
            for (x, y), radius, z0, z1 in self.cylinders:
                oc = o[:2] - np.array([x, y])
                d2 = dirs[:, :2]
                a = np.einsum("ij,ij->i", d2, d2)
                b = 2 * d2 @ oc
                disc = b * b - 4 * a * (oc @ oc - radius ** 2)
                t = (-b - np.sqrt(disc)) / (2 * a)
                z = o[2] + t * dirs[:, 2]
                t_best = np.where((disc >= 0) & (t > 0) & (z >= z0) & (z <= z1) & (t < t_best), t, t_best)
        depth = t_best.reshape(u.shape)  # optical z = t because the optical-frame ray has z = 1
        depth[~np.isfinite(depth)] = np.nan
        if noise_rel > 0:
            depth = depth * (1 + noise_rel * np.random.default_rng(seed).standard_normal(depth.shape))
        return depth.astype(np.float32)


def cylinder_cloud(rng: np.random.Generator, radius: float, noise_m: float, n: int = 20000) -> np.ndarray:
    """(n, 3) points [m] on a vertical cylinder side (axis through the origin, z 0..1.2 m), Gaussian noise."""
    theta, z = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 1.2, n)
    return np.c_[radius * np.cos(theta), radius * np.sin(theta), z] + rng.normal(0, noise_m, (n, 3))


def sphere_cloud(rng: np.random.Generator, radius: float, noise_m: float, n: int = 20000) -> np.ndarray:
    """(n, 3) points [m] on a sphere about the origin, Gaussian noise."""
    d = rng.normal(size=(n, 3))
    return radius * d / np.linalg.norm(d, axis=1, keepdims=True) + rng.normal(0, noise_m, (n, 3))


def noisy_floor_cloud(rng: np.random.Generator, noise_m: float, pitch_m: float = 0.03) -> np.ndarray:
    """A 2.67 x 1.77 m floor at z = 0 sampled on a ``pitch_m`` grid (like a TSDF extraction), z noise [m]."""
    g = np.arange(0, 90) * pitch_m
    x, y = np.meshgrid(g, g[:60])
    return np.c_[x.ravel(), y.ravel(), rng.normal(0.0, noise_m, x.size)]
