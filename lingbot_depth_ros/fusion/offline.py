"""``lingbot-depth fuse BAG|FOLDER --out DIR``: offline TSDF fusion (no rclpy), writes fused.ply + mesh.ply.

Inputs:

* a rosbag2 (``lingbot-depth-bag`` / scene bags, or recorded node output): frames from
  :func:`~lingbot_depth_ros.bags.files.read_frames`; depth = the recorded ``--depth-topic`` when the
  bag has it, else an estimator run on image + sparse depth; poses from the bag's pose topic
  (geometry_msgs/PoseStamped of the optical frame) unless ``--poses`` is given;
* a folder of RGB images (sorted by name) with ``poses.txt`` beside them (or ``--poses``) and sparse depth
  (``--sparse DIR``) or dense depth (``--depth DIR``): depth files, 16-bit ones in millimetres unless
  ``--sparse-scale`` gives another unit (a KITTI-named path read as millimetres is refused). KITTI raw
  layout (``.../image_02``, :func:`~lingbot_depth_ros.io.kitti.kitti_raw_layout`) is recognised:
  ``../calib/calib_cam_to_cam.txt`` and ``../velodyne_raw/image_02`` (read as KITTI's 1/256 m unless
  ``--sparse-scale`` says otherwise) are used by default.

With ``confidence_weighting`` each frame's TSDF update is weighted by its per-pixel confidence (the
probability of README "Per-pixel confidence"): made from the estimator's cues when the depth is estimated here
(:func:`estimated_confidence`, as the depth node does), else a bag's recorded ``<depth topic's namespace>/confidence``
matched by stamp; a frame with neither is fused unweighted (counted as ``frames_unweighted``). Pixels below
``confidence_min`` are not fused at all.

Pose files: see :func:`~lingbot_depth_ros.fusion.poses.read_pose_file` (4x4, KITTI 3x4, TUM). A TUM file
(timestamps in seconds) is interpolated to a bag's image stamps; other files give one pose per frame in order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fusion.poses import read_pose_file
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class FuseFrame:
    """One frame to fuse: (H, W, 3) uint8 ``rgb``, (H, W) float32 ``sparse_depth_m`` / ``depth_m`` [m]
    (0 = none; one of them set), ``intrinsics``, 4x4 ``pose`` T_map_camera (None: from the pose file),
    (H, W) float32 ``confidence`` 0..1 of a recorded ``depth_m`` (NaN = none; None: not recorded)."""

    name: str
    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    sparse_depth_m: np.ndarray | None = None
    depth_m: np.ndarray | None = None
    pose: np.ndarray | None = None
    confidence: np.ndarray | None = None


def estimated_confidence(estimator_name: str, depth_m: np.ndarray, valid: np.ndarray, fx_px: float,
                         cues: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W) float32 confidence 0..1 (NaN where not ``valid``) of an estimate, as the depth node makes it without
    alignment: completion cues when the estimator got sparse depth (``cues["sparse_input"]``), else the output's
    own cues (:mod:`lingbot_depth_ros.confidence.maps`). ``depth_m`` [m], ``fx_px`` the focal length [px]."""
    from lingbot_depth_ros.confidence.maps import confidence_map, frame_kind, profile_for

    sparse = cues.get("sparse_input")
    profile = profile_for(estimator_name, frame_kind(sparse is not None, False))
    depth = np.where(valid, depth_m, np.nan).astype(np.float32)
    return confidence_map(depth, fx_px, profile, sparse_m=sparse, estimator_cues=cues)


def _depth_from_file(path: Path, m_per_unit: float | None) -> np.ndarray:
    """(H, W) float32 depth [m] (0 = none) of a depth file; 16-bit values x ``m_per_unit`` (None = mm)."""
    from lingbot_depth_ros.io.depth_files import load_depth_file

    return load_depth_file(path, m_per_unit=m_per_unit)


