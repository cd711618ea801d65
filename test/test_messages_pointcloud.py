"""PointCloud2 decoding (lingbot_depth_ros.messages.pointcloud_fields): foreign layouts, every field datatype, byte
order and the layout checks, on clouds as the node receives them (rclpy) and as batch reads them from bags
(rosbags)."""

from __future__ import annotations

import numpy as np
import pytest
from message_origins import ORIGINS, received
from sensor_msgs.msg import PointCloud2, PointField

from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_fields, pointcloud_xyz, unpack_rgb
from lingbot_depth_ros.ros.cloud_codec import pack_rgb, xyz_to_pointcloud2

DATATYPES = {PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2", PointField.UINT16: "u2",
             PointField.INT32: "i4", PointField.UINT32: "u4", PointField.FLOAT32: "f4", PointField.FLOAT64: "f8"}


def cloud(points: np.ndarray, fields: list[tuple[str, int, int]], point_step: int, *, height: int = 1,
          big_endian: bool = False, row_padding: int = 0) -> PointCloud2:
    """A PointCloud2 of the structured array ``points`` (height * width points) with ``fields`` (name, offset,
    datatype), rows padded by ``row_padding`` bytes of garbage."""
    width = len(points) // height
    rows = np.frombuffer(points.tobytes(), np.uint8).reshape(height, width * point_step)
    data = np.concatenate([rows, np.full((height, row_padding), 0xAB, np.uint8)], axis=1)
    return PointCloud2(height=height, width=width, point_step=point_step, row_step=width * point_step + row_padding,
                       is_bigendian=big_endian, is_dense=False, data=data.tobytes(),
                       fields=[PointField(name=n, offset=o, datatype=t, count=1) for n, o, t in fields])


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("order", ["<", ">"])
def test_every_datatype_and_byte_order_is_read(origin: str, datatype: int, order: str) -> None:
    kind = DATATYPES[datatype]
    layout = np.dtype({"names": ["x", "y", "z", "intensity"],
                       "formats": [order + kind] * 3 + [order + "f4"],
                       "offsets": [0, 8, 16, 24], "itemsize": 32})  # padding between and after the fields
    values = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], np.float64)
    points = np.zeros(4, layout)
    for i, axis in enumerate("xyz"):
        points[axis] = values[:, i]
    points["intensity"] = [0.5, 1.5, 2.5, 3.5]
    fields = [("x", 0, datatype), ("y", 8, datatype), ("z", 16, datatype), ("intensity", 24, PointField.FLOAT32)]
    msg = received(cloud(points, fields, 32, height=2, big_endian=order == ">", row_padding=5), origin)
    xyz = pointcloud_xyz(msg)
    assert xyz.dtype == np.float32 and np.array_equal(xyz, values)
    np.testing.assert_array_equal(pointcloud_fields(msg, ("intensity", "x"))[:, 0], [0.5, 1.5, 2.5, 3.5])


@pytest.mark.parametrize("origin", ORIGINS)
def test_non_finite_points_are_dropped_or_kept(origin: str) -> None:
    xyz = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0], [7.0, 8.0, np.inf]], np.float32)
    msg = received(xyz_to_pointcloud2(xyz), origin)
    np.testing.assert_array_equal(pointcloud_xyz(msg), xyz[[0]])
    np.testing.assert_array_equal(pointcloud_xyz(msg, skip_nans=False), xyz)


@pytest.mark.parametrize("origin", ORIGINS)
def test_packed_rgb_field_is_read_back(origin: str) -> None:
    rgb = np.array([[0x12, 0x34, 0x56], [255, 0, 1]], np.uint8)
    msg = received(xyz_to_pointcloud2(np.zeros((2, 3), np.float32), rgb=rgb), origin)
    assert np.array_equal(unpack_rgb(pointcloud_fields(msg, ("rgb",))[:, 0].astype(np.float32)), rgb)
    assert np.array_equal(unpack_rgb(pack_rgb(rgb)), rgb)


@pytest.mark.parametrize("origin", ORIGINS)
def test_malformed_clouds_are_refused_with_the_reason(origin: str) -> None:
    points = np.array([(1.0, 2.0, 3.0)], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    fields = [("x", 0, PointField.FLOAT32), ("y", 4, PointField.FLOAT32), ("z", 8, PointField.FLOAT32)]
    with pytest.raises(EncodingError, match="lacks field"):
        pointcloud_fields(received(cloud(points, fields, 12), origin), ("rgb",))
    with pytest.raises(EncodingError, match="overruns point_step"):  # z would read bytes 10..13 of a 12-byte point
        pointcloud_xyz(received(cloud(points, fields[:2] + [("z", 10, PointField.FLOAT32)], 12), origin))
    with pytest.raises(EncodingError, match="unknown datatype 9"):
        pointcloud_xyz(received(cloud(points, fields[:2] + [("z", 8, 9)], 12), origin))
    short = cloud(points, fields, 12)
    short.data = bytes(10)
    with pytest.raises(EncodingError, match="expected row_step\\*height = 12"):
        pointcloud_xyz(received(short, origin))
    inconsistent = cloud(points, fields, 12)
    inconsistent.row_step = 8
    with pytest.raises(EncodingError, match="inconsistent"):
        pointcloud_xyz(received(inconsistent, origin))
