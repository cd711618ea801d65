"""Dataset converters of ``lingbot-depth-bag`` (the command line is :mod:`lingbot_depth_ros.cli.bag`): KITTI
depth completion, NYU Depth V2 and the procedural scene as rosbag2 evaluation frames. No rclpy needed.

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

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from lingbot_depth_ros.bags.files import BagFrame, BagSummary, SparseEncoding, write_bag
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.io.depth_files import load_depth_file, load_rgb_file
from lingbot_depth_ros.io.kitti import kitti_intrinsics, load_kitti_depth_png, load_velodyne_bin
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines

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
def intrinsics_from_values(values: Sequence[float], width: int, height: int) -> CameraIntrinsics:
    """Intrinsics from fx fy cx cy [px] of an image of ``width`` x ``height`` pixels."""
    if len(values) != 4:
        raise InputError(f"--intrinsics takes 4 numbers (fx fy cx cy), got {len(values)}")
    fx, fy, cx, cy = (float(v) for v in values)
    return CameraIntrinsics(fx, fy, cx, cy, width=width, height=height)


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
        if simulate_scanlines is None:  # then the velodyne_raw PNGs (exactly one sparse source, checked above)
            sparse_m = load_kitti_depth_png(parts["sparse"])
            if sparse_m.shape != (height, width):
                raise InputError(f"{parts['sparse'].name} does not match the size of {rgb_path.name}")
        else:
            sparse_m = sample_scanlines(gt_m, n_rows=int(simulate_scanlines), seed=seed + index)
        if calib is not None:
            k = kitti_intrinsics(calib, width, height, camera)
        else:
            assert intrinsics is not None  # exactly one of calib / intrinsics (checked above)
            k = intrinsics_from_values(intrinsics, width, height)
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
        k = intrinsics_from_values(intrinsics, width, height)
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


class SceneOptions(TypedDict, total=False):
    """The keyword options of :func:`scene_frames`."""

    width: int
    height: int
    seed: int
    lidar_beams: int
    rate_hz: float
    lidar_points: bool
    n_boxes: int


def write_scene_bag(path: str | Path, n_frames: int, *, storage: str = "mcap",
                    sparse_encoding: SparseEncoding = "16UC1", **scene_options: Unpack[SceneOptions]) -> BagSummary:
    """Write ``n_frames`` of the procedural scene to a new bag (options as :func:`scene_frames`)."""
    if n_frames < 1:
        raise InputError(f"need at least one frame, got {n_frames}")
    return write_bag(path, scene_frames(n_frames, **scene_options), storage=storage, sparse_encoding=sparse_encoding)
