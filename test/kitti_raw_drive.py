"""A small synthetic KITTI raw drive on disk (the layout ``lingbot-depth fuse`` and ``lingbot-depth batch`` read):

    <drive>/image_02/<n>.png              RGB
    <drive>/velodyne_raw/image_02/<n>.png 16-bit LiDAR depth, metres x 256 (KITTI's unit), 0 = none
    <drive>/calib/calib_cam_to_cam.txt    S_rect_02 / P_rect_02
    <drive>/image_02/poses.txt            camera poses, KITTI 3x4 per line
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FX, FY, CX, CY = 120.0, 120.0, 80.5, 30.25  # [px] of the 160 x 64 images
WIDTH, HEIGHT = 160, 64


def lidar_depth_m(index: int) -> np.ndarray:
    """(HEIGHT, WIDTH) float32 depth [m] of frame ``index``: a ground plane seen from 1.6 m, sampled on scan lines
    (every 3rd row from row 34, every 2nd column), 0 elsewhere; 5-40 m, so millimetres would read 0.25x too near."""
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None] - CY
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    ground = np.broadcast_to(np.where(rows > 0, FY * 1.6 / np.maximum(rows, 1e-3), 0), (HEIGHT, WIDTH))
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[34::3, index % 2::2] = True
    depth[mask] = np.clip(ground[mask], 0, 40.0)
    return depth


def write_kitti_raw_drive(root: Path, frames: int = 3, camera: str = "02") -> Path:
    """Write the drive under ``root``; returns ``root``."""
    images = root / f"image_{camera}"
    lidar = root / "velodyne_raw" / f"image_{camera}"
    (root / "calib").mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    lidar.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    poses = []
    for i in range(frames):
        rgb = np.dstack([(x * 1.5 + 10 * i) % 256, (y * 3) % 256, 128 + 0 * x]).astype(np.uint8)
        rgb = np.clip(rgb + rng.integers(0, 8, rgb.shape), 0, 255).astype(np.uint8)
        name = f"{i:010d}.png"
        cv2.imwrite(str(images / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        stored = np.round(lidar_depth_m(i) * 256.0).astype(np.uint16)  # KITTI: metres x 256
        cv2.imwrite(str(lidar / name), stored)
        poses.append(f"1 0 0 0 0 1 0 0 0 0 1 {0.5 * i}")
    (images / "poses.txt").write_text("\n".join(poses) + "\n")
    p_rect = f"{FX} 0 {CX} 0 0 {FY} {CY} 0 0 0 1 0"
    (root / "calib" / "calib_cam_to_cam.txt").write_text(
        f"calib_time: 09-Jan-2012 13:57:47\nS_rect_{camera}: {WIDTH} {HEIGHT}\nP_rect_{camera}: {p_rect}\n")
    return root