def folder_frames(folder: Path, *, sparse_dir: Path | None, depth_dir: Path | None,
                  intrinsics: CameraIntrinsics | None, calib: Path | None,
                  sparse_scale: float | None = None) -> Iterator[FuseFrame]:
    """Frames of an image folder (see the module docstring); ``sparse_scale``: metres per stored unit of
    16-bit depth files (None: millimetres, KITTI's 1/256 m for the layout's own velodyne_raw)."""
    from lingbot_depth_ros.io.depth_files import KITTI_M_PER_UNIT, load_rgb_file
    from lingbot_depth_ros.io.kitti import kitti_raw_layout

    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{folder} holds no .png/.jpg images")
    layout = kitti_raw_layout(folder)
    kitti_calib, kitti_sparse = (layout.calib, layout.sparse) if layout is not None else (None, None)
    calib = calib or kitti_calib
    if sparse_dir is None and depth_dir is None:
        sparse_dir = kitti_sparse
    source_dir = depth_dir or sparse_dir
    if source_dir is None:
        raise InputError(f"{folder}: give --sparse DIR (sparse depth to complete) or --depth DIR (dense depth)")
    if sparse_scale is None and depth_dir is None and kitti_sparse is not None \
            and source_dir.resolve() == kitti_sparse.resolve():
        sparse_scale = KITTI_M_PER_UNIT  # the layout's own LiDAR depth: KITTI's unit
    for image in images:
        rgb = load_rgb_file(image)
        h, w = rgb.shape[:2]
        if intrinsics is not None:
            k = CameraIntrinsics(intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, width=w, height=h)
        elif calib is not None:
            from lingbot_depth_ros.io.kitti import kitti_intrinsics

            k = kitti_intrinsics(calib, w, h, camera=folder.name.split("_")[-1] if "_" in folder.name else "02")
        else:
            raise InputError(f"{folder}: no intrinsics: give --intrinsics fx,fy,cx,cy or --calib")
        matches = sorted(p for p in source_dir.glob(image.stem + ".*"))
        if not matches:
            raise InputError(f"no depth file {image.stem}.* in {source_dir} for {image.name}")
        depth = _depth_from_file(matches[0], sparse_scale)
        if depth.shape != (h, w):
            raise InputError(f"{matches[0].name} is {depth.shape[1]}x{depth.shape[0]}, {image.name} is {w}x{h}")
        yield FuseFrame(name=image.name, rgb=rgb, intrinsics=k,
                        sparse_depth_m=None if depth_dir else depth, depth_m=depth if depth_dir else None)


def confidence_topic_of(depth_topic: str) -> str:
    """The recorded confidence beside a depth topic: ``/cam/depth/image`` -> ``/cam/depth/confidence``."""
    return depth_topic.rsplit("/", 1)[0] + "/confidence"


def bag_frames(bag: Path, depth_topic: str) -> Iterator[FuseFrame]:
    """Frames of a rosbag2: recorded depth on ``depth_topic`` when present (with the recorded confidence of
    :func:`confidence_topic_of`, by stamp, when the bag has it), else the sparse depth to complete."""
    from lingbot_depth_ros.bags.files import bag_topics, read_frames, read_raw
    from lingbot_depth_ros.bags.messages import TYPESTORE
    from lingbot_depth_ros.messages.header import stamp_ns
    from lingbot_depth_ros.messages.image import depth_m_zero_none, image_pixels

    recorded: dict[int, np.ndarray] = {}
    confidences: dict[int, np.ndarray] = {}
    topics = bag_topics(bag)
    if depth_topic in topics:
        for raw in read_raw(bag, [depth_topic]):
            msg: Any = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
            recorded[stamp_ns(msg)] = depth_m_zero_none(msg)
        if confidence_topic_of(depth_topic) in topics:
            for raw in read_raw(bag, [confidence_topic_of(depth_topic)]):
                msg = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
                confidences[stamp_ns(msg)] = np.asarray(image_pixels(msg), np.float32)
    for frame in read_frames(bag):
        depth = recorded.get(frame.stamp_ns)
        if recorded and depth is None:
            continue  # no recorded depth for this frame (dropped by the node)
        yield FuseFrame(name=str(frame.stamp_ns), rgb=frame.rgb, intrinsics=frame.intrinsics,
                        sparse_depth_m=frame.sparse_depth_m, depth_m=depth, pose=frame.camera_pose,
                        confidence=confidences.get(frame.stamp_ns))


