"""Batch inputs: what an input folder is, how it splits into units, and the frames of one unit. No rclpy, no Ray.

Kinds of input (:func:`detect_kind`):

* ``bag``: a rosbag2 folder (metadata.yaml): colour images (sensor_msgs/Image of any encoding the node reads, or
  CompressedImage) with CameraInfo, optional sparse depth (Image 16UC1/32FC1 or compressedDepth) and ground
  truth, on the topics of :class:`BagTopics`. Split by time range (image log times) into units. Messages are
  decoded by the node's own decoders and camera model (:mod:`lingbot_depth_ros.messages`).
* ``nyu``: NYU Depth V2 files ``rgb_*.jpg`` + ``sync_depth_*.png`` (sparse = random GT pixels, the
  standard protocol, as ``lingbot-depth-bag nyu``).
* ``kitti``: KITTI depth-completion files ``rgb_*.png`` + ``gt_*.png`` (+ ``velodyne_raw_*.png`` sparse,
  else scan lines simulated from the ground truth), with ``calib_cam_to_cam.txt`` in the folder or
  given intrinsics (as ``lingbot-depth-bag kitti``).
* ``kitti_raw``: a KITTI raw drive as ``lingbot-depth fuse`` reads it (one detection,
  :func:`~lingbot_depth_ros.io.kitti.kitti_raw_layout`): ``image_0N/`` (the input, or the drive folder
  with ``--kitti-camera``) + ``velodyne_raw/image_0N/`` (16-bit, 1/256 m unless ``sparse_scale`` says otherwise)
  + ``calib/calib_cam_to_cam.txt`` (or given intrinsics / ``kitti_calib``); no ground truth.
* ``images``: a folder of image files, optional ``sparse/`` subfolder of depth files with the same
  stems (16-bit: millimetres, or ``sparse_scale``), intrinsics from ``camera_info.yaml`` in the folder or
  given intrinsics.

Frames carry sparse depth the way the node sees it (NaN = none; 16-bit values converted by the node's
:func:`~lingbot_depth_ros.io.depth_files.depth_m_from_units`) so the offline output equals the node's bit for
bit, and a depth file gives the very depth ``lingbot-depth predict`` reads from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.io.depth_files import depth_m_from_pixels
from lingbot_depth_ros.messages.camera_model import intrinsics_from_camera_info
from lingbot_depth_ros.messages.header import stamp_ns
from lingbot_depth_ros.messages.image import depth_m_from_message, rgb_from_message

if TYPE_CHECKING:
    from lingbot_depth_ros.batch.lidar import LidarProjector
    from lingbot_depth_ros.batch.poses import PoseOptions

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPARSE_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


@dataclass(frozen=True)
class BagTopics:
    """Topics read from bags (defaults: a depth node's inputs in namespace /camera, as ``lingbot-depth-bag``
    writes them). ``image_transport`` / ``sparse_transport`` as the node's parameters: ``compressed`` reads
    ``<image>/compressed``, ``compressedDepth`` reads ``<sparse>/compressedDepth``; ``auto`` takes whichever
    the bag has."""

    image: str = StreamTopics.image
    camera_info: str = StreamTopics.camera_info
    sparse_depth: str = StreamTopics.sparse_depth
    depth_gt: str = StreamTopics.depth_gt
    image_transport: str = "auto"
    sparse_transport: str = "auto"
    lidar_points: str = StreamTopics.lidar_points
    #: the node's ``sparse_input``: ``pointcloud`` reads ``lidar_points`` (PointCloud2) instead of the sparse
    #: depth image and projects it as the node does (:mod:`lingbot_depth_ros.batch.lidar`)
    sparse_input: str = "depth_image"
    #: the camera's poses (geometry_msgs/PoseStamped of the optical frame; also read with temporal.pose_source
    #: none, for the temporal metrics) and odometry (temporal.pose_source odometry)
    pose: str = StreamTopics.pose
    odom: str = StreamTopics.odom


@dataclass(frozen=True)
class DatasetOptions:
    """How dataset folders are read (as the ``lingbot-depth-bag`` options of the same names)."""

    intrinsics: tuple[float, float, float, float] | None = None  # fx fy cx cy [px]
    kitti_calib: str | None = None
    kitti_camera: str = "02"
    kitti_scanlines: int = 64
    nyu_sparse_points: int = 500
    seed: int = 0
    #: metres per stored unit of 16-bit sparse files (image folders' sparse/, KITTI raw velodyne_raw); None:
    #: millimetres for image folders, 1/256 for KITTI raw
    sparse_scale: float | None = None
    #: a pose file (4x4, KITTI 3x4, TUM) for a folder input (batch: one input); None: ``poses.txt`` beside the
    #: images when there is one (:func:`folder_pose_file`)
    poses_file: str | None = None


@dataclass(frozen=True)
class Unit:
    """A slice of one input: frames ``[start, stop)`` (indices in the input's frame order).

    ``span_ns``: for bags, the image log-time range [first, next unit's first) [ns]; ``files``: for
    folders, per frame (key, {stream: path}).
    """

    input_id: str
    kind: str
    path: str
    start: int
    stop: int
    span_ns: tuple[int, int] | None = None
    files: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.input_id}:{self.start}-{self.stop}"


@dataclass
class Frame:
    """One frame ready for the pipeline.

    ``rgb``: (H, W, 3) uint8. ``sparse_m``: (H, W) float32 [m], NaN = none (as the node converts it), or
    None. ``gt_m``: (H, W) float32 [m], 0 = none, or None. ``name``: output file stem.
    ``camera_info``: the bag's CameraInfo (rosbags message) when there is one. ``world_T_camera``: the camera's
    4x4 pose (:mod:`lingbot_depth_ros.batch.poses`) when the sequence has poses, else None with ``pose_problem``
    saying why when it has poses but none for this frame.
    """

    index: int
    name: str
    stamp_ns: int
    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    sparse_m: np.ndarray | None = None
    gt_m: np.ndarray | None = None
    camera_info: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    world_T_camera: np.ndarray | None = None
    pose_problem: str | None = None


def detect_kind(path: Path, kitti_camera: str = "02") -> str:
    """``bag``, ``nyu``, ``kitti``, ``kitti_raw`` or ``images`` (InputError when the folder is none of them);
    ``kitti_camera``: the camera of a KITTI raw drive folder given as a whole."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_file() and path.suffix in (".mcap", ".db3"):
        path = path.parent
    if not path.is_dir():
        raise InputError(f"input {path} is not a folder (a rosbag2 folder, a dataset folder or an image folder)")
    if (path / "metadata.yaml").is_file():
        return "bag"
    from lingbot_depth_ros.io.kitti import kitti_raw_layout

    layout = kitti_raw_layout(path, kitti_camera)
    if layout is not None and layout.sparse is not None:
        return "kitti_raw"
    names = [p.name for p in path.iterdir() if p.is_file()]
    if any(n.startswith("sync_depth_") and n.endswith(".png") for n in names):
        return "nyu"
    if any(n.startswith("gt_") and n.endswith(".png") for n in names):
        return "kitti"
    if any(Path(n).suffix.lower() in IMAGE_SUFFIXES for n in names):
        return "images"
    raise InputError(f"{path} is neither a rosbag2 folder (metadata.yaml), a KITTI/NYU dataset folder nor a "
                     "folder of images")


# ---------------------------------------------------------------------------------- node conversions
def sparse_from_array_m(depth_m: np.ndarray) -> np.ndarray:
    """A sparse depth array [m] (0 = none) as the node would receive it over a 16UC1 [mm] topic."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0)
    mm = np.where(valid, np.rint(np.where(valid, depth_m, 0) * 1000.0), 0)
    return depth_m_from_pixels(np.clip(mm, 0, 65535).astype(np.uint16))


# ---------------------------------------------------------------------------------- bags
def _topic_choice(available: dict[str, str], base: str, transport: str, alt_suffix: str) -> str | None:
    """Which topic to read for ``base``: the raw one or ``base + alt_suffix`` (per ``transport``)."""
    alt = base.rstrip("/") + alt_suffix
    if transport == "auto":
        return base if base in available else (alt if alt in available else None)
    topic = base if transport == "raw" else alt
    return topic if topic in available else None


def bag_layout(path: Path, topics: BagTopics) -> dict[str, str]:
    """role -> topic present in the bag (image and camera_info required)."""
    from lingbot_depth_ros.bags.files import bag_topics

    available = {name: t for name, (t, _) in bag_topics(path).items()}
    layout = {}
    image = _topic_choice(available, topics.image, topics.image_transport, "/compressed")
    if image is None:
        raise InputError(f"bag {path} has no image topic {topics.image} (or {topics.image}/compressed); its "
                         f"topics: {', '.join(sorted(available)) or 'none'} (choose with --image-topic)")
    layout["image"] = image
    if topics.camera_info not in available:
        raise InputError(f"bag {path} has no camera_info topic {topics.camera_info} (choose with "
                         "--camera-info-topic)")
    layout["info"] = topics.camera_info
    if topics.sparse_input == "pointcloud":
        if topics.lidar_points not in available:
            raise InputError(f"bag {path} has no LiDAR topic {topics.lidar_points} (sparse_input pointcloud; choose "
                             "with --lidar-topic)")
        layout["lidar"] = topics.lidar_points
    else:
        sparse = _topic_choice(available, topics.sparse_depth, topics.sparse_transport, "/compressedDepth")
        if sparse is not None:
            layout["sparse"] = sparse
    if topics.depth_gt in available:
        layout["gt"] = topics.depth_gt
    return layout


def scan_bag(path: Path, topics: BagTopics) -> list[int]:
    """Log times [ns] of the bag's colour images, in order (one pass over the image topic only)."""
    from lingbot_depth_ros.bags.files import read_raw

    layout = bag_layout(path, topics)
    return [raw.log_time_ns for raw in read_raw(path, [layout["image"]])]


def bag_units(input_id: str, path: Path, log_times: Sequence[int], unit_frames: int) -> list[Unit]:
    """Units of ``unit_frames`` images; a unit's span runs to the next unit's first image (end: +inf)."""
    units = []
    for start in range(0, len(log_times), unit_frames):
        stop = min(start + unit_frames, len(log_times))
        end = log_times[stop] if stop < len(log_times) else 2 ** 63 - 1
        units.append(Unit(input_id, "bag", str(path), start, stop, span_ns=(int(log_times[start]), int(end))))
    return units


def _nearest_partner(by_stamp: dict[int, Any], stamp: int, slop_ns: int) -> Any:
    if stamp in by_stamp:
        return by_stamp[stamp]
    best = min(by_stamp, key=lambda s: abs(s - stamp), default=None)
    return by_stamp[best] if best is not None and abs(best - stamp) <= slop_ns else None


def bag_pose_topic(path: Path, poses: PoseOptions) -> str | None:
    """The bag topic the frames' poses come from, or None (pose source none and no pose topic in the bag).

    Raises:
        InputError: ``poses.source`` names a source whose topic the bag lacks.
    """
    from lingbot_depth_ros.bags.files import bag_topics

    topic = poses.bag_topic()
    if topic in bag_topics(path):
        return topic
    if poses.source == "none":
        return None
    option = {"odometry": "--odom-topic", "tf": "its /tf"}.get(poses.source, "--pose-topic")
    raise InputError(f"bag {path} has no {topic} for temporal.pose_source {poses.source} (choose with {option}, or "
                     "temporal.pose_source none for a standing camera)")


def read_bag_unit(unit: Unit, topics: BagTopics, *, rectified: bool = False, slop_s: float = 0.05,
                  window_s: float = 1.0, lidar: LidarProjector | None = None,
                  poses: PoseOptions | None = None) -> Iterator[Frame]:
    """Frames of a bag unit: images logged in ``unit.span_ns`` with their partners (same header stamp, else
    the nearest within ``slop_s``) among messages logged up to ``window_s`` around the span. With
    ``topics.sparse_input`` pointcloud the sparse depth is the LiDAR cloud projected by ``lidar``. With ``poses``
    each frame gets its pose from the bag's pose / odometry / tf messages (:func:`bag_pose_topic`)."""
    from lingbot_depth_ros.bags.files import open_reader
    from lingbot_depth_ros.bags.messages import TYPESTORE

    assert unit.span_ns is not None
    layout = bag_layout(Path(unit.path), topics)
    pose_topic = bag_pose_topic(Path(unit.path), poses) if poses is not None else None
    if pose_topic is not None:
        layout["pose"] = pose_topic
    pose_messages: list[tuple[int, Any]] = []
    roles = {topic: role for role, topic in layout.items()}
    window_ns, slop_ns = int(window_s * 1e9), int(slop_s * 1e9)
    first, end = unit.span_ns
    images: list[Any] = []
    partners: dict[str, dict[int, Any]] = {"info": {}, "sparse": {}, "gt": {}, "lidar": {}}
    reader = open_reader(unit.path)
    try:
        connections = [c for c in reader.connections if c.topic in roles]
        stop = end + window_ns if end < 2 ** 63 - 1 - window_ns else None
        for connection, log_ns, data in reader.messages(connections=connections, start=max(first - window_ns, 0),
                                                        stop=stop):
            role = roles[connection.topic]
            if role == "image" and not first <= log_ns < end:
                continue
            msg = TYPESTORE.deserialize_cdr(bytes(data), connection.msgtype)
            if role == "image":
                images.append(msg)
            elif role == "pose":
                pose_messages.append((stamp_ns(msg) if hasattr(msg, "header") else log_ns, msg))
            else:
                partners[role][stamp_ns(msg)] = msg
    finally:
        reader.close()
    if len(images) != unit.stop - unit.start:
        raise InputError(f"bag {unit.path}: expected {unit.stop - unit.start} images in unit {unit.key}, read "
                         f"{len(images)} (bag changed since it was scanned?)")
    track = None
    if poses is not None and pose_topic is not None:
        from lingbot_depth_ros.batch.poses import PoseTrack

        track = PoseTrack(poses.max_age_s)
        image_frames = {image.header.frame_id for image in images}
        for pose_stamp, msg in pose_messages:
            for image_frame in image_frames if poses.source == "tf" else [None]:
                track.add_message(msg, poses, pose_stamp, image_frame)
    for offset, image in enumerate(images):
        stamp = stamp_ns(image)
        info = _nearest_partner(partners["info"], stamp, slop_ns)
        if info is None:
            raise InputError(f"image at stamp {stamp} ns on {layout['image']} has no {layout['info']} within "
                             f"{slop_s} s")
        rgb = rgb_from_message(image)
        height, width = rgb.shape[:2]
        sparse = _nearest_partner(partners["sparse"], stamp, slop_ns)
        gt = _nearest_partner(partners["gt"], stamp, slop_ns)
        sparse_m = depth_m_from_message(sparse) if sparse is not None else None
        cloud = _nearest_partner(partners["lidar"], stamp, slop_ns)
        if cloud is not None:
            if lidar is None:
                from lingbot_depth_ros.batch.lidar import LidarProjector

                lidar = LidarProjector({"camera.rectified": rectified})
            sparse_m = lidar.sparse_depth(cloud, info, width, height)
        gt_m = None
        if gt is not None:
            gt_m = np.nan_to_num(depth_m_from_message(gt), nan=0.0)
        for name, depth in (("sparse depth", sparse_m), ("ground truth", gt_m)):
            if depth is not None and depth.shape != (height, width):
                raise InputError(f"{name} at stamp {stamp} ns is {depth.shape[1]}x{depth.shape[0]}, the image "
                                 f"{width}x{height}")
        world_T_camera, pose_problem = track.at(stamp) if track is not None else (None, None)
        yield Frame(index=unit.start + offset, name=str(stamp), stamp_ns=stamp, rgb=rgb,
                    intrinsics=intrinsics_from_camera_info(info, width, height, rectified), sparse_m=sparse_m,
                    gt_m=gt_m, camera_info=info, extras={"header": image.header}, world_T_camera=world_T_camera,
                    pose_problem=pose_problem)


# ---------------------------------------------------------------------------------- folders
def _files(folder: Path, prefix: str, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith(prefix)
                  and p.suffix.lower() in suffixes)


def folder_pairs(path: Path, kind: str, camera: str = "02") -> list[tuple[str, dict[str, Path]]]:
    """(frame key, {stream: file}) of a dataset / image folder, in key order (``camera``: of a KITTI raw drive
    folder given as a whole)."""
    from lingbot_depth_ros.bags.datasets import pair_files

    if kind == "nyu":
        pairs = pair_files(_files(path, "rgb_", IMAGE_SUFFIXES), {"depth": _files(path, "sync_depth_", (".png",))})
    elif kind == "kitti":
        others = {"gt": _files(path, "gt_", (".png",))}
        sparse = _files(path, "velodyne_raw_", (".png",))
        if sparse:
            others["sparse"] = sparse
        pairs = pair_files(_files(path, "rgb_", IMAGE_SUFFIXES), others)
    elif kind == "kitti_raw":
        from lingbot_depth_ros.io.kitti import kitti_raw_layout

        layout = kitti_raw_layout(path, camera)
        if layout is None or layout.sparse is None:
            raise InputError(f"{path} is no longer a KITTI raw drive (image_0N + velodyne_raw/image_0N)")
        by_stem = {p.stem: p for p in _files(layout.sparse, "", (".png",))}
        return [(p.stem, {"rgb": p, **({"sparse": by_stem[p.stem]} if p.stem in by_stem else {})})
                for p in _files(layout.images, "", IMAGE_SUFFIXES)]
    else:
        images = _files(path, "", IMAGE_SUFFIXES)
        sparse_dir = path / "sparse"
        by_stem = {p.stem: p for p in _files(sparse_dir, "", SPARSE_SUFFIXES)} if sparse_dir.is_dir() else {}
        return [(p.stem, {"rgb": p, **({"sparse": by_stem[p.stem]} if p.stem in by_stem else {})}) for p in images]
    return [(key, {"rgb": rgb, **parts}) for key, rgb, parts in pairs]


def folder_units(input_id: str, path: Path, kind: str, unit_frames: int, camera: str = "02") -> list[Unit]:
    pairs = folder_pairs(path, kind, camera)
    units = []
    for start in range(0, len(pairs), unit_frames):
        chunk = pairs[start:start + unit_frames]
        files = tuple((key, tuple(sorted((k, str(v)) for k, v in parts.items()))) for key, parts in chunk)
        units.append(Unit(input_id, kind, str(path), start, start + len(chunk), files=files))
    return units


def _folder_intrinsics(path: Path, options: DatasetOptions, width: int, height: int) -> CameraIntrinsics:
    if options.intrinsics is not None:
        fx, fy, cx, cy = options.intrinsics
        return CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)
    yaml_path = path / "camera_info.yaml"
    if yaml_path.is_file():
        from lingbot_depth_ros.io.camera_info_yaml import load_camera_info_yaml

        k = load_camera_info_yaml(yaml_path)
        if (k.width, k.height) != (width, height):
            raise InputError(f"{yaml_path} is for {k.width}x{k.height} images but the images are {width}x{height}")
        return k
    raise InputError(f"image folder {path}: no intrinsics (put a camera_info.yaml in it or pass --intrinsics)")


def sparse_file_m(path: str | Path, m_per_unit: float | None) -> np.ndarray:
    """A sparse depth file as the node sees it: (H, W) float32 [m], NaN = none; read by the very loader of
    ``lingbot-depth predict`` (16-bit values x ``m_per_unit``, None = mm), so both give the same depth."""
    from lingbot_depth_ros.io.depth_files import load_depth_file

    depth = load_depth_file(path, m_per_unit=m_per_unit)
    depth[depth == 0] = np.nan
    return depth


def _kitti_raw_intrinsics(path: Path, options: DatasetOptions, width: int, height: int) -> CameraIntrinsics:
    from lingbot_depth_ros.io.kitti import kitti_intrinsics, kitti_raw_layout

    if options.intrinsics is not None:
        fx, fy, cx, cy = options.intrinsics
        return CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)
    layout = kitti_raw_layout(path, options.kitti_camera)
    calib = Path(options.kitti_calib) if options.kitti_calib else (layout.calib if layout else None)
    if calib is None:
        raise InputError(f"KITTI raw drive {path}: no calib/calib_cam_to_cam.txt; pass --kitti-calib or --intrinsics")
    return kitti_intrinsics(calib, width, height, camera=layout.camera if layout else options.kitti_camera)


