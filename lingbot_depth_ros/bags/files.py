"""rosbag2 files (.mcap or .db3) of RGB-D evaluation frames, written and read with ``rosbags`` (no rclpy).

One frame = messages sharing one header stamp on these topics (names configurable, see
:class:`~lingbot_depth_ros.bags.topics.StreamTopics`; the defaults are the inputs of a depth
node in namespace ``/camera``):

* ``/camera/image``        sensor_msgs/Image rgb8
* ``/camera/camera_info``  sensor_msgs/CameraInfo (pinhole K and P, no distortion)
* ``/camera/sparse_depth`` sensor_msgs/Image 16UC1 [mm] (0 = none) or 32FC1 [m] (NaN = none)
* ``/camera/depth_gt``     sensor_msgs/Image 32FC1 [m] (NaN = none)
* ``/camera/lidar_points`` sensor_msgs/PointCloud2 x, y, z float32 [m] in the ``lidar`` frame (optional)
* ``/tf_static``           tf2_msgs/TFMessage camera optical frame -> lidar (written once, when a
  frame carries the LiDAR extrinsics)
* ``/tf``, ``/camera/pose``, ``/camera/odom`` when a frame carries its camera pose (scene bags): TFMessage
  ``map`` -> camera optical frame, geometry_msgs/PoseStamped of the optical frame in ``map``, and
  nav_msgs/Odometry of ``camera_link`` (the camera body: the optical frame is its REP 103 rotation, no offset)

Messages (:mod:`lingbot_depth_ros.bags.messages`) are serialized to CDR with the ROS 2
Jazzy typestore; the log time of every message is its header stamp, so a replay at the recorded
rate reproduces the capture timing. In numpy, "no measurement" is always 0 (sparse and ground
truth), whatever the encoding in the bag.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from lingbot_depth_ros.bags.messages import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    ODOMETRY_TYPE,
    POINTCLOUD2_TYPE,
    POSE_TYPE,
    TF_TYPE,
    TYPESTORE,
    camera_info_message,
    image_message,
    odometry_message,
    pointcloud_message,
    pose_stamped_message,
    tf_static_message,
)
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.messages.camera_model import intrinsics_from_camera_info
from lingbot_depth_ros.messages.header import stamp_ns
from lingbot_depth_ros.messages.image import depth_m_zero_none, rgb_from_message
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_xyz
from lingbot_depth_ros.messages.poses import matrix_from_pose, matrix_from_tf

CAMERA_FRAME_ID = "camera_optical_frame"
LIDAR_FRAME_ID = "lidar"
MAP_FRAME_ID = "map"
BODY_FRAME_ID = "camera_link"
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3,
                                      "db3": StoragePlugin.SQLITE3}
SparseEncoding = Literal["16UC1", "32FC1"]


@dataclass
class BagFrame:
    """One evaluation frame.

    ``rgb``: (H, W, 3) uint8 RGB. ``sparse_depth_m``, ``depth_gt_m``: (H, W) float32 [m], 0 = none,
    or None when the frame has no such stream. ``lidar_points``: (N, 3) float32 [m] in
    ``lidar_frame_id`` or None. ``camera_from_lidar``: 4x4 float64 T_camera_lidar (maps LiDAR
    points into the camera optical frame) or None. ``stamp_ns``: header stamp [ns].
    """

    stamp_ns: int
    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    sparse_depth_m: np.ndarray | None = None
    depth_gt_m: np.ndarray | None = None
    lidar_points: np.ndarray | None = None
    camera_from_lidar: np.ndarray | None = None
    camera_frame_id: str = CAMERA_FRAME_ID
    lidar_frame_id: str = LIDAR_FRAME_ID
    camera_pose: np.ndarray | None = None  # 4x4 float64 T_map_camera (optical frame), or None


@dataclass
class BagSummary:
    """What a bag holds: path, storage, frame count, per-topic message counts, time span [ns]."""

    path: Path
    storage: str
    n_frames: int
    topic_counts: dict[str, int] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0


def storage_plugin(storage: str) -> StoragePlugin:
    """``"mcap"`` or ``"sqlite3"``/``"db3"`` -> rosbags StoragePlugin (InputError otherwise)."""
    try:
        return STORAGES[storage.lower()]
    except KeyError:
        raise InputError(f"unknown bag storage '{storage}': use one of {', '.join(STORAGES)}") from None


# ---------------------------------------------------------------------------------- writing
class BagWriter:
    """Writes :class:`BagFrame` objects to a new rosbag2 (context manager; an exception inside the
    ``with`` block removes the partial bag).

    Args:
        path: bag directory to create (must not exist).
        storage: ``"mcap"`` or ``"sqlite3"`` (alias ``"db3"``).
        sparse_encoding: ``"16UC1"`` (millimetres, 0 = none) or ``"32FC1"`` (metres, NaN = none).
        topics: topic names.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", sparse_encoding: SparseEncoding = "16UC1",
                 topics: StreamTopics | None = None) -> None:
        if sparse_encoding not in ("16UC1", "32FC1"):
            raise InputError(f"sparse_encoding must be 16UC1 (mm) or 32FC1 (m), got '{sparse_encoding}'")
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"bag {self.path} exists already; choose a new output path")
        self.storage = storage.lower()
        self.sparse_encoding: SparseEncoding = sparse_encoding
        self.topics = topics or StreamTopics()
        self._writer = Writer(self.path, version=9, storage_plugin=storage_plugin(storage))
        self._connections: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._n_frames = 0
        self._tf_written = False
        self._last_stamp = -1
        self._start_ns = 0

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()
        if exc_type is not None:  # never leave a half-written bag behind
            shutil.rmtree(self.path, ignore_errors=True)

    def _write(self, topic: str, msgtype: str, msg: Any, log_time_ns: int) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self._counts[topic] = 0
        self._writer.write(self._connections[topic], log_time_ns, TYPESTORE.serialize_cdr(msg, msgtype))
        self._counts[topic] += 1

    def write(self, frame: BagFrame) -> None:
        """Append one frame (stamps must increase).

        Raises:
            InputError: shapes that do not match the image or intrinsics, or a stamp not after the last.
        """
        stamp = int(frame.stamp_ns)
        if stamp <= self._last_stamp:
            raise InputError(f"frame stamps must increase: {stamp} after {self._last_stamp}")
        rgb = frame.rgb
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        if (frame.intrinsics.width, frame.intrinsics.height) != (width, height):
            raise InputError(f"intrinsics are for {frame.intrinsics.width}x{frame.intrinsics.height}, image is "
                             f"{width}x{height}")
        for name, depth in (("sparse_depth_m", frame.sparse_depth_m), ("depth_gt_m", frame.depth_gt_m)):
            if depth is not None and depth.shape != (height, width):
                raise InputError(f"{name} is {depth.shape}, image is {(height, width)}")
        if self._n_frames == 0:
            self._start_ns = stamp
        t = self.topics
        cam = frame.camera_frame_id
        if frame.camera_from_lidar is not None and not self._tf_written:
            self._write(t.tf_static, TF_TYPE, tf_static_message(frame.camera_from_lidar, stamp, cam,
                                                                frame.lidar_frame_id), stamp)
            self._tf_written = True
        self._write(t.camera_info, CAMERA_INFO_TYPE, camera_info_message(frame.intrinsics, stamp, cam), stamp)
        if frame.sparse_depth_m is not None:
            self._write(t.sparse_depth, IMAGE_TYPE, self._sparse_image(frame.sparse_depth_m, stamp, cam), stamp)
        if frame.lidar_points is not None:
            self._write(t.lidar_points, POINTCLOUD2_TYPE,
                        pointcloud_message(frame.lidar_points, stamp, frame.lidar_frame_id), stamp)
        if frame.depth_gt_m is not None:
            self._write(t.depth_gt, IMAGE_TYPE, image_message(_nan_invalid(frame.depth_gt_m), "32FC1", stamp, cam),
                        stamp)
        if frame.camera_pose is not None:
            self._write_pose(frame.camera_pose, stamp, cam)
        # The image goes last: a node that syncs on the image then finds its partners already there.
        self._write(t.image, IMAGE_TYPE, image_message(rgb, "rgb8", stamp, cam), stamp)
        self._n_frames += 1
        self._last_stamp = stamp

    def _write_pose(self, map_from_camera: np.ndarray, stamp: int, camera_frame: str) -> None:
        t = self.topics
        self._write(t.tf, TF_TYPE, tf_static_message(map_from_camera, stamp, MAP_FRAME_ID, camera_frame), stamp)
        self._write(t.pose, POSE_TYPE, pose_stamped_message(map_from_camera, stamp, MAP_FRAME_ID), stamp)
        map_from_body = np.asarray(map_from_camera, dtype=np.float64) @ np.linalg.inv(BODY_FROM_OPTICAL)
        self._write(t.odom, ODOMETRY_TYPE, odometry_message(map_from_body, stamp, MAP_FRAME_ID, BODY_FRAME_ID), stamp)

    def _sparse_image(self, sparse_m: np.ndarray, stamp: int, frame_id: str) -> Any:
        if self.sparse_encoding == "32FC1":
            return image_message(_nan_invalid(sparse_m), "32FC1", stamp, frame_id)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(sparse_m) & (sparse_m > 0)
        mm = np.where(valid, np.rint(np.where(valid, sparse_m, 0) * 1000.0), 0)
        if mm.max(initial=0) > 65535:
            raise InputError(f"sparse depth up to {mm.max() / 1000:.1f} m does not fit 16UC1 mm (max 65.535 m); "
                             "use sparse_encoding=32FC1")
        return image_message(mm.astype(np.uint16), "16UC1", stamp, frame_id)

    def summary(self) -> BagSummary:
        """Counts so far."""
        return BagSummary(path=self.path, storage=self.storage, n_frames=self._n_frames,
                          topic_counts=dict(self._counts), start_ns=self._start_ns,
                          end_ns=max(self._last_stamp, self._start_ns))


