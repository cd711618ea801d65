"""Real NYU / KITTI depth frames with a camera pose, for the surface tests and bench/bench_surfaces.py.

Frames come from ../shared/data (README there). Each :class:`RealFrame` carries the depth [m], the intrinsics
and ``base_T_optical`` in a z-up frame with the floor / road at z = 0:

- KITTI (``kitti_gt``, accumulated-LiDAR ground truth): the car's camera mounting, 1.65 m above the road,
  level (KITTI's published set-up); no fit to the data.
- KITTI raw (``kitti_lidar``, real single Velodyne scans, 4 % of pixels): completed to dense depth by the
  classical estimator (what the node publishes on a robot without a learned model), same mounting.
- NYU (handheld Kinect, no gravity sensor in this sample): pitch, roll and height of a plane fitted by RANSAC
  to the bottom rows of the ground-truth depth (rows 400-470, floor in every frame), an estimate independent
  of the surface finder (it looks at those rows only, with a plain point-to-plane RANSAC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import backproject
from lingbot_depth_ros.geometry.transforms import BODY_R_OPTICAL, RigidTransform, camera_pose_from_mounting

NYU_FRAMES = ("00000", "00050", "00100")
KITTI_FRAMES = ("0000000050", "0000000100")
KITTI_LIDAR_FRAMES = tuple(f"{i:010d}" for i in range(7))
NYU_INTRINSICS = CameraIntrinsics(518.8579, 519.46961, 325.58245, 253.73617, 640, 480)
KITTI_INTRINSICS = CameraIntrinsics(721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
KITTI_CAMERA_HEIGHT_M = 1.65
NYU_FLOOR_ROWS = (400, 470)  # image rows [px] that show floor in every NYU frame of the sample


@dataclass(frozen=True)
class RealFrame:
    """One real depth frame: ``depth_m`` (H, W) [m] (NaN = none), its intrinsics and ``base_T_optical``
    (z up, floor at 0); ``mounting`` = (height [m], pitch [deg], roll [deg]) of that pose."""

    name: str
    depth_m: np.ndarray
    intrinsics: CameraIntrinsics
    base_T_optical: RigidTransform
    mounting: tuple[float, float, float]


def _ransac_plane(points: np.ndarray, threshold_m: float, seed: int = 0,
                  hypotheses: int = 400) -> tuple[np.ndarray, float]:
    """Unit normal and offset (n . p + d = 0) of the plane with most (N, 3) ``points`` within ``threshold_m``,
    refined by least squares on its inliers."""
    rng = np.random.default_rng(seed)
    best, best_count = None, -1
    for _ in range(hypotheses):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(b - a, c - a)
        if np.linalg.norm(n) < 1e-9:
            continue
        n /= np.linalg.norm(n)
        count = int((np.abs(points @ n - n @ a) < threshold_m).sum())
        if count > best_count:
            best, best_count = (n, float(-n @ a)), count
    assert best is not None
    n, d = best
    inl = points[np.abs(points @ n + d) < threshold_m]
    centroid = inl.mean(axis=0)
    n = np.linalg.eigh((inl - centroid).T @ (inl - centroid))[1][:, 0]
    return n, float(-n @ centroid)


def mounting_from_floor(normal_opt: np.ndarray, offset_m: float) -> tuple[float, float, float]:
    """(height [m], pitch [rad], roll [rad]) of a camera that sees the floor plane ``normal_opt . p + offset_m
    = 0`` (optical frame): the camera is ``|offset_m|`` above it, and ``camera_pose_from_mounting`` with this
    pitch and roll maps the floor's upward normal (towards the camera) onto +z."""
    n = normal_opt if offset_m > 0 else -normal_opt  # n . (camera - p) = offset > 0: n points at the camera
    n_body = BODY_R_OPTICAL @ n  # = Rx(roll)^T Ry(pitch)^T z = (-sin p, sin r cos p, cos r cos p)
    return abs(offset_m), -math.asin(float(np.clip(n_body[0], -1.0, 1.0))), math.atan2(n_body[1], n_body[2])


def nyu_frame(data: Path, frame: str) -> RealFrame:
    """NYU frame ``frame`` (ground-truth depth) with the floor-fitted pose (module docstring)."""
    raw = cv2.imread(str(data / "nyu" / f"sync_depth_{frame}.png"), cv2.IMREAD_UNCHANGED)
    depth = raw.astype(np.float64) / 1000.0
    depth[raw == 0] = np.nan
    xyz = backproject(depth, NYU_INTRINSICS, 1)[NYU_FLOOR_ROWS[0]:NYU_FLOOR_ROWS[1]].reshape(-1, 3)
    normal, offset = _ransac_plane(xyz[np.isfinite(xyz).all(axis=1)].astype(np.float64), 0.02)
    height, pitch, roll = mounting_from_floor(normal, offset)
    pose = camera_pose_from_mounting(height, pitch, roll)
    return RealFrame(f"nyu {frame}", depth, NYU_INTRINSICS, pose,
                     (height, math.degrees(pitch), math.degrees(roll)))


def kitti_frame(data: Path, frame: str) -> RealFrame:
    """KITTI depth-completion ground truth ``frame`` with the nominal car mounting (module docstring)."""
    raw = cv2.imread(str(data / "kitti_gt" / f"gt_{frame}.png"), cv2.IMREAD_UNCHANGED)
    depth = raw.astype(np.float64) / 256.0
    depth[raw == 0] = np.nan
    pose = camera_pose_from_mounting(KITTI_CAMERA_HEIGHT_M, 0.0)
    return RealFrame(f"kitti {frame}", depth, KITTI_INTRINSICS, pose, (KITTI_CAMERA_HEIGHT_M, 0.0, 0.0))


def kitti_lidar_frame(data: Path, camera: str, frame: str) -> RealFrame:
    """KITTI raw ``camera`` (``image_02`` / ``image_03``) ``frame``: the Velodyne scan completed by the classical
    estimator, with the nominal car mounting (module docstring)."""
    from lingbot_depth_ros.estimators import create_estimator

    folder = data / "kitti_lidar"
    bgr = cv2.imread(str(folder / camera / f"{frame}.png"), cv2.IMREAD_COLOR)
    raw = cv2.imread(str(folder / "velodyne_raw" / camera / f"{frame}.png"), cv2.IMREAD_UNCHANGED)
    sparse = (raw.astype(np.float32) / 256.0)
    estimate = create_estimator("classical").estimate(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), sparse,
                                                      KITTI_INTRINSICS)
    depth = np.where(estimate.valid, estimate.depth_m, np.nan).astype(np.float64)
    pose = camera_pose_from_mounting(KITTI_CAMERA_HEIGHT_M, 0.0)
    return RealFrame(f"kitti raw {camera[-2:]} {frame[-2:]}", depth, KITTI_INTRINSICS, pose,
                     (KITTI_CAMERA_HEIGHT_M, 0.0, 0.0))


def all_frames(data: Path) -> list[RealFrame]:
    """Every NYU and KITTI ground-truth frame of the sample, then the 14 KITTI raw-LiDAR frames (2 cameras)."""
    return ([nyu_frame(data, f) for f in NYU_FRAMES] + [kitti_frame(data, f) for f in KITTI_FRAMES]
            + [kitti_lidar_frame(data, c, f) for c in ("image_02", "image_03") for f in KITTI_LIDAR_FRAMES])