def folder_pose_file(path: Path, kind: str, options: DatasetOptions, camera: str = "02") -> Path | None:
    """The pose file of a folder input: ``options.poses_file``, else ``poses.txt`` beside the images (image
    folders, KITTI raw drives as ``lingbot-depth fuse`` reads them), else None."""
    if options.poses_file is not None:
        return Path(options.poses_file)
    images = path
    if kind == "kitti_raw":
        from lingbot_depth_ros.io.kitti import kitti_raw_layout

        layout = kitti_raw_layout(path, camera)
        images = layout.images if layout is not None else path
    candidate = images / "poses.txt"
    return candidate if kind in ("images", "kitti_raw") and candidate.is_file() else None


def folder_poses(path: Path, kind: str, options: DatasetOptions) -> list[np.ndarray] | None:
    """One 4x4 pose per frame of a folder input (in frame order) from its pose file, or None without one.

    Raises:
        InputError: a corrupt pose file or fewer poses than frames (:func:`~lingbot_depth_ros.batch.poses.
            load_pose_file`).
    """
    from lingbot_depth_ros.batch.poses import load_pose_file

    pose_file = folder_pose_file(path, kind, options, options.kitti_camera)
    if pose_file is None:
        return None
    names = [parts["rgb"].name for _, parts in folder_pairs(path, kind, options.kitti_camera)]
    return load_pose_file(pose_file, names)


