"""Simulated spinning multi-beam LiDAR: beam geometry, and projection of its points into a camera.

LiDAR frame (REP 103): x forward, y left, z up. Beam ``ring`` r has elevation
``vertical_angles_deg[r]``; azimuth runs counter-clockwise from +x over ``horizontal_fov_deg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics


@dataclass(frozen=True)
class LidarConfig:
    """A multi-beam LiDAR.

    ``n_beams`` rings spread evenly over ``vertical_fov_deg`` = (lowest, highest) elevation [deg];
    ``horizontal_resolution_deg`` azimuth step [deg] over ``horizontal_fov_deg`` [deg] (360 = full
    spin, centred on +x otherwise); returns beyond ``max_range_m`` [m] are dropped.

    Realism (as a real spinning LiDAR, e.g. a 64-beam Velodyne):

    * range noise: Gaussian, standard deviation ``range_noise_std_m`` [m] +
      ``range_noise_rel`` x range;
    * dropouts: a return is lost with probability ``dropout`` (every beam) + the beam's own extra
      rate, uniform in [0, ``beam_dropout_spread``) per ring (weak lasers lose more returns; the
      draw is fixed per generator seed) + ``range_dropout`` x (range / max_range_m)^2 (far, weak
      returns are lost more often);
    * scan-phase drift: a spinning LiDAR is not frame-locked to the camera, so the azimuths it samples shift
      from one frame to the next: frame i's azimuths are offset by (i x ``scan_phase_drift_deg``) modulo
      ``horizontal_resolution_deg`` [deg] (0 = frame-locked, every frame samples the same azimuths).
    """

    n_beams: int = 32
    vertical_fov_deg: tuple[float, float] = (-25.0, 15.0)
    horizontal_resolution_deg: float = 0.2
    horizontal_fov_deg: float = 360.0
    max_range_m: float = 100.0
    min_range_m: float = 0.3
    range_noise_std_m: float = 0.02
    range_noise_rel: float = 0.001
    dropout: float = 0.02
    beam_dropout_spread: float = 0.1
    range_dropout: float = 0.2
    scan_phase_drift_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.n_beams < 1:
            raise InputError(f"LiDAR needs at least one beam, got n_beams={self.n_beams}")
        lo, hi = self.vertical_fov_deg
        if not -90.0 < lo <= hi < 90.0:
            raise InputError(f"vertical_fov_deg must satisfy -90 < low <= high < 90, got {self.vertical_fov_deg}")
        if not 0.0 < self.horizontal_resolution_deg <= 10.0:
            raise InputError(f"horizontal_resolution_deg must be in (0, 10], got {self.horizontal_resolution_deg}")
        if not 0.0 < self.horizontal_fov_deg <= 360.0:
            raise InputError(f"horizontal_fov_deg must be in (0, 360], got {self.horizontal_fov_deg}")
        if not 0.0 <= self.min_range_m < self.max_range_m:
            raise InputError(f"need 0 <= min_range_m < max_range_m, got {self.min_range_m}, {self.max_range_m}")
        if self.range_noise_std_m < 0 or self.range_noise_rel < 0 or not 0.0 <= self.dropout < 1.0:
            raise InputError("range_noise_std_m and range_noise_rel must be >= 0 and dropout in [0, 1)")
        if not (0.0 <= self.beam_dropout_spread < 1.0 and 0.0 <= self.range_dropout < 1.0):
            raise InputError(f"beam_dropout_spread and range_dropout must be in [0, 1), got "
                             f"{self.beam_dropout_spread}, {self.range_dropout}")
        if not np.isfinite(self.scan_phase_drift_deg):
            raise InputError(f"scan_phase_drift_deg must be finite, got {self.scan_phase_drift_deg}")

    @classmethod
    def preset(cls, n_beams: int, **overrides: Any) -> LidarConfig:
        """Typical sensors: 16 beams (±15°), 32 beams (-25°..+15°), 64 beams (-24.9°..+2°), else ±15°;
        ``overrides``: other fields of the config (checked by the constructor)."""
        fovs = {16: (-15.0, 15.0), 32: (-25.0, 15.0), 64: (-24.9, 2.0), 128: (-25.0, 15.0)}
        return cls(n_beams=n_beams, vertical_fov_deg=fovs.get(n_beams, (-15.0, 15.0)), **overrides)

    def scan_phase_rad(self, index: int) -> float:
        """Azimuth offset [rad] of frame ``index``'s samples (see scan-phase drift in the class docstring)."""
        return float(np.deg2rad((index * self.scan_phase_drift_deg) % self.horizontal_resolution_deg))

    def vertical_angles_deg(self) -> np.ndarray:
        """(n_beams,) float64 elevation of each ring [deg], lowest first."""
        lo, hi = self.vertical_fov_deg
        return np.linspace(lo, hi, self.n_beams) if self.n_beams > 1 else np.array([(lo + hi) / 2.0])

    def beam_dropout_rates(self, rng: np.random.Generator) -> np.ndarray:
        """(n_beams,) float32 dropout probability of each ring at zero range (``dropout`` + its extra)."""
        extra = rng.uniform(0.0, self.beam_dropout_spread, size=self.n_beams) if self.beam_dropout_spread > 0 \
            else np.zeros(self.n_beams)
        return np.clip(self.dropout + extra, 0.0, 0.99).astype(np.float32)

    def dropout_probability(self, ring_rates: np.ndarray, ring: np.ndarray, range_m: np.ndarray) -> np.ndarray:
        """(N,) float32 probability that each return is lost (see the class docstring).

        Args:
            ring_rates: (n_beams,) from :meth:`beam_dropout_rates`.
            ring: (N,) ring index of each return.
            range_m: (N,) range of each return [m].
        """
        far = np.square(np.asarray(range_m, np.float32) * np.float32(1.0 / self.max_range_m))
        return np.clip(ring_rates[ring] + np.float32(self.range_dropout) * far, 0.0, 1.0)

    def range_noise_std(self, range_m: np.ndarray) -> np.ndarray:
        """(N,) float32 standard deviation of the range noise [m] at ``range_m`` [m]."""
        return np.float32(self.range_noise_std_m) + np.float32(self.range_noise_rel) * np.asarray(range_m, np.float32)

    def beam_directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit beam directions (N, 3) float32 in the LiDAR frame and their ring index (N,) uint16.

        Ordered ring-major (all azimuths of ring 0, then ring 1, ...).
        """
        n_az = max(1, int(round(self.horizontal_fov_deg / self.horizontal_resolution_deg)))
        if self.horizontal_fov_deg >= 360.0:
            azimuth = np.arange(n_az) * (2.0 * np.pi / n_az)
        else:
            half = np.deg2rad(self.horizontal_fov_deg) / 2.0
            azimuth = np.linspace(-half, half, n_az)
        elevation = np.deg2rad(self.vertical_angles_deg())
        el, az = np.meshgrid(elevation, azimuth, indexing="ij")
        dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
        ring = np.repeat(np.arange(self.n_beams, dtype=np.uint16), n_az)
        return dirs.reshape(-1, 3).astype(np.float32), ring


def transform_points(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to (N, 3) points; returns (N, 3) float32."""
    r = transform[:3, :3].astype(np.float32)
    t = transform[:3, 3].astype(np.float32)
    p = points.astype(np.float32, copy=False)
    out = np.empty((p.shape[0], 3), dtype=np.float32)
    for i in range(3):  # element-wise, no BLAS threads (see scene.raycast.rotate_axis_major)
        out[:, i] = r[i, 0] * p[:, 0] + r[i, 1] * p[:, 1] + r[i, 2] * p[:, 2] + t[i]
    return out


