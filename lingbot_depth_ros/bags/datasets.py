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

Files of one frame are paired by their *frame key*: the longest run of digits in the file name
(``rgb_0000000050.png`` <-> ``gt_0000000050.png``; ``..._sync_image_0000000005_image_02.png`` ->
``0000000005``), or what ``--frame-key REGEX`` matches in it (its first group, if it has one). One
file per stream is one frame, whatever the names (``cam_02.png`` + ``lidar_data.bin`` + ``gt.png``).
A directory argument means every image (or .bin scan) in it.

KITTI camera: ``--camera`` is inferred from the paths (``image_02`` / ``image_03``); when the paths
do not tell (or disagree) and the calibration needs it, the command refuses. A calibration that states
the image size (``S_rect_<camera>``) must match the images.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.bags.files import BagFrame, BagSummary, bag_topics, write_bag
from lingbot_depth_ros.io.kitti import calib_entries, kitti_camera_from_velodyne, kitti_intrinsics, \
    load_kitti_depth_png, load_velodyne_bin, resolve_camera
from lingbot_depth_ros.evaluation.sparse_sampling import sample_random, sample_scanlines
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.io.depth_files import load_depth_file, load_rgb_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
START_NS = 1_700_000_000_000_000_000
NYU_INTRINSICS = (518.8579, 519.46961, 325.58245, 253.73617)


# ---------------------------------------------------------------------------------- file pairing
def frame_key(path: Path, pattern: str | None = None) -> str:
    """The frame key of a file: with ``pattern``, what the regex matches in the file name (its first
    group when it has groups); else the longest run of digits in the file stem (the last one on ties),
    or the stem when it has none.

    Raises:
        InputError: ``pattern`` is not a valid regex or does not match the name.
    """
    if pattern is not None:
        try:
            match = re.search(pattern, path.name)
        except re.error as exc:
            raise InputError(f"--frame-key {pattern!r} is not a valid regular expression: {exc}") from None
        if match is None:
            raise InputError(f"--frame-key {pattern!r} does not match the file name {path.name}")
        return match.group(1) if match.re.groups else match.group(0)
    runs = re.findall(r"\d+", path.stem)
    if not runs:
        return path.stem
    longest = max(len(r) for r in runs)
    return [r for r in runs if len(r) == longest][-1]


def expand_files(items: Sequence[str | Path], suffixes: tuple[str, ...], what: str) -> list[Path]:
    """Files named directly, plus every file with one of ``suffixes`` in named directories (sorted)."""
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
            if not found:
                raise InputError(f"{what}: directory {path} holds no {'/'.join(suffixes)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{what}: {path} does not exist")
    if not files:
        raise InputError(f"{what}: no files given")
    return files


def keyed(files: list[Path], what: str, pattern: str | None = None) -> dict[str, Path]:
    """frame key -> file (InputError when two files share a key)."""
    out: dict[str, Path] = {}
    for path in files:
        key = frame_key(path, pattern)
        if key in out:
            raise InputError(f"{what}: {out[key].name} and {path.name} have the same frame key '{key}'; when one "
                             "directory holds several streams, pass file patterns (e.g. dir/gt_*.png) instead; or say "
                             "where the key is with --frame-key REGEX")
        out[key] = path
    return out


def pair_files(primary: list[Path], others: dict[str, list[Path]], pattern: str | None = None
               ) -> list[tuple[str, Path, dict[str, Path]]]:
    """For each primary file (sorted by key), its partners with the same frame key (InputError if missing).

    One file per stream (and no ``pattern``) is one frame: paired whatever their names.
    """
    if pattern is None and len(primary) == 1 and all(len(files) == 1 for files in others.values()):
        return [(frame_key(primary[0]), primary[0], {name: files[0] for name, files in others.items()})]
    primary_by_key = keyed(primary, "rgb", pattern)
    other_by_key = {name: keyed(files, name, pattern) for name, files in others.items()}
    pairs = []
    for key in sorted(primary_by_key):
        partners = {}
        for name, by_key in other_by_key.items():
            if key not in by_key:
                raise InputError(f"no {name} file with frame key '{key}' for {primary_by_key[key].name} "
                                 f"(have keys: {', '.join(sorted(by_key)[:5])}...); name the files of one frame "
                                 "alike, or pass --frame-key REGEX")
            partners[name] = by_key[key]
        pairs.append((key, primary_by_key[key], partners))
    return pairs


