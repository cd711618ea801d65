"""Timing of the navigation path (obstacle sectors, scans, message building) and of LiDAR projection.

Run from the repository root:  .venv/bin/python bench/bench_navigation.py [--repeat 50]

Prints the median and 90th-percentile time per call for a 640x480 synthetic depth frame (floor + boxes,
with a band of invalid pixels) at several decimations, and for projecting LiDAR-sized clouds into it.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.lidar_projection import Distortion, project_points_to_depth
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.navigation import ObstacleSectorAnalyzer, SectorConfig, dense_scan, sector_scan
from lingbot_depth_ros.navigation.obstacle_report import report_to_json

K = CameraIntrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)


def synthetic_depth(pose) -> np.ndarray:
    """Floor + two boxes rendered by ray casting; NaN beyond 10 m and in a 40-column invalid band."""
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape)], -1).reshape(-1, 3)
    dirs = rays @ pose.rotation.T
    origin = pose.translation
    safe = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
    best = np.where(dirs[:, 2] < 0, -origin[2] / safe[:, 2], np.inf)
    for lo, hi in [((1.2, -0.3, 0.0), (1.6, 0.2, 0.7)), ((2.0, 0.6, 0.0), (2.4, 1.5, 1.2))]:
        t1, t2 = (np.asarray(lo) - origin) / safe, (np.asarray(hi) - origin) / safe
        near, far = np.minimum(t1, t2).max(1), np.maximum(t1, t2).min(1)
        best = np.where((far >= near) & (near > 0), np.minimum(best, near), best)
    depth = np.where(best < 10.0, best, np.nan).astype(np.float32).reshape(K.height, K.width)
    depth[:, 500:540] = np.nan
    return depth


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up (caches, first allocation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, float(np.percentile(times, 90)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}")
    pose = camera_pose_from_mounting(height_m=0.6, pitch_rad=math.radians(15), x_m=0.2)
    depth = synthetic_depth(pose)
    print(f"frame 640x480, {np.count_nonzero(np.isfinite(depth))} valid pixels; times in ms (median / p90)")
    for decimation in (8, 4, 2, 1):
        cfg = SectorConfig(decimation=decimation, blocked_distance_m=0.8, caution_distance_m=1.5)
        analyzer = ObstacleSectorAnalyzer(cfg)
        med, p90 = timeit(partial(analyzer.analyze_depth, depth, K, pose), args.repeat)
        report = analyzer.analyze_depth(depth, K, pose)
        n_pts = report.ground.angle_rad.size
        dmed, dp90 = timeit(partial(dense_scan, report.ground, cfg, 160), args.repeat)
        print(f"  decimation {decimation}: {n_pts:6d} points  analyze_depth {med:6.2f} / {p90:6.2f}   "
              f"dense_scan(160 rays) {dmed:5.2f} / {dp90:5.2f}")
    cfg = SectorConfig(decimation=4, blocked_distance_m=0.8, caution_distance_m=1.5)
    analyzer = ObstacleSectorAnalyzer(cfg)
    report = analyzer.analyze_depth(depth, K, pose)
    med, p90 = timeit(lambda: (sector_scan(report, cfg), report_to_json(report, cfg, stamp_sec=0, stamp_nanosec=0,
                                                                         frame_id="base_link")), args.repeat)
    print(f"  sector_scan + JSON: {med:.3f} / {p90:.3f}   -> recommendation {report.recommendation}, "
          + ", ".join(f"{s.name}={s.status}" for s in report.sectors))
    try:
        from std_msgs.msg import Header

        from lingbot_depth_ros.ros.navigation_msgs import laser_scan_msg, sector_markers_msg
        header = Header(frame_id="base_link")
        med, p90 = timeit(lambda: (laser_scan_msg(dense_scan(report.ground, cfg, 160), header),
                                   sector_markers_msg(report, cfg, header)), args.repeat)
        print(f"  dense LaserScan msg + MarkerArray msg: {med:.2f} / {p90:.2f}")
    except ImportError as exc:  # ROS message packages not installed: the pure figures above still stand
        print(f"  (message builders skipped: {exc})")

    print("LiDAR projection into 640x480 (nearest point per pixel):")
    rng = np.random.default_rng(0)
    dist = Distortion("plumb_bob", (-0.28, 0.07, 0.001, -0.0005, 0.0))
    for n in (30_000, 120_000, 300_000):
        pts = np.column_stack([rng.uniform(-6, 6, n), rng.uniform(-2, 2, n), rng.uniform(-3, 12, n)]).astype(np.float32)
        med, p90 = timeit(partial(project_points_to_depth, pts, K), max(5, args.repeat // 5))
        dmed, dp90 = timeit(partial(project_points_to_depth, pts, K, dist), max(5, args.repeat // 5))
        print(f"  {n:7d} points: pinhole {med:6.2f} / {p90:6.2f}   plumb_bob {dmed:6.2f} / {dp90:6.2f}")


if __name__ == "__main__":
    main()
