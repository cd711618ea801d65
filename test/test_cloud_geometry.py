"""Back-projection, cloud packing (the rclpy encoder) and intrinsics scaling against hand-computed numbers.
Reading clouds is tested in test_messages_pointcloud.py."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import PointField

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import backproject, depth_to_cloud_points
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_xyz, unpack_rgb
from lingbot_depth_ros.ros.cloud_codec import pack_rgb, xyz_to_pointcloud2

K = CameraIntrinsics(fx=100.0, fy=200.0, cx=2.0, cy=1.0, width=5, height=3)


def test_backprojection_matches_hand_computation() -> None:
    depth = np.full((3, 5), 2.0, np.float32)
    depth[0, 4] = 4.0
    xyz = backproject(depth, K)
    # pixel (u=4, v=0) at z=4: x = (4-2)*4/100 = 0.08, y = (0-1)*4/200 = -0.02
    np.testing.assert_allclose(xyz[0, 4], [0.08, -0.02, 4.0], rtol=1e-6)
    # principal point pixel (u=2, v=1) lies on the optical axis
    np.testing.assert_allclose(xyz[1, 2], [0.0, 0.0, 2.0])
    # (u=0, v=2) at z=2: x = -0.04, y = 0.01
    np.testing.assert_allclose(xyz[2, 0], [-0.04, 0.01, 2.0], rtol=1e-6)


def test_invalid_depth_gives_nan_points() -> None:
    depth = np.array([[0, np.nan, np.inf, -1, 1]] * 3, dtype=np.float32)
    xyz = backproject(depth, K)
    assert np.isnan(xyz[:, :4]).all() and np.isfinite(xyz[:, 4]).all()


def test_stride_and_range_limits() -> None:
    depth = np.full((3, 5), 3.0, np.float32)
    depth[0, 0] = 0.5
    cloud = depth_to_cloud_points(depth, K, stride=2, min_range_m=1.0, max_range_m=10.0)
    assert cloud.xyz.shape == (2, 3, 3)
    assert np.isnan(cloud.xyz[0, 0]).all()  # 0.5 m < min range
    unorganized = depth_to_cloud_points(depth, K, stride=2, min_range_m=1.0, organized=False)
    assert unorganized.xyz.shape == (5, 3)
    # max range uses the Euclidean range, not z: the corner ray is longer than z
    corner = float(np.linalg.norm(backproject(depth, K)[2, 4]))
    far = depth_to_cloud_points(depth, K, max_range_m=(corner + 3.0) / 2, organized=False)
    assert far.xyz.shape[0] < 15 and np.all(np.linalg.norm(far.xyz, axis=1) <= (corner + 3.0) / 2)


def test_pointcloud2_layout_xyzrgb_organized() -> None:
    depth = np.full((3, 5), 2.0, np.float32)
    depth[1, 1] = np.nan
    rgb = np.arange(45, dtype=np.uint8).reshape(3, 5, 3)
    cloud = depth_to_cloud_points(depth, K, rgb=rgb)
    msg = xyz_to_pointcloud2(cloud.xyz, rgb=cloud.rgb)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (3, 5, 16, 80)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1), ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1)]
    assert msg.is_dense is False
    raw = np.frombuffer(bytes(msg.data), dtype=np.float32).reshape(3, 5, 4)
    np.testing.assert_array_equal(raw[..., :3], cloud.xyz)
    assert np.array_equal(unpack_rgb(raw[..., 3]), rgb)
    assert pointcloud_xyz(msg).shape == (14, 3)  # the NaN point is skipped


def test_pack_rgb_byte_order_is_pcl_convention() -> None:
    packed = pack_rgb(np.array([[0x12, 0x34, 0x56]], dtype=np.uint8))
    assert packed.view(np.uint32)[0] == 0x123456
    msg = xyz_to_pointcloud2(np.zeros((1, 3), np.float32), rgb=np.array([[0x12, 0x34, 0x56]], np.uint8))
    assert bytes(msg.data)[12:16] == bytes([0x56, 0x34, 0x12, 0x00])


def test_xyz_only_unorganized_cloud_is_dense() -> None:
    pts = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    msg = xyz_to_pointcloud2(pts)
    assert (msg.height, msg.width, msg.point_step, msg.is_dense) == (1, 2, 12, True)
    np.testing.assert_array_equal(pointcloud_xyz(msg), pts)


def test_intrinsics_scaling_pixel_centre_convention() -> None:
    k = CameraIntrinsics(fx=500.0, fy=400.0, cx=319.5, cy=239.5, width=640, height=480)
    half = k.scaled(320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == (250.0, 200.0, 159.5, 119.5)  # centre stays the centre
    back = half.scaled(640, 480)
    assert back == k
    np.testing.assert_allclose(k.normalized()[0], [500 / 640, 0, 319.5 / 640])


@pytest.mark.parametrize("kw,match", [(dict(fx=0.0), "focal"), (dict(fy=-1.0), "focal"),
                                      (dict(cx=float("nan")), "finite"), (dict(width=0), "size")])
def test_bad_intrinsics_rejected(kw: dict, match: str) -> None:
    args = dict(fx=1.0, fy=1.0, cx=0.0, cy=0.0, width=2, height=2) | kw
    with pytest.raises(InputError, match=match):
        CameraIntrinsics(**args)


def test_backproject_rejects_mismatched_intrinsics() -> None:
    with pytest.raises(InputError, match="intrinsics are for 5x3"):
        backproject(np.ones((4, 4), np.float32), K)
