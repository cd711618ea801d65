"""The one camera model (messages/camera_model.py): CameraInfo -> image geometry the REP 104 way (K or P, binning
and ROI, image_geometry semantics), on CameraInfo messages as the node receives them (rclpy) and as batch / eval /
fuse read them from bags (rosbags); and its encoders (ros/camera_info.py, bags/messages.py)."""

from __future__ import annotations

import numpy as np
import pytest
from message_origins import ORIGINS, received
from sensor_msgs.msg import CameraInfo, RegionOfInterest
from std_msgs.msg import Header

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics, SensorWindow, reduce_camera_matrix
from lingbot_depth_ros.geometry.lidar_projection import projection_model
from lingbot_depth_ros.geometry.pointcloud import backproject
from lingbot_depth_ros.messages.camera_model import (
    MATRIX_K,
    MATRIX_K_NO_P,
    MATRIX_P,
    CameraInfoFields,
    camera_geometry,
    intrinsics_from_camera_info,
)
from lingbot_depth_ros.ros.camera_info import camera_info_for_output, camera_info_msg

K_FULL = np.array([[600.0, 0.0, 322.5], [0.0, 605.0, 238.25], [0.0, 0.0, 1.0]])
P_FULL = np.array([[480.0, 0.0, 330.0, 0.0], [0.0, 480.0, 244.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def info(p: np.ndarray = P_FULL, binning: int = 0, roi: tuple[int, int, int, int] = (0, 0, 0, 0),
         d: tuple[float, ...] = (0.1, -0.05, 0.0, 0.0, 0.0), origin: str = "rclpy") -> object:
    """A 640x480 camera's CameraInfo as ``origin`` (rclpy or rosbags) deserializes it."""
    msg = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=list(d), k=K_FULL.reshape(-1).tolist(),
                     r=np.eye(3).reshape(-1).tolist(), p=np.asarray(p, float).reshape(-1).tolist(),
                     binning_x=binning, binning_y=binning)
    msg.roi = RegionOfInterest(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3])
    return received(msg, origin)


def project(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(N, 3) points -> (N, 2) pixels with the left 3x3 of K or P (this camera's own frame: no Tx/Ty)."""
    uvw = points @ np.asarray(m)[:, :3].T
    return uvw[:, :2] / uvw[:, 2:]


@pytest.mark.parametrize("origin", ORIGINS)
def test_raw_image_uses_k_and_publishes_p_equal_to_k(origin: str) -> None:
    g = camera_geometry(info(origin=origin), 640, 480, rectified=False)
    assert g.matrix == MATRIX_K
    np.testing.assert_array_equal(g.intrinsics.matrix(), K_FULL)
    out = np.asarray(g.info.p).reshape(3, 4)
    np.testing.assert_array_equal(out[:, :3], K_FULL)  # what the cloud assumed: an ideal pinhole with K
    assert list(g.info.d) == [0.1, -0.05, 0.0, 0.0, 0.0] and np.array_equal(g.info.k, K_FULL.reshape(-1))


@pytest.mark.parametrize("origin", ORIGINS)
def test_rectified_image_uses_p_and_publishes_it_unchanged(origin: str) -> None:
    p = P_FULL.copy()
    p[0, 3] = -480.0 * 0.12  # a right camera: Tx = -fx' * baseline, carried over, ignored by back-projection
    g = camera_geometry(info(p, origin=origin), 640, 480, rectified=True)
    assert g.matrix == MATRIX_P
    k = g.intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == (480.0, 480.0, 330.0, 244.0)
    np.testing.assert_array_equal(np.asarray(g.info.p).reshape(3, 4), p)
    np.testing.assert_array_equal(np.asarray(g.info.k).reshape(3, 3), K_FULL)


@pytest.mark.parametrize("origin", ORIGINS)
def test_rectified_with_zero_p_falls_back_to_k_and_says_so(origin: str) -> None:
    g = camera_geometry(info(np.zeros((3, 4)), origin=origin), 640, 480, rectified=True)
    assert g.matrix == MATRIX_K_NO_P
    np.testing.assert_array_equal(g.intrinsics.matrix(), K_FULL)
    np.testing.assert_array_equal(np.asarray(g.info.p).reshape(3, 4)[:, :3], K_FULL)


@pytest.mark.parametrize("origin", ORIGINS)
def test_invalid_p_is_rejected_when_rectified(origin: str) -> None:
    p = P_FULL.copy()
    p[0, 0] = np.nan
    with pytest.raises(InputError, match=r"invalid intrinsics fx=nan .* in P"):
        camera_geometry(info(p, origin=origin), 640, 480, rectified=True)
    camera_geometry(info(p, origin=origin), 640, 480, rectified=False)  # P unused for a raw image


@pytest.mark.parametrize("rectified", [False, True])
@pytest.mark.parametrize("binning,roi,size", [
    (2, (0, 0, 0, 0), (320, 240)),             # binned 2x2
    (0, (100, 80, 320, 240), (320, 240)),      # ROI crop
    (2, (40, 20, 400, 300), (200, 150)),       # both: offset in full-resolution pixels, then binning
    (4, (0, 0, 0, 0), (160, 120)),
])
@pytest.mark.parametrize("origin", ORIGINS)
def test_binning_and_roi_follow_image_geometry(origin: str, rectified: bool, binning: int, roi: tuple,
                                               size: tuple) -> None:
    p = P_FULL.copy()
    p[0, 3] = -30.0
    g = camera_geometry(info(p, binning, roi, origin=origin), *size, rectified=rectified)
    b = max(binning, 1)
    full = P_FULL if rectified else K_FULL
    k = g.intrinsics
    assert (k.width, k.height) == size
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy],
                               [full[0, 0] / b, full[1, 1] / b, (full[0, 2] - roi[0]) / b, (full[1, 2] - roi[1]) / b])
    # a 3D point lands on the reduced image where image_geometry's toReducedResolution puts its full-res pixel
    pts = np.array([[0.3, -0.2, 2.0], [-1.0, 0.5, 4.0], [0.01, 0.02, 1.0]])
    reduced = (project(pts, full) - [roi[0], roi[1]]) / b
    np.testing.assert_allclose(project(pts, k.matrix()), reduced, atol=1e-9)
    # the published CameraInfo describes the output image alone
    out = g.info
    assert (out.width, out.height, out.binning_x, out.binning_y) == (size[0], size[1], 0, 0)
    assert (out.roi.x_offset, out.roi.y_offset, out.roi.width, out.roi.height) == (0, 0, 0, 0)
    out_p = np.asarray(out.p).reshape(3, 4)
    np.testing.assert_allclose(out_p[:, :3], k.matrix())
    assert out_p[0, 3] == (-30.0 / b if rectified else 0.0)  # Tx scales with binning like fx (image_geometry)
    # the LiDAR projection reads the same matrix from the published CameraInfo
    lidar_k, distortion = projection_model(out.k, out.d, out.distortion_model, out.p, *size, rectified)
    assert lidar_k == k and (distortion is None) == rectified


def test_reduce_camera_matrix_scales_p_translation() -> None:
    p = np.array([[500.0, 0, 320, -60], [0, 500, 240, 8], [0, 0, 1, 0]])
    m = reduce_camera_matrix(p, SensorWindow(binning_x=2, binning_y=4, x_offset=10, y_offset=20))
    np.testing.assert_allclose(m, [[250, 0, 155, -30], [0, 125, 55, 2], [0, 0, 1, 0]])
    assert SensorWindow(2, 2).image_size(640, 480) == (320, 240)
    assert SensorWindow(1, 1, 5, 5, 101, 51).image_size(640, 480) == (101, 51)
    assert SensorWindow(2, 2, 5, 5, 101, 51).image_size(640, 480) == (50, 25)


@pytest.mark.parametrize("binning,roi,size,match", [
    (0, (0, 0, 0, 0), (320, 240), r"camera_info is for 640x480 but the image is 320x240"),
    (2, (0, 0, 0, 0), (640, 480), (r"camera_info is for 640x480 \(binning 2x2, ROI 0x0\+0\+0 give 320x240\) but "
                                   r"the image is 640x480")),
    (0, (400, 0, 320, 240), (320, 240), r"ROI 320x240\+400\+0 does not fit the 640x480 camera"),
])
@pytest.mark.parametrize("origin", ORIGINS)
def test_inconsistent_sizes_are_rejected_clearly(origin: str, binning: int, roi: tuple, size: tuple,
                                                 match: str) -> None:
    with pytest.raises(InputError, match=match):
        camera_geometry(info(binning=binning, roi=roi, origin=origin), *size, rectified=False)


@pytest.mark.parametrize("origin", ORIGINS)
def test_unknown_camera_size_describes_the_image(origin: str) -> None:
    msg = info(origin=origin)
    msg.width = msg.height = 0
    assert camera_geometry(msg, 320, 200, rectified=False).intrinsics.width == 320


@pytest.mark.parametrize("rectified", [False, True])
@pytest.mark.parametrize("origin", ORIGINS)
def test_cloud_reprojects_onto_its_pixels_with_the_published_p(origin: str, rectified: bool) -> None:
    g = camera_geometry(info(binning=2, origin=origin), 320, 240, rectified=rectified)
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 8.0, size=(240, 320)).astype(np.float32)
    xyz = backproject(depth, g.intrinsics).reshape(-1, 3).astype(np.float64)
    out = camera_info_for_output(g, Header(frame_id="cam"))
    assert out.header.frame_id == "cam"
    uv = project(xyz, np.asarray(out.p).reshape(3, 4))
    v, u = np.mgrid[0:240, 0:320]
    np.testing.assert_allclose(uv, np.stack([u.ravel(), v.ravel()], axis=1), atol=1e-3)


