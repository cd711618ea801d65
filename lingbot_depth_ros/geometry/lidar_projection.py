"""Project 3D points (e.g. a LiDAR scan) into a camera image as a sparse depth map.

Supported camera models (``sensor_msgs/CameraInfo.distortion_model``), all in vectorised numpy with the
OpenCV formulas (checked against ``cv2.projectPoints`` in the tests):

- no distortion (``distortion=None``, an empty or all-zero ``D``): use this for *rectified* images, with the
  rectified camera matrix (``CameraInfo.p[0:3, 0:3]``);
- ``plumb_bob``: D = (k1, k2, p1, p2[, k3]);
- ``rational_polynomial``: D = (k1, k2, p1, p2, k3, k4, k5, k6) (5 values are accepted too);
- ``equidistant`` (OpenCV fisheye): D = (k1, k2, k3, k4).

Polynomial distortion models fold back on themselves far outside the calibrated field of view, which would
paint far-off points into the image. Each model's radial mapping is therefore sampled once and points
beyond the first radius where it stops increasing (or beyond 4x the image corner radius) are dropped.

The depth written is the optical-axis coordinate z [m] (what depth images store), not the Euclidean range.
When several points fall on one pixel the nearest (smallest z) wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform

SUPPORTED_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")


@dataclass(frozen=True)
class Distortion:
    """Lens distortion ``model`` (one of :data:`SUPPORTED_MODELS`) with its ``coefficients`` (OpenCV order)."""

    model: str
    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        coeffs = tuple(float(c) for c in self.coefficients)
        if not all(math.isfinite(c) for c in coeffs):
            raise InputError(f"distortion coefficients must be finite, got {coeffs}")
        allowed = {"plumb_bob": (4, 5), "rational_polynomial": (5, 8), "equidistant": (4,)}
        if self.model not in allowed:
            raise InputError(f"unsupported distortion model {self.model!r}; supported: {', '.join(SUPPORTED_MODELS)} "
                             "(or rectify the image and pass no distortion)")
        if len(coeffs) not in allowed[self.model]:
            raise InputError(f"{self.model} needs {' or '.join(map(str, allowed[self.model]))} coefficients, "
                             f"got {len(coeffs)}")
        object.__setattr__(self, "coefficients", coeffs)

    @classmethod
    def from_camera_info(cls, d: Sequence[float], model: str) -> Distortion | None:
        """From ``CameraInfo.d`` and ``.distortion_model``; None when D is empty or all zeros (no distortion)."""
        coeffs = [float(c) for c in d]
        if not coeffs or all(c == 0.0 for c in coeffs):
            return None
        return cls(model=model, coefficients=tuple(coeffs))

    def _padded(self) -> np.ndarray:
        """Coefficients padded to the 8-value rational form (k1, k2, p1, p2, k3, k4, k5, k6); fisheye as-is."""
        if self.model == "equidistant":
            return np.asarray(self.coefficients)
        return np.asarray(self.coefficients + (0.0,) * (8 - len(self.coefficients)))


DistortionLike = Distortion | tuple[Sequence[float], str] | None  # a Distortion, a (D, model) tuple or None


def as_distortion(distortion: DistortionLike) -> Distortion | None:
    """Accept a :class:`Distortion`, a ``(D, model)`` tuple or None."""
    if distortion is None or isinstance(distortion, Distortion):
        return distortion
    if isinstance(distortion, tuple) and len(distortion) == 2 and isinstance(distortion[1], str):
        return Distortion.from_camera_info(distortion[0], distortion[1])
    raise InputError(f"distortion must be None, a Distortion or a (D, model) tuple, got {distortion!r}")


def _radial_gain(coeffs: np.ndarray, r2: np.ndarray) -> np.ndarray:
    k1, k2, _, _, k3, k4, k5, k6 = coeffs
    num = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
    return num / den


def _fisheye_theta_d(coeffs: np.ndarray, theta: np.ndarray) -> np.ndarray:
    k1, k2, k3, k4 = coeffs
    t2 = theta * theta
    return theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))


@lru_cache(maxsize=32)
def _valid_limit(model: str, coefficients: tuple[float, ...], corner_radius: float) -> float:
    """Largest undistorted normalised radius (angle for fisheye) up to which the model is monotonic."""
    dist = Distortion(model, coefficients)
    coeffs = dist._padded()
    if model == "equidistant":
        search = np.linspace(0.0, math.pi / 2, 20001)[1:]
        mapped = _fisheye_theta_d(coeffs, search)
    else:
        search = np.linspace(0.0, 4.0 * corner_radius + 1.0, 20001)[1:]
        gain = _radial_gain(coeffs, search * search)
        mapped = search * gain
        bad_gain = np.nonzero(gain <= 0)[0]
        if bad_gain.size:
            mapped = mapped[:bad_gain[0]]
            search = search[:bad_gain[0]]
    decreasing = np.nonzero(np.diff(mapped) <= 0)[0]
    if decreasing.size:
        return float(search[decreasing[0]])
    return float(search[-1]) if search.size else 0.0


def _distort(a: np.ndarray, b: np.ndarray, dist: Distortion, limit: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distorted normalised coordinates of undistorted (a, b) = (x/z, y/z), and the mask of points inside the
    model's monotonic region (``limit``: radius, or angle for the fisheye model)."""
    coeffs = dist._padded()
    r2 = a * a + b * b
    if dist.model == "equidistant":
        r = np.sqrt(r2)
        theta = np.arctan(r)
        scale = np.where(r > 1e-12, _fisheye_theta_d(coeffs, theta) / np.where(r > 1e-12, r, 1.0), 1.0)
        return a * scale, b * scale, theta < limit
    _, _, p1, p2 = coeffs[:4]
    gain = _radial_gain(coeffs, r2)
    ab = a * b
    return (a * gain + 2.0 * p1 * ab + p2 * (r2 + 2.0 * a * a),
            b * gain + p1 * (r2 + 2.0 * b * b) + 2.0 * p2 * ab,
            r2 < limit * limit)


