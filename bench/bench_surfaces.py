"""Surface finder accuracy and speed on analytic scenes (issue 13 section 2) and on real frames (issue 18).

Usage: python bench/bench_surfaces.py [--noise 0.001] [--repeats 5] [--real-only] [--data ../shared/data]
For a box top of known height seen at 2, 3, 4, 5 and 6 m (camera 1.5 m high, pitch 25 deg, 320x240,
decimation 2, depth noise ``noise`` x depth), prints the normal error [deg], the height error [cm] and the
median analysis time [ms] (process CPU of this machine; the table in docs/surfaces.md comes from here).
Then, for clouds (``find_surfaces_in_cloud``): how many noisy cylinder / sphere clouds (radius 0.3-0.5 m,
noise 3-5 mm, voxel 3-4 cm, ``repeats`` seeds) give a false plane, and on a noisy grid-sampled floor
(5 mm) whether it is one floor surface, its normal error and the median time.
Curved depth scenes: how many of 108 analytic scenes (a cylinder and a sphere of radius 0.15-0.5 m at 2, 3.5 and
5 m, 320x240 and 640x480, camera pitch 10 and 22 deg, noise 0 / 0.1 / 0.3 % of depth) give a false plane.
Real frames (``--data``, skipped when absent; test/real_surface_frames.py): every NYU frame (Kinect ground-truth
depth, 640x480, pose from a RANSAC fit of the bottom rows' floor) and both KITTI ground-truth frames
(accumulated LiDAR, 1242x375, car mounting 1.65 m, level; ``max_range_m`` 30 m, the road is beyond the indoor
8 m default), and the 14 KITTI raw frames (real single Velodyne scans, 2 cameras x 7) completed by the
classical estimator, at decimation 2 with the floor at z = 0: whether a ``floor`` surface is found, its area [m^2]
(largest floor surface), height of its centroid [cm] and tilt [deg], the area of the samples within twice the
inlier distance of z = 0 (what a perfect finder could call floor, by the same footprint model), the number of
surfaces, the camera height the finder estimates without being told the floor (lowest horizontal surface;
reference 1.40-1.48 m NYU, 1.65 m KITTI) and the analysis time [ms] (process CPU).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
from real_surface_frames import RealFrame, all_frames
from surface_scenes import Scene, box, cylinder_cloud, noisy_floor_cloud, sphere_cloud

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.surfaces import SurfaceConfig, find_surfaces_in_cloud, find_surfaces_in_depth

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KITTI_MAX_RANGE_M = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.001, help="depth noise std as a fraction of depth")
    parser.add_argument("--repeats", type=int, default=5, help="noise draws per range")
    parser.add_argument("--real-only", action="store_true", help="only the real-frames table")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the NYU / KITTI frames")
    args = parser.parse_args()
    if args.real_only:
        real_rows(args.data)
        return
    k = CameraIntrinsics(300.0, 300.0, 159.5, 119.5, 320, 240)
    pose = camera_pose_from_mounting(1.5, math.radians(25))
    print(f"noise {args.noise * 100:.2f} % of depth; box top 0.8 x 0.6 m at 0.6 m height")
    print("range [m] | found | normal err max [deg] | height err max [cm] | time median [ms]")
    for distance in (2.0, 3.0, 4.0, 5.0, 6.0):
        scene = Scene(box((distance, 0.0), (0.6, 0.8, 0.6)), spheres=[], cylinders=[])
        normal_err, height_err, times, found = [], [], [], 0
        for seed in range(args.repeats):
            depth = scene.depth(k, pose, noise_rel=args.noise, seed=seed)
            t0 = time.process_time()
            report = find_surfaces_in_depth(depth, k, pose)
            times.append(time.process_time() - t0)
            tops = [s for s in report.surfaces if s.kind == "horizontal" and abs(s.centroid[0] - distance) < 0.5]
            if tops:
                found += 1
                s = tops[0]
                normal_err.append(math.degrees(math.acos(min(1.0, float(s.normal[2])))))
                height_err.append(abs(s.height_m - 0.6) * 100)
        err_n = f"{max(normal_err):.2f}" if normal_err else "-"
        err_h = f"{max(height_err):.2f}" if height_err else "-"
        print(f"{distance:9.1f} | {found}/{args.repeats} | {err_n:>20} | {err_h:>19} | "
              f"{statistics.median(times) * 1000:.0f}")
    cloud_rows(args.repeats)
    curved_depth_rows()
    real_rows(args.data)


def cloud_rows(repeats: int) -> None:
    """Cloud figures (module docstring)."""
    print("cloud | clouds with a false plane | median time [ms]")
    for name, make in (("cylinder", cylinder_cloud), ("sphere", sphere_cloud)):
        false, total, times = 0, 0, []
        for radius in (0.3, 0.4, 0.5):
            for noise_m in (0.003, 0.005):
                for seed in range(repeats):
                    cloud = make(np.random.default_rng(seed), radius, noise_m)
                    for voxel_m in (0.03, 0.04):
                        t0 = time.process_time()
                        report = find_surfaces_in_cloud(cloud, voxel_m=voxel_m)
                        times.append(time.process_time() - t0)
                        false += bool(report.surfaces)
                        total += 1
        print(f"{name} r 0.3-0.5 m | {false}/{total} | {statistics.median(times) * 1000:.0f}")
    found, normal_err, times = 0, [], []
    for seed in range(repeats):
        floor = noisy_floor_cloud(np.random.default_rng(seed), 0.005)
        t0 = time.process_time()
        report = find_surfaces_in_cloud(floor, voxel_m=0.03)
        times.append(time.process_time() - t0)
        if [s.kind for s in report.surfaces] == ["floor"]:
            found += 1
            normal_err.append(math.degrees(math.acos(min(1.0, abs(float(report.surfaces[0].normal[2]))))))
    err = f"{max(normal_err):.2f}" if normal_err else "-"
    print(f"floor 2.7 x 1.8 m, 5 mm noise, voxel 3 cm | one floor {found}/{repeats}, normal err max {err} deg | "
          f"{statistics.median(times) * 1000:.0f}")


def curved_depth_rows() -> None:
    """False planes on curved depth scenes (module docstring)."""
    false, total, times = 0, 0, []
    for width in (320, 640):
        k = CameraIntrinsics(300.0 * width / 320, 300.0 * width / 320, (width - 1) / 2, (width * 3 / 4 - 1) / 2,
                             width, width * 3 // 4)
        for pitch_deg in (10, 22):
            pose = camera_pose_from_mounting(1.2, math.radians(pitch_deg))
            for distance in (2.0, 3.5, 5.0):
                for radius in (0.15, 0.3, 0.5):
                    for noise in (0.0, 0.001, 0.003):
                        scene = Scene([], spheres=[((distance, -1.2 * radius - 0.4, radius + 0.2), radius)],
                                      cylinders=[((distance, 1.2 * radius + 0.3), radius, 0.0, 1.5)], floor=False)
                        depth = scene.depth(k, pose, noise_rel=noise, seed=int(distance * 10 + radius * 100))
                        t0 = time.process_time()
                        report = find_surfaces_in_depth(depth, k, pose)
                        times.append(time.process_time() - t0)
                        false += bool(report.surfaces)
                        total += 1
    print(f"depth: cylinder + sphere r 0.15-0.5 m, 2-5 m | scenes with a false plane {false}/{total} | "
          f"median time {statistics.median(times) * 1000:.0f} ms")


def floor_band_area_m2(frame: RealFrame, config: SurfaceConfig, stride: int = 2) -> float:
    """Footprint area [m^2] of the (strided) samples within twice the inlier distance of z = 0: the floor a
    perfect finder could report, by the finder's own footprint model (side^2 / |ray . up|)."""
    xyz = frame.depth_m[::stride, ::stride]
    k = frame.intrinsics
    v, u = np.mgrid[0:k.height:stride, 0:k.width:stride]
    pts = np.stack([(u - k.cx) / k.fx * xyz, (v - k.cy) / k.fy * xyz, xyz], axis=-1).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    rng = np.linalg.norm(pts, axis=1)
    pts, rng = pts[rng <= config.max_range_m], rng[rng <= config.max_range_m]
    rot, trans = frame.base_T_optical.rotation, frame.base_T_optical.translation
    height = pts @ rot[2] + trans[2]
    band = np.abs(height) < 2 * (config.distance_threshold_m + config.distance_threshold_rel * rng)
    side = pts[:, 2] * stride / math.sqrt(k.fx * k.fy) * np.sqrt(pts[:, 2] / rng)
    cos_up = np.clip(np.abs((pts / rng[:, None]) @ rot[2]), 0.05, 1.0)
    return float((side[band] ** 2 / cos_up[band]).sum())