@pytest.mark.parametrize("rectified", [False, True])
def test_the_output_camera_info_is_one_message_from_both_encoders(rectified: bool) -> None:
    """The node (rclpy) and batch's output bags (rosbags) write the same message for one geometry, and that camera
    info read back is the output image's own geometry (no binning / ROI left to apply)."""
    pytest.importorskip("rosbags", reason="rosbags is not installed")
    from rclpy.serialization import serialize_message

    from lingbot_depth_ros.bags.messages import CAMERA_INFO_TYPE, TYPESTORE, camera_info_fields_message

    def fields(msg: object) -> dict:
        names = ("width", "height", "distortion_model", "d", "k", "r", "p", "binning_x", "binning_y")
        return {name: np.asarray(getattr(msg, name)).tolist() for name in names} | {
            "roi": (msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height, msg.roi.do_rectify),
            "header": (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)}

    p = P_FULL.copy()
    p[0, 3] = -24.0
    g = camera_geometry(info(p, binning=2, roi=(40, 20, 400, 300), origin="rosbags"), 200, 150, rectified)
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    bag_header = TYPESTORE.types["std_msgs/msg/Header"](
        stamp=TYPESTORE.types["builtin_interfaces/msg/Time"](sec=12, nanosec=345), frame_id="cam")
    from_node = TYPESTORE.deserialize_cdr(serialize_message(camera_info_for_output(g, header)), CAMERA_INFO_TYPE)
    from_batch = TYPESTORE.deserialize_cdr(
        TYPESTORE.serialize_cdr(camera_info_fields_message(g.info, bag_header), CAMERA_INFO_TYPE), CAMERA_INFO_TYPE)
    assert fields(from_batch) == fields(from_node)
    assert np.asarray(from_node.p).reshape(3, 4)[0, 3] == (-12.0 if rectified else 0.0)
    for origin in ORIGINS:
        again = camera_geometry(received(camera_info_for_output(g, header), origin), 200, 150, rectified)
        assert again.intrinsics == g.intrinsics and again.info == g.info
    assert camera_geometry(g.info, 200, 150, rectified).info == g.info  # the fields are a CameraInfo too


@pytest.mark.parametrize("origin", ORIGINS)
def test_pinhole_camera_info_round_trips_the_intrinsics(origin: str) -> None:
    k = CameraIntrinsics(fx=321.5, fy=320.25, cx=160.75, cy=119.5, width=320, height=240)
    msg = received(camera_info_msg(CameraInfoFields.pinhole(k)), origin)
    assert (msg.distortion_model, list(msg.d)) == ("plumb_bob", [0.0] * 5)
    for rectified in (False, True):
        assert intrinsics_from_camera_info(msg, 320, 240, rectified) == k
