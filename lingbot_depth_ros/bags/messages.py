"""rosbags (no rclpy) sensor_msgs / geometry_msgs / tf2_msgs messages for bags: the builders (numpy -> message).

Messages are serialized to CDR with the ROS 2 Jazzy typestore (:data:`TYPESTORE`). Reading them back is
ROS-free and shared with the node: :mod:`lingbot_depth_ros.messages` (images of every encoding and transport,
the camera model, PointCloud2 fields, stamps, poses).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore

from lingbot_depth_ros.errors import EncodingError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.messages.camera_model import CameraInfoFields
from lingbot_depth_ros.messages.encoding_table import ENCODINGS, listed

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POINTCLOUD2_TYPE = "sensor_msgs/msg/PointCloud2"
TF_TYPE = "tf2_msgs/msg/TFMessage"
POSE_TYPE = "geometry_msgs/msg/PoseStamped"
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"
_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def _header(stamp_ns: int, frame_id: str) -> Any:
    Header = TYPESTORE.types["std_msgs/msg/Header"]
    Time = TYPESTORE.types["builtin_interfaces/msg/Time"]
    if stamp_ns < 0:
        raise InputError(f"stamps must be >= 0 ns, got {stamp_ns}")
    return Header(stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
                  frame_id=frame_id)


def image_message(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/Image of ``pixels`` (tight rows, little endian).

    Args:
        pixels: (H, W) or (H, W, C) array whose dtype and channels match ``encoding`` (any byte order).
        encoding: one of :data:`~lingbot_depth_ros.messages.encoding_table.ENCODINGS`.

    Raises:
        EncodingError: an unknown encoding, or pixels that do not fit it.
    """
    entry = ENCODINGS.get(encoding)
    if entry is None:
        raise EncodingError(f"unsupported image encoding '{encoding}' (supported: {listed(ENCODINGS)})")
    pixels = np.asarray(pixels)
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
    if pixels.ndim not in (2, 3) or channels != entry.channels or pixels.dtype.newbyteorder("=") != entry.dtype:
        raise EncodingError(f"array of shape {pixels.shape} dtype {pixels.dtype} does not fit encoding {encoding} "
                            f"({entry.channels} channel(s) of {entry.dtype})")
    pixels = np.ascontiguousarray(pixels, dtype=entry.dtype.newbyteorder("<"))
    Image = TYPESTORE.types[IMAGE_TYPE]
    return Image(header=_header(stamp_ns, frame_id), height=int(pixels.shape[0]), width=int(pixels.shape[1]),
                 encoding=encoding, is_bigendian=0, step=int(pixels.shape[1] * channels * pixels.dtype.itemsize),
                 data=pixels.view(np.uint8).reshape(-1))


def camera_info_fields_message(fields: CameraInfoFields, header: Any) -> Any:
    """A rosbags sensor_msgs/CameraInfo of ``fields`` (binning 0, ROI all zero) with ``header``."""
    RegionOfInterest = TYPESTORE.types["sensor_msgs/msg/RegionOfInterest"]
    return TYPESTORE.types[CAMERA_INFO_TYPE](
        header=header, height=fields.height, width=fields.width, distortion_model=fields.distortion_model,
        d=np.asarray(fields.d, dtype=np.float64), k=np.asarray(fields.k, dtype=np.float64),
        r=np.asarray(fields.r, dtype=np.float64), p=np.asarray(fields.p, dtype=np.float64),
        binning_x=fields.binning_x, binning_y=fields.binning_y,
        roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def camera_info_message(intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/CameraInfo: pinhole K, P = [K | 0], R = I, plumb_bob with zero distortion."""
    return camera_info_fields_message(CameraInfoFields.pinhole(intrinsics), _header(stamp_ns, frame_id))


def pointcloud_message(xyz: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/PointCloud2 with float32 x, y, z fields (height 1, dense)."""
    xyz = np.ascontiguousarray(np.asarray(xyz, dtype="<f4"))
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise InputError(f"LiDAR points must be (N, 3), got shape {xyz.shape}")
    PointCloud2 = TYPESTORE.types[POINTCLOUD2_TYPE]
    PointField = TYPESTORE.types["sensor_msgs/msg/PointField"]
    fields = [PointField(name=name, offset=4 * i, datatype=_FLOAT32, count=1) for i, name in enumerate("xyz")]
    return PointCloud2(header=_header(stamp_ns, frame_id), height=1, width=int(xyz.shape[0]), fields=fields,
                       is_bigendian=False, point_step=12, row_step=12 * int(xyz.shape[0]),
                       data=xyz.view(np.uint8).reshape(-1), is_dense=bool(np.isfinite(xyz).all()))


def tf_static_message(camera_from_lidar: np.ndarray, stamp_ns: int, parent: str, child: str) -> Any:
    """tf2_msgs/TFMessage holding one TransformStamped parent -> child (T_parent_child)."""
    tf = RigidTransform.from_matrix(np.asarray(camera_from_lidar, dtype=np.float64))
    q = tf.quaternion()
    types = TYPESTORE.types
    transform = types["geometry_msgs/msg/Transform"](
        translation=types["geometry_msgs/msg/Vector3"](x=float(tf.translation[0]), y=float(tf.translation[1]),
                                                       z=float(tf.translation[2])),
        rotation=types["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))
    stamped = types["geometry_msgs/msg/TransformStamped"](header=_header(stamp_ns, parent), child_frame_id=child,
                                                          transform=transform)
    return types[TF_TYPE](transforms=[stamped])


def _pose(matrix: np.ndarray) -> Any:
    tf = RigidTransform.from_matrix(np.asarray(matrix, dtype=np.float64))
    q, t = tf.quaternion(), tf.translation
    types = TYPESTORE.types
    return types["geometry_msgs/msg/Pose"](
        position=types["geometry_msgs/msg/Point"](x=float(t[0]), y=float(t[1]), z=float(t[2])),
        orientation=types["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def pose_stamped_message(map_from_child: np.ndarray, stamp_ns: int, map_frame: str) -> Any:
    """geometry_msgs/PoseStamped: the pose T_map_child (4x4) of a frame, in ``map_frame``."""
    return TYPESTORE.types[POSE_TYPE](header=_header(stamp_ns, map_frame), pose=_pose(map_from_child))


def odometry_message(map_from_base: np.ndarray, stamp_ns: int, map_frame: str, base_frame: str) -> Any:
    """nav_msgs/Odometry of ``base_frame`` in ``map_frame`` (pose only; zero twist and covariances)."""
    types = TYPESTORE.types
    pose = types["geometry_msgs/msg/PoseWithCovariance"](pose=_pose(map_from_base), covariance=np.zeros(36))
    vec = types["geometry_msgs/msg/Vector3"]
    twist = types["geometry_msgs/msg/TwistWithCovariance"](
        twist=types["geometry_msgs/msg/Twist"](linear=vec(x=0.0, y=0.0, z=0.0), angular=vec(x=0.0, y=0.0, z=0.0)),
        covariance=np.zeros(36))
    return types[ODOMETRY_TYPE](header=_header(stamp_ns, map_frame), child_frame_id=base_frame, pose=pose,
                                twist=twist)