def real_rows(data: Path) -> None:
    """Real-frames table (module docstring)."""
    if not data.is_dir():
        print(f"real frames: {data} not found, table skipped")
        return
    print("frame | floor found | floor area [m^2] | floor height [cm] | floor tilt [deg] | floor-band area [m^2] | "
          "surfaces | estimated camera height [m] | time [ms]")
    for frame in all_frames(data):
        config = SurfaceConfig(max_range_m=KITTI_MAX_RANGE_M) if frame.name.startswith("kitti") else SurfaceConfig()
        t0 = time.process_time()
        report = find_surfaces_in_depth(frame.depth_m, frame.intrinsics, frame.base_T_optical, config, floor_z_m=0.0)
        elapsed_ms = (time.process_time() - t0) * 1000
        floors = [s for s in report.surfaces if s.kind == "floor"]
        estimated = find_surfaces_in_depth(frame.depth_m, frame.intrinsics, frame.base_T_optical, config,
                                           floor_z_m=None).floor_z_m
        camera_height = "-" if estimated is None else f"{frame.base_T_optical.translation[2] - estimated:.2f}"
        if floors:
            best = max(floors, key=lambda s: s.extent.area_m2)
            floor = (f"yes | {best.extent.area_m2:.2f} | {best.centroid[2] * 100:.1f} | {best.tilt_deg:.1f}")
        else:
            floor = "no | - | - | -"
        print(f"{frame.name} | {floor} | {floor_band_area_m2(frame, config):.2f} | {len(report.surfaces)} | "
              f"{camera_height} | {elapsed_ms:.0f}")


if __name__ == "__main__":
    main()