# ---------------------------------------------------------------------------------- KITTI
def extrinsics_from_xyz_rpy(values: Sequence[float]) -> np.ndarray:
    """4x4 T_camera_lidar from x y z [m] roll pitch yaw [rad] (camera optical frame <- LiDAR frame)."""
    if len(values) != 6:
        raise InputError(f"--extrinsics takes 6 numbers (x y z roll pitch yaw), got {len(values)}")
    return RigidTransform.from_xyz_rpy(*[float(v) for v in values]).matrix()


def kitti_frames(rgb: Sequence[str | Path], gt: Sequence[str | Path], *, sparse: Sequence[str | Path] | None = None,
                 simulate_scanlines: int | None = None, calib: Path | None = None,
                 intrinsics: Sequence[float] | None = None, camera: str = "02",
                 lidar_scans: Sequence[str | Path] | None = None, camera_from_lidar: np.ndarray | None = None,
                 rate_hz: float = 10.0, start_ns: int = START_NS, seed: int = 0,
                 frame_key_pattern: str | None = None) -> Iterator[BagFrame]:
    """BagFrames from KITTI depth-completion files (paired by :func:`pair_files`, ``frame_key_pattern``).

    Args:
        rgb, gt: image and ground-truth (uint16 PNG, m * 256) files or directories.
        sparse: velodyne_raw projections (uint16 PNG, m * 256) — or ``simulate_scanlines`` rows kept
            from the ground truth (:func:`sample_scanlines`, seed ``seed``); exactly one of them.
        calib / intrinsics: ``calib_cam_to_cam.txt`` (P_rect_<camera>) or a K file, or (fx, fy, cx, cy).
        lidar_scans: raw velodyne .bin scans (written as PointCloud2 in the ``lidar`` frame).
        camera_from_lidar: 4x4 T_camera_lidar for the scans (written to /tf_static).
        rate_hz, start_ns: stamps ``start_ns + i / rate_hz`` (the depth-completion set has no times).
    """
    if (sparse is None) == (simulate_scanlines is None):
        raise InputError("KITTI: give exactly one sparse source: --sparse (velodyne_raw PNGs) or "
                         "--simulate-scanlines N (simulate from the ground truth)")
    if (calib is None) == (intrinsics is None):
        raise InputError("KITTI: give exactly one of --calib FILE or --intrinsics FX FY CX CY")
    others = {"gt": expand_files(gt, (".png",), "gt")}
    if sparse is not None:
        others["sparse"] = expand_files(sparse, (".png",), "sparse")
    if lidar_scans is not None:
        others["lidar"] = expand_files(lidar_scans, (".bin",), "lidar scan")
    pairs = pair_files(expand_files(rgb, IMAGE_SUFFIXES, "rgb"), others, frame_key_pattern)
    for index, (_, rgb_path, parts) in enumerate(pairs):
        image = load_rgb_file(rgb_path)
        height, width = image.shape[:2]
        gt_m = load_kitti_depth_png(parts["gt"])
        if gt_m.shape != (height, width):
            raise InputError(f"{parts['gt'].name} is {gt_m.shape[1]}x{gt_m.shape[0]}, {rgb_path.name} is "
                             f"{width}x{height}")
        if "sparse" in parts:
            sparse_m = load_kitti_depth_png(parts["sparse"])
            if sparse_m.shape != (height, width):
                raise InputError(f"{parts['sparse'].name} does not match the size of {rgb_path.name}")
        else:
            sparse_m = sample_scanlines(gt_m, n_rows=int(simulate_scanlines), seed=seed + index)
        k = (kitti_intrinsics(calib, width, height, camera) if calib is not None else
             CameraIntrinsics(*[float(v) for v in intrinsics], width=width, height=height))
        yield BagFrame(stamp_ns=start_ns + int(round(index * 1e9 / rate_hz)), rgb=image, intrinsics=k,
                       sparse_depth_m=sparse_m, depth_gt_m=gt_m,
                       lidar_points=load_velodyne_bin(parts["lidar"]) if "lidar" in parts else None,
                       camera_from_lidar=camera_from_lidar if "lidar" in parts else None)