def read_folder_unit(unit: Unit, options: DatasetOptions) -> Iterator[Frame]:
    """Frames of a dataset / image-folder unit (sparse and stamps as ``lingbot-depth-bag`` makes them; poses
    from the folder's pose file, :func:`folder_poses`)."""
    for frame, pose in zip(_read_folder_frames(unit, options), _unit_poses(unit, options)):
        frame.world_T_camera = pose
        yield frame


def _unit_poses(unit: Unit, options: DatasetOptions) -> Iterator[np.ndarray | None]:
    poses = folder_poses(Path(unit.path), unit.kind, options)
    for index in range(unit.start, unit.stop):
        yield poses[index] if poses is not None else None


def _read_folder_frames(unit: Unit, options: DatasetOptions) -> Iterator[Frame]:
    from lingbot_depth_ros.bags import datasets as bag_tools
    from lingbot_depth_ros.io.depth_files import KITTI_M_PER_UNIT, load_rgb_file

    path = Path(unit.path)
    keys = [key for key, _ in unit.files]
    parts = [dict(p) for _, p in unit.files]
    start_ns = bag_tools.START_NS + int(round(unit.start * 1e9 / 10.0))
    if unit.kind in ("images", "kitti_raw"):
        scale = options.sparse_scale
        if unit.kind == "kitti_raw" and scale is None:
            scale = KITTI_M_PER_UNIT  # the layout's own unit
        for offset, (key, files) in enumerate(zip(keys, parts)):
            rgb = load_rgb_file(files["rgb"])
            sparse_m = sparse_file_m(files["sparse"], scale) if "sparse" in files else None
            height, width = rgb.shape[:2]
            if sparse_m is not None and sparse_m.shape != (height, width):
                raise InputError(f"{files['sparse']} is {sparse_m.shape[1]}x{sparse_m.shape[0]}, {files['rgb']} is "
                                 f"{width}x{height}")
            intrinsics = _kitti_raw_intrinsics(path, options, width, height) if unit.kind == "kitti_raw" \
                else _folder_intrinsics(path, options, width, height)
            yield Frame(unit.start + offset, key, start_ns + offset * 100_000_000, rgb, intrinsics, sparse_m=sparse_m)
        return
    if unit.kind == "nyu":
        frames = bag_tools.nyu_frames([p["rgb"] for p in parts], [p["depth"] for p in parts],
                                      sparse_points=options.nyu_sparse_points, seed=options.seed + unit.start,
                                      start_ns=start_ns, intrinsics=options.intrinsics or bag_tools.NYU_INTRINSICS)
    else:
        calib = Path(options.kitti_calib) if options.kitti_calib else path / "calib_cam_to_cam.txt"
        if options.intrinsics is None and not calib.is_file():
            raise InputError(f"KITTI folder {path}: no calib_cam_to_cam.txt in it; pass --kitti-calib or "
                             "--intrinsics")
        sparse = [p["sparse"] for p in parts] if all("sparse" in p for p in parts) else None
        frames = bag_tools.kitti_frames(
            [p["rgb"] for p in parts], [p["gt"] for p in parts], sparse=sparse,
            simulate_scanlines=None if sparse else options.kitti_scanlines,
            calib=None if options.intrinsics else calib, intrinsics=options.intrinsics, camera=options.kitti_camera,
            seed=options.seed + unit.start, start_ns=start_ns)
    for offset, (key, frame) in enumerate(zip(keys, frames)):
        sparse_m = sparse_from_array_m(frame.sparse_depth_m) if frame.sparse_depth_m is not None else None
        yield Frame(unit.start + offset, key, frame.stamp_ns, frame.rgb, frame.intrinsics, sparse_m=sparse_m,
                    gt_m=frame.depth_gt_m)