def _nan_invalid(depth_m: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth_m, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan)).astype(np.float32)


def write_bag(path: str | Path, frames: Iterable[BagFrame], storage: str = "mcap",
              sparse_encoding: SparseEncoding = "16UC1", topics: StreamTopics | None = None) -> BagSummary:
    """Write ``frames`` to a new bag at ``path``; returns what was written."""
    with BagWriter(path, storage=storage, sparse_encoding=sparse_encoding, topics=topics) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.summary()


# ---------------------------------------------------------------------------------- reading
@dataclass
class RawMessage:
    """One serialized message of a bag: topic, type, log time [ns] and CDR bytes."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


def open_reader(path: str | Path) -> Reader:
    """Open a rosbag2 directory (or its .mcap/.db3 file) for reading, with a clear error when it is not one."""
    path = Path(path)
    if path.is_file() and path.suffix in (".mcap", ".db3"):
        path = path.parent
    if not (path / "metadata.yaml").is_file():
        raise InputError(f"{path} is not a rosbag2 directory (no metadata.yaml)")
    reader = Reader(path)
    reader.open()
    return reader


def read_raw(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[RawMessage]:
    """Serialized messages of a bag in log-time order, optionally only on ``topics``."""
    reader = open_reader(path)
    try:
        wanted = None if topics is None else set(topics)
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for connection, timestamp, data in reader.messages(connections=connections):
            yield RawMessage(connection.topic, connection.msgtype, int(timestamp), bytes(data))
    finally:
        reader.close()


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (message type, message count) of a bag."""
    reader = open_reader(path)
    try:
        return {name: (info.msgtype or "", int(info.msgcount)) for name, info in reader.topics.items()}
    finally:
        reader.close()