def project_to_sparse_depth(points_camera: np.ndarray, intrinsics: CameraIntrinsics,
                            min_depth_m: float = 0.05) -> np.ndarray:
    """Project points in the camera optical frame into a sparse depth image.

    Each point lands on the pixel nearest to its projection; where several land on one pixel the
    nearest wins (z-buffer). Points behind the camera or outside the image are dropped.

    Args:
        points_camera: (N, 3) float32 points [m], optical frame (x right, y down, z forward).
        intrinsics: the camera.
        min_depth_m: points with z below this [m] are dropped.

    Returns:
        (H, W) float32 depth [m], 0 where no point landed.
    """
    width, height = intrinsics.width, intrinsics.height
    sparse = np.zeros((height, width), dtype=np.float32)
    z = points_camera[:, 2]
    front = z > min_depth_m
    if not np.any(front):
        return sparse
    pts = points_camera[front]
    z = pts[:, 2]
    u = np.rint(intrinsics.fx * pts[:, 0] / z + intrinsics.cx).astype(np.int64)
    v = np.rint(intrinsics.fy * pts[:, 1] / z + intrinsics.cy).astype(np.int64)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, z = u[inside], v[inside], z[inside]
    if z.size == 0:
        return sparse
    pixel = v * width + u
    order = np.lexsort((z, pixel))  # by pixel, nearest first within a pixel
    pixel_sorted = pixel[order]
    first = np.ones(pixel_sorted.shape[0], dtype=bool)
    first[1:] = pixel_sorted[1:] != pixel_sorted[:-1]
    sparse.reshape(-1)[pixel_sorted[first]] = z[order][first]
    return sparse