def render_top_view(xyz: np.ndarray, rgb: np.ndarray, path: Path, *, up_axis: int = 2, up_sign: float = 1.0,
                    size_px: int = 900, title: str = "", splat_m: float = 0.0,
                    max_height_m: float | None = None) -> Path:
    """Orthographic picture of a coloured cloud seen from above (``up_sign`` * axis ``up_axis`` is up; the
    highest point wins per pixel), with a metre scale bar. (N, 3) ``xyz`` [m], (N, 3) uint8 ``rgb``; each
    point is drawn as a square of ``splat_m`` [m] (at least 2 px); points higher than ``max_height_m`` (a
    ceiling) are left out."""
    import cv2

    if max_height_m is not None:
        keep = up_sign * xyz[:, up_axis] <= max_height_m
        xyz, rgb = xyz[keep], rgb[keep]
    if len(xyz) == 0:
        raise InputError("nothing to render: the fused cloud is empty")
    axes = [a for a in range(3) if a != up_axis]
    plane = xyz[:, axes].astype(np.float64)
    lo, hi = np.percentile(plane, 0.5, axis=0), np.percentile(plane, 99.5, axis=0)
    scale = (size_px - 40) / max(float((hi - lo).max()), 1e-6)
    width, height = (int((hi - lo)[0] * scale) + 40, int((hi - lo)[1] * scale) + 60)
    u = ((plane[:, 0] - lo[0]) * scale + 20).astype(int)
    v = (height - 40 - (plane[:, 1] - lo[1]) * scale).astype(int)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    order = np.argsort(up_sign * xyz[inside, up_axis])  # low first: higher points overwrite
    canvas = np.full((height, width, 3), 255, np.uint8)
    uu, vv, cc = u[inside][order], v[inside][order], rgb[inside][order]
    splat = max(2, int(np.ceil(splat_m * scale)))
    for du in range(splat):
        for dv in range(splat):
            canvas[np.clip(vv + dv, 0, height - 1), np.clip(uu + du, 0, width - 1)] = cc[:, ::-1]
    bar = int(scale * (1.0 if (hi - lo).max() < 20 else 10.0))
    cv2.line(canvas, (20, height - 15), (20 + bar, height - 15), (0, 0, 0), 2)
    cv2.putText(canvas, "1 m" if (hi - lo).max() < 20 else "10 m", (25 + bar, height - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    if title:
        cv2.putText(canvas, title, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise InputError(f"could not write {path}")
    return path


def fuse(source: Path, out: Path, *, poses_file: Path | None = None, estimator: str = "classical",
         depth_topic: str = "/camera/depth/image", sparse_dir: Path | None = None, depth_dir: Path | None = None,
         intrinsics: CameraIntrinsics | None = None, calib: Path | None = None, voxel_m: float = 0.05,
         max_depth_m: float = 20.0, weight_threshold: float = 0.5, picture: bool = True,
         progress: bool = True, sparse_scale: float | None = None, confidence_weighting: bool = False,
         confidence_min: float = 0.0) -> dict[str, object]:
    """Fuse a bag or an image folder into ``out`` (fused.ply, mesh.ply, fusion.json, fused_top.png).
    ``confidence_weighting`` / ``confidence_min``: see the module docstring (``confidence_min`` 0..1).
    A frame with nothing to fuse (no depth in range) is skipped with a warning on stderr and counted in the
    summary (``frames_fused``, ``frames_skipped_empty``).
    ``sparse_scale``: metres per stored unit of a folder's 16-bit depth files (see :func:`folder_frames`).

    Raises:
        InputError: unreadable input, missing poses or depth, a pose count that does not match the frames,
            no frame with anything to fuse, ``confidence_min`` outside 0..1.
    """
    from tqdm import tqdm

    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, NothingToFuseError, TsdfFusion
    from lingbot_depth_ros.io.ply import write_ply

    source = Path(source)
    FusionConfig(confidence_min=confidence_min)  # refused outside 0..1 before any work
    if not source.exists():
        raise InputError(f"{source} does not exist")
    is_bag = (source / "metadata.yaml").is_file() or source.suffix in (".mcap", ".db3")
    if is_bag:
        frames = list(bag_frames(source, depth_topic))
    elif source.is_dir():
        frames = list(folder_frames(source, sparse_dir=sparse_dir, depth_dir=depth_dir, intrinsics=intrinsics,
                                    calib=calib, sparse_scale=sparse_scale))
        if poses_file is None:
            poses_file = source / "poses.txt"
    else:
        raise InputError(f"{source} is neither a rosbag2 folder nor a folder of images")
    if not frames:
        raise InputError(f"{source}: no frames")
    if poses_file is not None:
        poses, stamps_s = read_pose_file(poses_file)
        numbers = [Path(f.name).stem for f in frames]
        if stamps_s is not None and is_bag:
            poses = _poses_at_stamps(poses, stamps_s, [int(f.name) for f in frames], poses_file)
        elif len(poses) != len(frames):
            # KITTI-style: one pose per image of the whole drive, the images named by their index
            if not all(n.isdigit() and int(n) < len(poses) for n in numbers):
                raise InputError(f"{poses_file} has {len(poses)} poses for {len(frames)} frames (and the image "
                                 "names are not indices into it)")
            poses = [poses[int(n)] for n in numbers]
        for frame, pose in zip(frames, poses):
            frame.pose = pose
    camera_poses = [f.pose for f in frames if f.pose is not None]  # 4x4 T_map_camera of each frame
    if len(camera_poses) != len(frames):
        missing = [f.name for f in frames if f.pose is None]
        raise InputError(f"{source}: no pose for {len(missing)} frames (first {missing[0]}): the bag has no pose "
                         "topic; give --poses FILE")
    out.mkdir(parents=True, exist_ok=True)
    est = None
    fusion = TsdfFusion(FusionConfig(voxel_size_m=voxel_m, max_depth_m=max_depth_m,
                                     weight_threshold=weight_threshold, max_blocks=400000,
                                     confidence_min=confidence_min))
    # disable=None: no bar (no \r in logs) when stderr is not a terminal
    bar = tqdm(total=len(frames), desc="fuse", unit="frame", disable=None if progress else True)
    skipped_empty: list[str] = []
    unweighted: list[str] = []
    for frame, pose in zip(frames, camera_poses):
        depth, confidence = frame.depth_m, frame.confidence
        if depth is None:
            if frame.sparse_depth_m is None:
                raise InputError(f"frame {frame.name} has neither depth nor sparse depth")
            if est is None:
                est = create_estimator(estimator)
                est.confidence_cues = confidence_weighting
            result = est.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
            depth = np.where(result.valid, result.depth_m, 0.0).astype(np.float32)
            if confidence_weighting:
                confidence = estimated_confidence(est.name, result.depth_m, result.valid, frame.intrinsics.fx,
                                                  result.cues)
        if not confidence_weighting:
            confidence = None
        elif confidence is None or confidence.shape != depth.shape:
            if not unweighted:
                bar.write(f"lingbot-depth fuse: warning: frame {frame.name} (and others like it) fused unweighted: "
                          "no confidence of its size recorded with its depth", file=sys.stderr)
            unweighted.append(frame.name)
            confidence = None
        try:
            fusion.integrate(depth, frame.intrinsics, pose, rgb=frame.rgb, confidence=confidence)
        except NothingToFuseError as exc:
            skipped_empty.append(frame.name)
            bar.write(f"lingbot-depth fuse: warning: frame {frame.name} skipped: {exc}", file=sys.stderr)
        bar.set_postfix_str(frame.name, refresh=False)
        bar.update()
    bar.close()
    if len(skipped_empty) == len(frames):
        raise InputError(f"{source}: nothing to fuse: all {len(frames)} frames have no depth in "
                         f"[{fusion.config.min_depth_m:g}, {max_depth_m:g}) m")
    xyz, rgb = fusion.point_cloud()
    cloud_path = write_ply(out / "fused.ply", xyz, rgb)
    mesh_path, triangles = fusion.save_mesh(out / "mesh.ply")
    summary: dict[str, object] = {"source": str(source), "frames": len(frames),
                                  "frames_fused": fusion.stats.frames_integrated,
                                  "frames_skipped_empty": len(skipped_empty), "points": int(len(xyz)),
                                  "triangles": triangles, "voxel_m": voxel_m, "estimator": est.name if est else None,
                                  "fused_ply": str(cloud_path), "mesh_ply": str(mesh_path),
                                  "blocks": fusion.stats.blocks,
                                  "memory_mb": round(fusion.stats.memory_mb(fusion.config), 1),
                                  "confidence_weighting": confidence_weighting}
    if confidence_weighting:
        summary.update(confidence_min=confidence_min, frames_unweighted=len(unweighted))
    if picture and len(xyz):
        # top view: the map's "up" is -y for camera-frame maps (KITTI poses), +z for ROS maps
        camera_map = is_camera_frame_map(camera_poses)
        summary["picture"] = str(render_top_view(xyz, rgb, out / "fused_top.png", up_axis=1 if camera_map else 2,
                                                 up_sign=-1.0 if camera_map else 1.0, splat_m=voxel_m,
                                                 title=f"{source.name}: {fusion.stats.frames_integrated} frames "
                                                       "fused"))
    (out / "fusion.json").write_text(json.dumps(summary, indent=2))
    return summary


def _poses_at_stamps(poses: list[np.ndarray], stamps_s: list[float], frame_stamps_ns: list[int],
                     path: Path) -> list[np.ndarray]:
    """TUM poses interpolated (slerp) to the frames' header stamps."""
    from lingbot_depth_ros.fusion.poses import PoseBuffer

    buffer = PoseBuffer(max_gap_ns=2_000_000_000, max_extrapolation_ns=50_000_000, capacity=len(poses) + 1)
    for stamp, pose in zip(stamps_s, poses):
        buffer.add(int(round(stamp * 1e9)), pose)
    try:
        return [buffer.lookup(stamp) for stamp in frame_stamps_ns]
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def is_camera_frame_map(poses: list[np.ndarray]) -> bool:
    """True when the map is a camera frame (y down, as KITTI/TUM camera trajectories): the cameras' own
    y axes point along map y."""
    return float(np.mean([abs(p[1, 1]) for p in poses])) > 0.7


__all__ = ["FuseFrame", "bag_frames", "confidence_topic_of", "estimated_confidence", "folder_frames", "fuse",
           "is_camera_frame_map", "render_top_view"]
