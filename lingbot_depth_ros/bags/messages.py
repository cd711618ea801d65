"""rosbags (no rclpy) sensor_msgs / tf2_msgs messages of the evaluation bags: build and decode.

Messages are serialized to CDR with the ROS 2 Jazzy typestore (:data:`TYPESTORE`). In numpy, "no
measurement" is always 0 (sparse and ground truth), whatever the encoding in the message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore

from lingbot_depth_ros.errors import EncodingError, InputError
from lingbot_depth_ros.messages.pointcloud_fields import message_xyz
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import RigidTransform

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


def stamp_of(msg: Any) -> int:
    """Header stamp of a rosbags message [ns]."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def image_message(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/Image of ``pixels`` (tight rows, little endian)."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype.byteorder == ">":
        pixels = pixels.astype(pixels.dtype.newbyteorder("<"))
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    Image = TYPESTORE.types[IMAGE_TYPE]
    return Image(header=_header(stamp_ns, frame_id), height=int(pixels.shape[0]), width=int(pixels.shape[1]),
                 encoding=encoding, is_bigendian=0, step=int(pixels.shape[1] * channels * pixels.dtype.itemsize),
                 data=pixels.view(np.uint8).reshape(-1))


def camera_info_message(intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/CameraInfo: pinhole K, P = [K | 0], R = I, plumb_bob with zero distortion."""
    CameraInfo = TYPESTORE.types[CAMERA_INFO_TYPE]
    RegionOfInterest = TYPESTORE.types["sensor_msgs/msg/RegionOfInterest"]
    k = intrinsics.matrix()
    p = np.zeros((3, 4))
    p[:, :3] = k
    return CameraInfo(header=_header(stamp_ns, frame_id), height=intrinsics.height, width=intrinsics.width,
                      distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1),
                      p=p.reshape(-1), binning_x=0, binning_y=0,
                      roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


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


def matrix_from_pose(msg: Any) -> np.ndarray:
    """4x4 float64 pose of a rosbags PoseStamped or Odometry message."""
    pose = msg.pose.pose if hasattr(msg.pose, "covariance") else msg.pose
    p, q = pose.position, pose.orientation
    return RigidTransform.from_quaternion((q.x, q.y, q.z, q.w), (p.x, p.y, p.z)).matrix()


def image_to_array(msg: Any) -> np.ndarray:
    """Pixels of a rosbags Image: (H, W) or (H, W, C) array (row padding and byte order handled).

    Raises:
        EncodingError: unsupported encoding, or a buffer that does not match the header.
    """
    layouts = {"rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4), "mono8": ("u1", 1),
               "16UC1": ("u2", 1), "mono16": ("u2", 1), "32FC1": ("f4", 1)}
    if msg.encoding not in layouts:
        raise EncodingError(f"unsupported image encoding '{msg.encoding}' (supported: {', '.join(layouts)})")
    kind, channels = layouts[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < row_bytes or data.size < msg.step * msg.height:
        raise EncodingError(f"{msg.encoding} image {msg.width}x{msg.height}: step {msg.step} / data size "
                            f"{data.size} do not fit")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder("="))
    return pixels.reshape(msg.height, msg.width) if channels == 1 else pixels.reshape(msg.height, msg.width, channels)


def rgb_from_message(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a colour rosbags Image (rgb8, bgr8, rgba8, bgra8, mono8)."""
    pixels = image_to_array(msg)
    if msg.encoding == "rgb8":
        return pixels
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if msg.encoding in ("rgba8", "bgra8"):
        rgb = pixels[..., :3]
        return np.ascontiguousarray(rgb if msg.encoding == "rgba8" else rgb[..., ::-1])
    if msg.encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    raise EncodingError(f"image encoding '{msg.encoding}' is not a colour encoding")


def depth_from_message(msg: Any) -> np.ndarray:
    """(H, W) float32 depth [m] of a rosbags depth Image (16UC1/mono16 mm, 32FC1 m); 0 = no value (16-bit: 0 and
    0xFFFF, converted by :func:`~lingbot_depth_ros.io.depth_files.depth_m_from_units` as the node does)."""
    from lingbot_depth_ros.io.depth_files import depth_m_from_array

    pixels = image_to_array(msg)
    if msg.encoding in ("16UC1", "mono16"):
        return depth_m_from_array(pixels, msg.encoding)
    if msg.encoding == "32FC1":
        depth = pixels.astype(np.float32)
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0.0)).astype(np.float32)
    raise EncodingError(f"image encoding '{msg.encoding}' is not a depth encoding (16UC1, mono16, 32FC1)")


def intrinsics_from_message(msg: Any) -> CameraIntrinsics:
    """CameraIntrinsics from a rosbags CameraInfo (K)."""
    return CameraIntrinsics.from_matrix(np.asarray(msg.k, dtype=np.float64), int(msg.width), int(msg.height))


def xyz_from_message(msg: Any) -> np.ndarray:
    """(N, 3) float32 x, y, z [m] of a rosbags PointCloud2 (any point layout; non-finite points dropped).

    Raises:
        EncodingError: see :func:`lingbot_depth_ros.messages.pointcloud_fields.read_cloud_fields`.
    """
    return message_xyz(msg)


def matrix_from_tf(msg: Any) -> np.ndarray:
    """4x4 float64 T_parent_child of the first transform in a rosbags TFMessage."""
    t = msg.transforms[0].transform
    q = t.rotation
    return RigidTransform.from_quaternion((q.x, q.y, q.z, q.w), (t.translation.x, t.translation.y,
                                                                 t.translation.z)).matrix()
