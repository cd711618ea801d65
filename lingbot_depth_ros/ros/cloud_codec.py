"""sensor_msgs/PointCloud2 <-> numpy, vectorized (our own small sensor_msgs_py equivalent).

Output clouds carry float32 ``x, y, z`` [m] and optionally ``rgb`` (the PCL/RViz convention: a
float32 field whose 4 bytes are 0x00RRGGBB in little-endian order).
"""

from __future__ import annotations

import array
import sys

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from lingbot_depth_ros.errors import EncodingError

_POINTFIELD_DTYPES: dict[int, np.dtype] = {
    PointField.INT8: np.dtype(np.int8), PointField.UINT8: np.dtype(np.uint8),
    PointField.INT16: np.dtype(np.int16), PointField.UINT16: np.dtype(np.uint16),
    PointField.INT32: np.dtype(np.int32), PointField.UINT32: np.dtype(np.uint32),
    PointField.FLOAT32: np.dtype(np.float32), PointField.FLOAT64: np.dtype(np.float64),
}
_XYZ_FIELDS = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
_XYZRGB_FIELDS = _XYZ_FIELDS + [PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1)]
_HOST_BIG_ENDIAN = sys.byteorder == "big"


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bytes are 0x00RRGGBB (PCL ``rgb`` convention)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype(np.uint32).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: (...) float32 -> (..., 3) uint8 RGB."""
    bits = np.asarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=-1).astype(np.uint8)


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
    points[..., :3] = xyz.reshape(height, width, 3)
    if rgb is not None:
        # float32 'rgb' field bytes, little endian 0x00RRGGBB = [B, G, R, 0]
        rgba_bytes = points.view(np.uint8).reshape(height, width, 16)
        colours = np.asarray(rgb, dtype=np.uint8).reshape(height, width, 3)
        order = (2, 1, 0) if not _HOST_BIG_ENDIAN else (0, 1, 2)
        offset = 12 if not _HOST_BIG_ENDIAN else 13
        for k, channel in enumerate(order):
            rgba_bytes[..., offset + k] = colours[..., channel]
        rgba_bytes[..., 15 if not _HOST_BIG_ENDIAN else 12] = 0
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
    """Read named scalar fields of every point as float64 (N, len(names)) (organized clouds flattened).

    Raises:
        EncodingError: missing field, unsupported datatype, or a buffer shorter than the header says.
    """
    by_name = {f.name: f for f in msg.fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise EncodingError(f"PointCloud2 lacks field(s) {missing}; it has {[f.name for f in msg.fields]}")
    n_points = int(msg.height) * int(msg.width)
    if n_points == 0:
        return np.zeros((0, len(names)), dtype=np.float64)
    if msg.point_step <= 0 or msg.row_step < msg.point_step * msg.width:
        raise EncodingError(f"PointCloud2 point_step {msg.point_step} / row_step {msg.row_step} inconsistent "
                            f"with width {msg.width}")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < msg.row_step * msg.height:
        raise EncodingError(f"PointCloud2 data has {buffer.size} bytes, expected row_step*height = "
                            f"{msg.row_step * msg.height}")
    rows = buffer[: msg.row_step * msg.height].reshape(msg.height, msg.row_step)[:, : msg.point_step * msg.width]
    points = np.ascontiguousarray(rows).reshape(n_points, msg.point_step)
    out = np.empty((n_points, len(names)), dtype=np.float64)
    for i, name in enumerate(names):
        field = by_name[name]
        dtype = _POINTFIELD_DTYPES.get(field.datatype)
        if dtype is None:
            raise EncodingError(f"PointCloud2 field '{name}' has unknown datatype {field.datatype}")
        if field.offset + dtype.itemsize > msg.point_step:
            raise EncodingError(f"PointCloud2 field '{name}' at offset {field.offset} overruns point_step "
                                f"{msg.point_step}")
        column = points[:, field.offset: field.offset + dtype.itemsize]
        out[:, i] = np.ascontiguousarray(column).view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))[:, 0]
    return out


def pointcloud2_to_xyz(msg: PointCloud2, skip_nans: bool = True) -> np.ndarray:
    """(N, 3) float32 x, y, z [m] of a PointCloud2 (non-finite points dropped when ``skip_nans``)."""
    xyz = pointcloud2_fields(msg, ("x", "y", "z")).astype(np.float32)
    if skip_nans:
        xyz = xyz[np.isfinite(xyz).all(axis=1)]
    return xyz