def read_frames(path: str | Path, topics: StreamTopics | None = None,
                window_ns: int = 1_000_000_000) -> Iterator[BagFrame]:
    """Frames of an evaluation bag, grouped by header stamp, in stamp order.

    Messages with the same header stamp on the image, camera_info, sparse depth, ground truth and
    LiDAR topics form a frame. A stamp's frame is complete once a message with a log time later than
    that stamp + ``window_ns`` arrives (recorded bags log a message some time after its stamp; the
    default 1 s covers any sane driver latency), or at the end of the bag. Stamps without an image
    are skipped. The LiDAR extrinsics come from /tf_static.

    Raises:
        InputError: not a bag, or an image without camera_info of the same stamp.
    """
    t = topics or StreamTopics()
    wanted = {t.image: "image", t.camera_info: "info", t.sparse_depth: "sparse", t.depth_gt: "gt",
              t.lidar_points: "lidar", t.tf_static: "tf", t.pose: "pose"}
    pending: dict[int, dict[str, Any]] = {}
    extrinsics: dict[str, Any] = {"matrix": None, "child": LIDAR_FRAME_ID}

    def complete(stamp: int) -> BagFrame | None:
        parts = pending.pop(stamp)
        if "image" not in parts:
            return None
        if "info" not in parts:
            raise InputError(f"image at stamp {stamp} ns on {t.image} has no {t.camera_info} with the same stamp")
        image = parts["image"]
        rgb = rgb_from_message(image)
        return BagFrame(
            stamp_ns=stamp, rgb=rgb, intrinsics=intrinsics_from_camera_info(parts["info"], rgb.shape[1], rgb.shape[0]),
            sparse_depth_m=depth_m_zero_none(parts["sparse"]) if "sparse" in parts else None,
            depth_gt_m=depth_m_zero_none(parts["gt"]) if "gt" in parts else None,
            lidar_points=pointcloud_xyz(parts["lidar"]) if "lidar" in parts else None,
            camera_from_lidar=extrinsics["matrix"], camera_frame_id=image.header.frame_id,
            camera_pose=matrix_from_pose(parts["pose"]) if "pose" in parts else None,
            lidar_frame_id=parts["lidar"].header.frame_id if "lidar" in parts else extrinsics["child"])

    for raw in read_raw(path, wanted):
        msg: Any = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
        role = wanted[raw.topic]
        if role == "tf":
            if msg.transforms:
                extrinsics["matrix"] = matrix_from_tf(msg)
                extrinsics["child"] = msg.transforms[0].child_frame_id
            continue
        for stamp in sorted(s for s in pending if s + window_ns < raw.log_time_ns):
            frame = complete(stamp)
            if frame is not None:
                yield frame
        pending.setdefault(stamp_ns(msg), {})[role] = msg
    for stamp in sorted(pending):
        frame = complete(stamp)
        if frame is not None:
            yield frame