def project_points(points_cam: np.ndarray, intrinsics: CameraIntrinsics, distortion: DistortionLike = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project optical-frame points to pixel coordinates.

    Args:
        points_cam: (N, 3) points [m] in the camera optical frame (z forward, x right, y down).
        intrinsics: camera matrix and image size.
        distortion: see the module docstring.

    Returns:
        ``(u, v, ok)``: (N,) pixel coordinates (pixel centres at integers; float32 for float32 input, else
        float64) and an (N,) bool mask of
        points in front of the camera (z > 0), finite, and inside the distortion model's valid region.
        ``u``/``v`` are meaningless where ``ok`` is False.
    """
    pts = np.asarray(points_cam)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got shape {pts.shape}")
    if pts.dtype != np.float32:  # float32 stays float32 (fast; ~1e-4 px at 640 px), all else is float64
        pts = pts.astype(np.float64)
    dist = as_distortion(distortion)
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z) & (z > 0)
        a = x / z   # garbage where not ok; callers only use ok entries
        b = y / z
    if dist is not None:
        corner_radius = max(math.hypot((u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy)
                            for u in (-0.5, intrinsics.width - 0.5) for v in (-0.5, intrinsics.height - 0.5))
        limit = _valid_limit(dist.model, dist.coefficients, round(corner_radius, 6))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # garbage rows are masked by ok
            a, b, inside_model = _distort(a, b, dist, limit)
        ok &= inside_model
    u = intrinsics.fx * a + intrinsics.cx
    v = intrinsics.fy * b + intrinsics.cy
    return u, v, ok


@dataclass(frozen=True)
class ProjectionCounts:
    """How many of ``total`` points each step of :func:`project_points_to_depth_counted` kept or rejected.

    Every point is counted once, in the first test it fails, in this order: ``non_finite`` (NaN/inf
    coordinate), ``behind`` (z <= 0), ``too_close`` (0 < z < min_depth_m), ``too_far`` (z > max_depth_m),
    ``outside_image`` (projects outside the image or the distortion model's valid region), else ``in_image``
    (several may share a pixel). ``median_far_z_m``: median z [m] of the ``too_far`` points (NaN if none).
    """

    total: int
    non_finite: int = 0
    behind: int = 0
    too_close: int = 0
    too_far: int = 0
    outside_image: int = 0
    in_image: int = 0
    median_far_z_m: float = float("nan")


def project_points_to_depth_counted(points_cam: np.ndarray, intrinsics: CameraIntrinsics,
                                    distortion: DistortionLike = None, *, min_depth_m: float = 0.05,
                                    max_depth_m: float = float("inf")) -> tuple[np.ndarray, ProjectionCounts]:
    """:func:`project_points_to_depth` and the :class:`ProjectionCounts` of why points were dropped."""
    if not (min_depth_m >= 0 and max_depth_m > min_depth_m):
        raise InputError(f"need 0 <= min_depth_m < max_depth_m, got {min_depth_m}, {max_depth_m}")
    pts = np.asarray(points_cam)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got shape {pts.shape}")
    z_all = pts[:, 2]
    finite = np.isfinite(pts).all(axis=1)
    with np.errstate(invalid="ignore"):
        behind = finite & (z_all <= 0)
        too_close = finite & (z_all > 0) & (z_all < min_depth_m)
        too_far = finite & (z_all > max_depth_m)
    in_depth = finite & ~behind & ~too_close & ~too_far
    pts = pts[in_depth]
    u, v, ok = project_points(pts, intrinsics, distortion)
    col = np.floor(u[ok] + 0.5)
    row = np.floor(v[ok] + 0.5)
    zs = pts[ok, 2]
    inside = (col >= 0) & (col < intrinsics.width) & (row >= 0) & (row < intrinsics.height)
    flat = row[inside].astype(np.int64) * intrinsics.width + col[inside].astype(np.int64)
    depth = np.full(intrinsics.height * intrinsics.width, np.inf, dtype=np.float32)
    np.minimum.at(depth, flat, zs[inside].astype(np.float32))
    depth[np.isinf(depth)] = 0.0
    n_far = int(np.count_nonzero(too_far))
    counts = ProjectionCounts(
        total=int(len(z_all)), non_finite=int(np.count_nonzero(~finite)), behind=int(np.count_nonzero(behind)),
        too_close=int(np.count_nonzero(too_close)), too_far=n_far,
        outside_image=int(len(pts) - np.count_nonzero(inside)), in_image=int(np.count_nonzero(inside)),
        median_far_z_m=float(np.median(z_all[too_far])) if n_far else float("nan"))
    return depth.reshape(intrinsics.height, intrinsics.width), counts


def project_points_to_depth(points_cam: np.ndarray, intrinsics: CameraIntrinsics,
                            distortion: DistortionLike = None, *, min_depth_m: float = 0.05,
                            max_depth_m: float = float("inf")) -> np.ndarray:
    """Render optical-frame points into a sparse depth image, keeping the nearest point per pixel.

    Args:
        points_cam: (N, 3) float points [m] in the camera optical frame; NaN/inf rows are ignored.
        intrinsics: intrinsics of the target image (its width and height set the output size).
        distortion: None (rectified image) or the image's distortion, see the module docstring.
        min_depth_m: points with z below this [m] (behind the camera, or too close) are dropped.
        max_depth_m: points with z above this [m] are dropped.

    Returns:
        (H, W) float32 depth [m] along the optical axis; 0 where no point landed.
    """
    return project_points_to_depth_counted(points_cam, intrinsics, distortion, min_depth_m=min_depth_m,
                                           max_depth_m=max_depth_m)[0]


def lidar_to_sparse_depth_counted(points_lidar: np.ndarray, optical_T_lidar: RigidTransform,
                                  intrinsics: CameraIntrinsics, distortion: DistortionLike = None, *,
                                  min_depth_m: float = 0.05, max_depth_m: float = float("inf")
                                  ) -> tuple[np.ndarray, ProjectionCounts]:
    """:func:`lidar_to_sparse_depth` and the :class:`ProjectionCounts` of why points were dropped."""
    pts = np.asarray(points_lidar, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be (N, 3), got shape {pts.shape}")
    return project_points_to_depth_counted(optical_T_lidar.apply(pts), intrinsics, distortion,
                                           min_depth_m=min_depth_m, max_depth_m=max_depth_m)


def lidar_to_sparse_depth(points_lidar: np.ndarray, optical_T_lidar: RigidTransform, intrinsics: CameraIntrinsics,
                          distortion: DistortionLike = None, *, min_depth_m: float = 0.05,
                          max_depth_m: float = float("inf")) -> np.ndarray:
    """Transform (N, 3) LiDAR points [m] into the optical frame with ``optical_T_lidar`` (tf2
    ``lookup_transform(camera_optical_frame, lidar_frame)``) and render them with
    :func:`project_points_to_depth`. Returns (H, W) float32 sparse depth [m], 0 = none."""
    return lidar_to_sparse_depth_counted(points_lidar, optical_T_lidar, intrinsics, distortion,
                                         min_depth_m=min_depth_m, max_depth_m=max_depth_m)[0]


def projection_model(k: Sequence[float], d: Sequence[float], distortion_model: str, p: Sequence[float],
                     width: int, height: int, rectified: bool) -> tuple[CameraIntrinsics, Distortion | None]:
    """Intrinsics and distortion to project into an image, from ``sensor_msgs/CameraInfo`` fields.

    ``rectified``: the image was rectified (``image_rect``), so project with the rectified camera matrix
    ``P[0:3, 0:3]`` and no distortion (ROS keeps the raw camera's D in the CameraInfo of rectified images).
    Otherwise project with K and D. A P of all zeros falls back to K.
    """
    k_arr = np.asarray(k, dtype=np.float64).reshape(-1)
    p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if k_arr.size != 9:
        raise InputError(f"K must have 9 elements, got {k_arr.size}")
    if rectified:
        if p_arr.size != 12:
            raise InputError(f"P must have 12 elements, got {p_arr.size}")
        p3 = p_arr.reshape(3, 4)[:, :3]
        matrix = p3 if np.any(p3) else k_arr.reshape(3, 3)
        return CameraIntrinsics.from_matrix(matrix, width, height), None
    return CameraIntrinsics.from_matrix(k_arr, width, height), Distortion.from_camera_info(d, distortion_model)
