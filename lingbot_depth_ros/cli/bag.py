"""``lingbot-depth-bag``: turn datasets (KITTI depth completion, NYU Depth V2) or the procedural scene
into rosbag2 evaluation bags (.mcap or .db3), and show what a bag holds. No rclpy needed.

Examples::

    lingbot-depth-bag scene out/scene_bag --frames 20 --width 640 --height 480 --lidar-beams 32
    lingbot-depth-bag kitti out/kitti_bag --rgb ../shared/data/kitti_gt/rgb_*.png \\
        --gt ../shared/data/kitti_gt/gt_*.png --intrinsics 721.5377 721.5377 609.5593 172.854 \\
        --simulate-scanlines 64
    lingbot-depth-bag kitti out/kitti_bag --rgb image_02/data --sparse proj_depth/velodyne_raw/image_02 \\
        --gt proj_depth/groundtruth/image_02 --calib calib_cam_to_cam.txt \\
        --lidar-scan velodyne_points/data --velo-to-cam calib_velo_to_cam.txt
    lingbot-depth-bag nyu out/nyu_bag --rgb ../shared/data/nyu/rgb_*.jpg \\
        --depth ../shared/data/nyu/sync_depth_*.png --sparse-points 500
    lingbot-depth-bag info out/kitti_bag

The converters are :mod:`lingbot_depth_ros.bags.datasets` (file pairing by frame key, KITTI camera
resolution: see there). This module parses the command line.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from lingbot_depth_ros.bags.datasets import (
    NYU_INTRINSICS,
    extrinsics_from_xyz_rpy,
    kitti_frames,
    nyu_frames,
    write_scene_bag,
)
from lingbot_depth_ros.bags.files import BagSummary, bag_topics, write_bag
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.io.kitti import calib_entries, kitti_camera_from_velodyne, resolve_camera


def _add_output_options(p: argparse.ArgumentParser, sparse_default: str) -> None:
    p.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    p.add_argument("--storage", choices=("mcap", "db3", "sqlite3"), default="mcap",
                   help="rosbag2 storage: mcap (default) or db3/sqlite3")
    p.add_argument("--sparse-encoding", choices=("16UC1", "32FC1"), default=sparse_default,
                   help=f"sparse depth encoding: 16UC1 millimetres or 32FC1 metres (default {sparse_default})")
    p.add_argument("--rate", type=float, default=10.0, help="frame rate of the stamps [Hz] (default 10)")
    p.add_argument("--frame-key", metavar="REGEX",
                   help="pair the files of a frame by what REGEX matches in their names (its first group if it has "
                        "one) instead of the longest digit run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lingbot-depth-bag", description=__doc__.split("\n\n")[0].replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    scene = sub.add_parser("scene", help="procedural room scene (RGB, GT depth, simulated LiDAR)")
    _add_output_options(scene, "16UC1")
    scene.add_argument("--frames", type=int, default=20, help="number of frames (default 20)")
    scene.add_argument("--width", type=int, default=640)
    scene.add_argument("--height", type=int, default=480)
    scene.add_argument("--seed", type=int, default=0)
    scene.add_argument("--lidar-beams", type=int, default=32, help="simulated LiDAR beams: 16, 32, 64 (default 32)")
    scene.add_argument("--boxes", type=int, default=6, help="obstacle boxes in the room (default 6)")
    scene.add_argument("--no-lidar-points", action="store_true",
                       help="do not write /camera/lidar_points and /tf_static")

    kitti = sub.add_parser("kitti", help="KITTI depth completion (RGB, velodyne_raw or simulated, groundtruth)")
    _add_output_options(kitti, "32FC1")
    kitti.add_argument("--rgb", nargs="+", required=True, help="RGB files or directories")
    kitti.add_argument("--gt", nargs="+", required=True, help="groundtruth PNGs (uint16, m*256) or directories")
    kitti.add_argument("--sparse", nargs="+", help="velodyne_raw PNGs (uint16, m*256) or directories")
    kitti.add_argument("--simulate-scanlines", type=int, metavar="N",
                       help="no velodyne_raw: keep N scan-line rows of the ground truth as sparse input")
    kitti.add_argument("--calib", type=Path, help="calib_cam_to_cam.txt (P_rect_02) or a 9-number K file")
    kitti.add_argument("--intrinsics", nargs=4, type=float, metavar=("FX", "FY", "CX", "CY"))
    kitti.add_argument("--camera", choices=("00", "01", "02", "03"),
                       help="rectified camera of --calib and --velo-to-cam (default: image_0N in the paths; "
                            "refused when they do not tell)")
    kitti.add_argument("--lidar-scan", nargs="+",
                       help="raw velodyne .bin scans or directories (-> /camera/lidar_points)")
    kitti.add_argument("--velo-to-cam", type=Path, help="calib_velo_to_cam.txt for --lidar-scan (with --calib: "
                       "rectified camera --camera)")
    kitti.add_argument("--extrinsics", nargs=6, type=float, metavar=("X", "Y", "Z", "ROLL", "PITCH", "YAW"),
                       help="T_camera_lidar for --lidar-scan: camera optical frame <- LiDAR [m, rad]")
    kitti.add_argument("--seed", type=int, default=0)

    nyu = sub.add_parser("nyu", help="NYU Depth V2 (RGB, depth PNG mm; random sparse samples)")
    _add_output_options(nyu, "16UC1")
    nyu.add_argument("--rgb", nargs="+", required=True, help="RGB files or directories")
    nyu.add_argument("--depth", nargs="+", required=True, help="depth PNGs (uint16 mm) or directories")
    nyu.add_argument("--intrinsics", nargs=4, type=float, metavar=("FX", "FY", "CX", "CY"), default=NYU_INTRINSICS,
                     help="default: the official NYU Depth V2 Kinect intrinsics")
    nyu.add_argument("--sparse-points", type=int, default=500, help="random GT samples per frame (default 500)")
    nyu.add_argument("--seed", type=int, default=0)

    info = sub.add_parser("info", help="list the topics of a bag")
    info.add_argument("bag", type=Path)
    return parser


def _print_summary(summary: BagSummary) -> None:
    span = (summary.end_ns - summary.start_ns) / 1e9
    print(f"wrote {summary.path} ({summary.storage}): {summary.n_frames} frames over {span:.2f} s")
    for topic, count in summary.topic_counts.items():
        print(f"  {topic}: {count}")


def run(args: argparse.Namespace) -> int:
    if args.command == "info":
        for topic, (msgtype, count) in bag_topics(args.bag).items():
            print(f"{topic}  {msgtype}  {count}")
        return 0
    if args.rate <= 0 or not math.isfinite(args.rate):
        raise InputError(f"--rate must be > 0, got {args.rate}")
    storage = args.storage
    if args.command == "scene":
        summary = write_scene_bag(args.output, args.frames, storage=storage, sparse_encoding=args.sparse_encoding,
                                  width=args.width, height=args.height, seed=args.seed, lidar_beams=args.lidar_beams,
                                  rate_hz=args.rate, lidar_points=not args.no_lidar_points, n_boxes=args.boxes)
    elif args.command == "kitti":
        calib_needs_camera = args.calib is not None and args.calib.is_file() and any(
            name.startswith("P_rect_") for name in calib_entries(args.calib))
        camera = resolve_camera(args.camera, [*args.rgb, *args.gt, *(args.sparse or [])], calib_needs_camera)
        camera_from_lidar = None
        if args.lidar_scan:
            if (args.velo_to_cam is None) == (args.extrinsics is None):
                raise InputError("--lidar-scan needs exactly one of --velo-to-cam FILE or --extrinsics X Y Z R P Y")
            camera_from_lidar = (kitti_camera_from_velodyne(args.velo_to_cam, args.calib, camera)
                                 if args.velo_to_cam is not None else extrinsics_from_xyz_rpy(args.extrinsics))
        frames = kitti_frames(args.rgb, args.gt, sparse=args.sparse, simulate_scanlines=args.simulate_scanlines,
                              calib=args.calib, intrinsics=args.intrinsics, camera=camera,
                              lidar_scans=args.lidar_scan, camera_from_lidar=camera_from_lidar,
                              rate_hz=args.rate, seed=args.seed, frame_key_pattern=args.frame_key)
        summary = write_bag(args.output, frames, storage=storage, sparse_encoding=args.sparse_encoding)
    else:
        frames = nyu_frames(args.rgb, args.depth, intrinsics=args.intrinsics, sparse_points=args.sparse_points,
                            seed=args.seed, rate_hz=args.rate, frame_key_pattern=args.frame_key)
        summary = write_bag(args.output, frames, storage=storage, sparse_encoding=args.sparse_encoding)
    _print_summary(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-bag``; returns the exit status (2 = bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LingbotDepthError as exc:
        print(f"lingbot-depth-bag: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