def pose_options(values: Mapping[str, Any], topics: BagTopics, dataset: DatasetOptions) -> PoseOptions:
    """Where the frames' poses come from: the node parameters ``values`` (``temporal.*``), the bag topics and the
    dataset's pose file."""
    from lingbot_depth_ros.batch.poses import PoseOptions

    return PoseOptions.from_values(values, pose_topic=topics.pose, odom_topic=topics.odom,
                                   poses_file=dataset.poses_file)


def read_unit(unit: Unit, topics: BagTopics, options: DatasetOptions, *, rectified: bool = False,
              slop_s: float = 0.05, lidar: LidarProjector | None = None,
              poses: PoseOptions | None = None) -> Iterator[Frame]:
    """Frames of any unit (``lidar``: the projection of bag PointCloud2 input, see :func:`read_bag_unit`;
    ``poses``: where a bag's poses come from)."""
    if unit.kind == "bag":
        return read_bag_unit(unit, topics, rectified=rectified, slop_s=slop_s, lidar=lidar, poses=poses)
    return read_folder_unit(unit, options)


def plan_input(input_id: str, path: Path, topics: BagTopics, unit_frames: int,
               kitti_camera: str = "02") -> list[Unit]:
    """The units of one input (a bag is scanned: one pass over its image topic)."""
    kind = detect_kind(path, kitti_camera)
    if kind == "bag":
        if path.is_file():
            path = path.parent
        return bag_units(input_id, path, scan_bag(path, topics), unit_frames)
    return folder_units(input_id, path, kind, unit_frames, kitti_camera)
