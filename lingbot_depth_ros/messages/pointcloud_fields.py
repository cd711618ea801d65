"""sensor_msgs/PointCloud2 -> numpy: named fields of every point, for messages of any origin (no rclpy).

One parser for every PointCloud2 the package reads: rclpy messages in the node (LiDAR input, tests) and
rosbags messages in the bag readers and ``lingbot-depth batch``. Both message kinds have the same attribute
names, so :func:`pointcloud_fields` and :func:`pointcloud_xyz` take either; :func:`read_cloud_fields` takes the
fields one by one. (The encoder, numpy -> PointCloud2, is ``ros/cloud_codec.py``; for bags ``bags/messages.py``.)

Layout rules checked (each violation is an :class:`~lingbot_depth_ros.errors.EncodingError`):
``point_step > 0``, ``row_step >= point_step * width``, ``len(data) >= row_step * height``, every
requested field known, of a known datatype, and inside ``point_step``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.buffers import byte_view

#: sensor_msgs/PointField datatype constant -> numpy dtype (byte order applied when reading).
POINTFIELD_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.int8), 2: np.dtype(np.uint8), 3: np.dtype(np.int16), 4: np.dtype(np.uint16),
    5: np.dtype(np.int32), 6: np.dtype(np.uint32), 7: np.dtype(np.float32), 8: np.dtype(np.float64),
}


def read_cloud_fields(fields: Sequence[Any], names: Sequence[str], *, height: int, width: int, point_step: int,
                      row_step: int, data: Any, is_bigendian: bool) -> np.ndarray:
    """Named scalar fields of every point as float64 (N, len(names)), N = height * width (row-major).

    Args:
        fields: PointField-like objects with ``name``, ``offset`` [bytes] and ``datatype``.
        names: fields to read, in the output column order.
        height, width, point_step, row_step, is_bigendian: the PointCloud2 header values.
        data: the point buffer (bytes, array.array('B') or a uint8 numpy array).

    Raises:
        EncodingError: missing field, unknown datatype, a field past ``point_step``, inconsistent
            steps, or a buffer shorter than ``row_step * height``.
    """
    by_name = {f.name: f for f in fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise EncodingError(f"PointCloud2 lacks field(s) {missing}; it has {[f.name for f in fields]}")
    height, width, point_step, row_step = int(height), int(width), int(point_step), int(row_step)
    n_points = height * width
    if n_points == 0:
        return np.zeros((0, len(names)), dtype=np.float64)
    if point_step <= 0 or row_step < point_step * width:
        raise EncodingError(f"PointCloud2 point_step {point_step} / row_step {row_step} inconsistent "
                            f"with width {width}")
    buffer = byte_view(data)
    if buffer.size < row_step * height:
        raise EncodingError(f"PointCloud2 data has {buffer.size} bytes, expected row_step*height = "
                            f"{row_step * height}")
    rows = buffer[: row_step * height].reshape(height, row_step)[:, : point_step * width]
    points = np.ascontiguousarray(rows).reshape(n_points, point_step)
    out = np.empty((n_points, len(names)), dtype=np.float64)
    order: Literal[">", "<"] = ">" if is_bigendian else "<"
    for i, name in enumerate(names):
        field = by_name[name]
        dtype = POINTFIELD_DTYPES.get(int(field.datatype))
        if dtype is None:
            raise EncodingError(f"PointCloud2 field '{name}' has unknown datatype {field.datatype}")
        offset = int(field.offset)
        if offset < 0 or offset + dtype.itemsize > point_step:
            raise EncodingError(f"PointCloud2 field '{name}' at offset {offset} overruns point_step {point_step}")
        column = np.ascontiguousarray(points[:, offset: offset + dtype.itemsize])
        out[:, i] = column.view(dtype.newbyteorder(order))[:, 0]
    return out


def pointcloud_fields(msg: Any, names: Sequence[str]) -> np.ndarray:
    """Named scalar fields of every point of a PointCloud2 message as float64 (N, len(names)), organized clouds
    flattened row-major (see :func:`read_cloud_fields` for the checks)."""
    return read_cloud_fields(msg.fields, names, height=msg.height, width=msg.width, point_step=msg.point_step,
                             row_step=msg.row_step, data=msg.data, is_bigendian=bool(msg.is_bigendian))


def pointcloud_xyz(msg: Any, skip_nans: bool = True) -> np.ndarray:
    """(N, 3) float32 x, y, z [m] of a PointCloud2 message (points with a non-finite coordinate dropped when
    ``skip_nans``)."""
    xyz = pointcloud_fields(msg, ("x", "y", "z")).astype(np.float32)
    return xyz[np.isfinite(xyz).all(axis=1)] if skip_nans else xyz


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """PCL ``rgb`` field (float32 whose bytes are 0x00RRGGBB) -> (..., 3) uint8 RGB; inverse of
    :func:`lingbot_depth_ros.ros.cloud_codec.pack_rgb`."""
    bits = np.asarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=-1).astype(np.uint8)