# ---------------------------------------------------------------------------------- NYU
def nyu_frames(rgb: Sequence[str | Path], depth: Sequence[str | Path], *, intrinsics: Sequence[float] = NYU_INTRINSICS,
               sparse_points: int = 500, seed: int = 0, rate_hz: float = 10.0,
               start_ns: int = START_NS, frame_key_pattern: str | None = None) -> Iterator[BagFrame]:
    """BagFrames from NYU Depth V2 files: RGB, depth PNG [mm]; sparse = ``sparse_points`` random GT pixels
    (:func:`sample_random`, seed ``seed + frame index``), the standard NYU completion protocol."""
    pairs = pair_files(expand_files(rgb, IMAGE_SUFFIXES, "rgb"), {"depth": expand_files(depth, (".png",), "depth")},
                       frame_key_pattern)
    for index, (_, rgb_path, parts) in enumerate(pairs):
        image = load_rgb_file(rgb_path)
        height, width = image.shape[:2]
        gt_m = load_depth_file(parts["depth"])
        if gt_m.shape != (height, width):
            raise InputError(f"{parts['depth'].name} does not match the size of {rgb_path.name}")
        k = CameraIntrinsics(*[float(v) for v in intrinsics], width=width, height=height)
        yield BagFrame(stamp_ns=start_ns + int(round(index * 1e9 / rate_hz)), rgb=image, intrinsics=k,
                       sparse_depth_m=sample_random(gt_m, n_points=sparse_points, seed=seed + index), depth_gt_m=gt_m)


# ---------------------------------------------------------------------------------- procedural scene
def scene_frames(n_frames: int, *, width: int = 640, height: int = 480, seed: int = 0, lidar_beams: int = 32,
                 rate_hz: float = 10.0, lidar_points: bool = True, n_boxes: int = 6) -> Iterator[BagFrame]:
    """BagFrames of the procedural scene (:class:`~lingbot_depth_ros.synthetic.SceneGenerator`)."""
    from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator

    generator = SceneGenerator(width=width, height=height, seed=seed, lidar=LidarConfig.preset(lidar_beams),
                               rate_hz=rate_hz, n_boxes=n_boxes)
    for frame in generator.frames(n_frames):
        yield BagFrame(stamp_ns=frame.stamp_ns, rgb=frame.rgb, intrinsics=frame.intrinsics,
                       sparse_depth_m=frame.sparse_depth_m, depth_gt_m=frame.depth_gt_m,
                       lidar_points=frame.lidar_points_lidar if lidar_points else None,
                       camera_from_lidar=frame.camera_from_lidar if lidar_points else None,
                       camera_pose=frame.camera_pose)


def write_scene_bag(path: str | Path, n_frames: int, *, storage: str = "mcap", sparse_encoding: str = "16UC1",
                    **scene_options: int | float | bool) -> BagSummary:
    """Write ``n_frames`` of the procedural scene to a new bag (options as :func:`scene_frames`)."""
    if n_frames < 1:
        raise InputError(f"need at least one frame, got {n_frames}")
    return write_bag(path, scene_frames(n_frames, **scene_options), storage=storage,
                     sparse_encoding=sparse_encoding)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- CLI
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
    scene.add_argument("--no-lidar-points", action="store_true", help="do not write /camera/lidar_points and /tf_static")

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
    kitti.add_argument("--lidar-scan", nargs="+", help="raw velodyne .bin scans or directories (-> /camera/lidar_points)")
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
