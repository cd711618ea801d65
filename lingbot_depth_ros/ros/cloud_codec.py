"""numpy -> sensor_msgs/PointCloud2 (rclpy), vectorized (the encoder of our own small sensor_msgs_py equivalent).

Output clouds carry float32 ``x, y, z`` [m] and optionally ``rgb`` (the PCL/RViz convention: a
float32 field whose 4 bytes are 0x00RRGGBB in little-endian order). Reading clouds (any origin) is ROS-free:
:mod:`lingbot_depth_ros.messages.pointcloud_fields`; :func:`pointcloud2_fields` / :func:`pointcloud2_to_xyz` are its
rclpy-typed names.
"""

from __future__ import annotations

import array
import sys

import cv2
import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.pointcloud_fields import (
    pointcloud_fields,
    pointcloud_xyz,
    unpack_rgb,  # noqa: F401 (re-exported)
)

_XYZ_FIELDS = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
_XYZRGB_FIELDS = _XYZ_FIELDS + [PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1)]
_HOST_BIG_ENDIAN = sys.byteorder == "big"


# byte of a native uint32 holding 0x00RRGGBB where R, G, B go (little endian: [B, G, R, 0])
_RGB_BYTES = (1, 2, 3) if _HOST_BIG_ENDIAN else (2, 1, 0)


def pack_rgb_uint32(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) native uint32 0x00RRGGBB, built in one contiguous pass per channel."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    packed = np.zeros(rgb.shape[:-1] + (4,), dtype=np.uint8)
    for channel, byte in enumerate(_RGB_BYTES):
        packed[..., byte] = rgb[..., channel]
    return packed.view(np.uint32)[..., 0]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bytes are 0x00RRGGBB (PCL ``rgb`` convention)."""
    return pack_rgb_uint32(rgb).view(np.float32)


def xyz_to_pointcloud2(xyz: np.ndarray, header: Header | None = None, rgb: np.ndarray | None = None) -> PointCloud2:
    """Pack points into a PointCloud2.

    Args:
        xyz: (h, w, 3) float32 organized grid (NaN = no point; height=h, width=w, is_dense=False) or
            (N, 3) unorganized points (height=1, width=N, is_dense=True when all finite).
        header: stamp and frame_id of the cloud.
        rgb: optional colours with the same leading shape as ``xyz``, uint8.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.ndim not in (2, 3) or xyz.shape[-1] != 3:
        raise EncodingError(f"xyz must be (N, 3) or (h, w, 3), got shape {xyz.shape}")
    if rgb is not None and tuple(rgb.shape[:-1]) != tuple(xyz.shape[:-1]):
        raise EncodingError(f"rgb shape {rgb.shape} does not match xyz shape {xyz.shape}")
    height, width = (xyz.shape[0], xyz.shape[1]) if xyz.ndim == 3 else (1, xyz.shape[0])
    channels = 3 if rgb is None else 4
    data = array.array("B", b"\0") * (height * width * channels * 4)
    points = np.frombuffer(data, dtype=np.float32).reshape(height, width, channels)  # fills data in place
    if rgb is not None:
        # x, y, z and the colour bytes of the float32 'rgb' field (0x00RRGGBB; the 4th byte stays 0) are
        # interleaved by OpenCV channel copies straight into the message buffer, no intermediate array
        # (numpy's strided byte writes took ~2x longer; bench/bench_cloud.py)
        if points.size:
            colours = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).reshape(height, width, 3))
            cv2.mixChannels([np.ascontiguousarray(xyz.reshape(height, width, 3))], [points], [0, 0, 1, 1, 2, 2])
            cv2.mixChannels([colours], [points.view(np.uint8)],
                            [channel for k, byte in enumerate(_RGB_BYTES) for channel in (k, 12 + byte)])
    else:
        points[...] = xyz.reshape(height, width, 3)
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    msg.height, msg.width = height, width
    msg.fields = list(_XYZ_FIELDS if rgb is None else _XYZRGB_FIELDS)
    msg.is_bigendian = _HOST_BIG_ENDIAN
    msg.point_step = 4 * channels
    msg.row_step = msg.point_step * width
    msg.is_dense = bool(np.isfinite(xyz).all())
    msg.data = data
    return msg


def pointcloud2_fields(msg: PointCloud2, names: tuple[str, ...]) -> np.ndarray:
    """Named scalar fields of every point as float64 (N, len(names))
    (:func:`lingbot_depth_ros.messages.pointcloud_fields.pointcloud_fields`)."""
    return pointcloud_fields(msg, names)


def pointcloud2_to_xyz(msg: PointCloud2, skip_nans: bool = True) -> np.ndarray:
    """(N, 3) float32 x, y, z [m] of a PointCloud2
    (:func:`lingbot_depth_ros.messages.pointcloud_fields.pointcloud_xyz`)."""
    return pointcloud_xyz(msg, skip_nans)
