"""Silent wrong answers found by an outside review, each checked on a real node over real topics.

LiDAR clouds in millimetres / int16 fields, 0xFFFF sparse sentinels, frames that disagree, a false "no
synchronized set" warning after a pause, and integers given to double parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from ros_harness import NodeProcess, RosHarness, StampClock, in_process_node, wait_until
from sensor_msgs.msg import PointCloud2, PointField
from waiting import Pacer, quiet_for, repeat_until

from lingbot_depth_ros.estimators import COMPLETION, create_estimator
from lingbot_depth_ros.geometry.lidar_projection import ProjectionCounts
from lingbot_depth_ros.ros.camera_info import intrinsics_to_camera_info
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_to_xyz
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image, image_to_numpy, numpy_to_image
from lingbot_depth_ros.ros.obstacle_outputs import rejection_summary
from lingbot_depth_ros.synthetic.generator import SceneGenerator

pytestmark = pytest.mark.ros
DEPTH = "depth/image"


@pytest.fixture(scope="module")
def frame() -> Any:
    """320x240 procedural frame: RGB, K, sparse LiDAR depth [m] and the LiDAR points (lidar frame, metres)."""
    return SceneGenerator(width=320, height=240, seed=3, lidar_offset_m=(0.0, 0.0, 0.0)).frame(0)


Clock = StampClock(70)  # this module's stamps: 70 s on


def wait_output(harness: RosHarness, stamp: int, timeout: float = 20.0) -> Any:
    rec = harness.recorders[DEPTH]
    assert rec.wait(lambda m: rec.by_stamp(stamp) is not None, timeout), f"no output for stamp {stamp}"
    return rec.by_stamp(stamp)


def classical() -> Any:
    return create_estimator("classical")


# --------------------------------------------------------------------------- LiDAR in millimetres, int16 fields
def int_cloud(points_m: np.ndarray, datatype: int, scale: float, header: Any) -> PointCloud2:
    """A PointCloud2 whose x, y, z are integer (or float64) fields holding ``points_m * scale``, padded to 8 bytes
    per scalar the way some drivers lay them out."""
    dtype = {PointField.INT16: np.int16, PointField.INT32: np.int32, PointField.FLOAT64: np.float64,
             PointField.UINT16: np.uint16}[datatype]
    size = np.dtype(dtype).itemsize
    layout = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": [dtype, dtype, dtype, np.float32],
                       "offsets": [0, size, 2 * size, 3 * size], "itemsize": 3 * size + 4 + 2})
    values = np.round(points_m * scale) if np.issubdtype(dtype, np.integer) else points_m * scale
    data = np.zeros(len(points_m), layout)
    for i, axis in enumerate("xyz"):
        data[axis] = values[:, i]
    data["intensity"] = 7.0
    msg = PointCloud2(header=header, height=1, width=len(points_m), is_bigendian=False, point_step=layout.itemsize,
                      row_step=layout.itemsize * len(points_m), is_dense=True)
    msg.fields = [PointField(name=axis, offset=i * size, datatype=datatype, count=1) for i, axis in enumerate("xyz")]
    msg.fields.append(PointField(name="intensity", offset=3 * size, datatype=PointField.FLOAT32, count=1))
    msg.data = data.tobytes()
    return msg


@pytest.mark.parametrize("datatype,scale", [(PointField.INT16, 1000.0), (PointField.INT32, 1000.0),
                                            (PointField.FLOAT64, 1.0), (PointField.UINT16, 100.0)])
def test_integer_and_float64_fields_decode_to_their_values(datatype: int, scale: float) -> None:
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(0.5, 30.0, 200), rng.uniform(0.0, 5.0, 200), rng.uniform(0.0, 2.0, 200)])
    header = RosHarness.header(1, "lidar")
    xyz = pointcloud2_to_xyz(int_cloud(points, datatype, scale, header))
    expected = np.round(points * scale) if datatype != PointField.FLOAT64 else points
    assert xyz.dtype == np.float32 and xyz.shape == (200, 3)
    assert np.allclose(xyz, expected, rtol=1e-6, atol=1e-3)


def test_rejection_summary_names_the_reasons_largest_first() -> None:
    counts = ProjectionCounts(total=12000, behind=200, too_far=11800, median_far_z_m=9000.0)
    assert rejection_summary(counts, 0.1, 80.0) == (
        "LiDAR cloud: 0 of 12000 points usable: 11800 beyond lidar.max_depth_m (80 m), median 9000 m - is the "
        "cloud in millimetres? (points must be in metres), 200 behind the camera")
    wrong_extrinsics = ProjectionCounts(total=500, behind=300, outside_image=150, non_finite=50)
    text = rejection_summary(wrong_extrinsics, 0.1, 80.0)
    assert text.startswith("LiDAR cloud: 0 of 500 points usable: 300 behind the camera, 150 outside the camera "
                           "image, 50 non-finite (NaN/inf)") and "check the lidar.* extrinsics" in text
    assert "millimetres" not in text


@pytest.mark.parametrize("datatype", [PointField.FLOAT32, PointField.INT16])
def test_millimetre_cloud_is_reported_as_beyond_max_depth_not_outside_the_image(frame, datatype: int,
                                                                                capfd) -> None:
    points = frame.lidar_points_lidar
    points = points[np.isfinite(points).all(axis=1)]
    params = {"mode": COMPLETION, "sparse_input": "pointcloud", "lidar.use_tf": False, "lidar.max_depth_m": 80.0}
    with in_process_node(classical(), **params) as (node, harness):
        # metres first: the frame is used (so the node, extrinsics and camera are right) ...
        good = Clock.next()
        harness.pub_lidar.publish(int_cloud(points, PointField.INT32 if datatype == PointField.INT16 else
                                            PointField.FLOAT64, 1.0, harness.header(good, "lidar")))
        harness.publish_frame(frame.rgb, frame.intrinsics, None, good)
        wait_output(harness, good)
        # ... then the same cloud in millimetres
        bad = Clock.next()
        if datatype == PointField.INT16:
            cloud = int_cloud(points, PointField.INT16, 1000.0, harness.header(bad, "lidar"))
        else:
            cloud = int_cloud(points, PointField.FLOAT64, 1000.0, harness.header(bad, "lidar"))
        harness.pub_lidar.publish(cloud)
        harness.publish_frame(frame.rgb, frame.intrinsics, None, bad)
        assert wait_until(lambda: node.channels[0].drops["bad_input"] == 1, 20), dict(node.channels[0].drops)
        assert harness.recorders[DEPTH].by_stamp(bad) is None
    log = capfd.readouterr().err
    forward = points[:, 0] * 1000.0  # LiDAR x = camera optical z (no offset), now in "metres" that are mm
    far = int(np.count_nonzero((np.round(forward) if datatype == PointField.INT16 else forward) > 80.0))
    assert f"LiDAR cloud: 0 of {len(points)} points usable: " in log, log[-3000:]
    assert f"{far} beyond lidar.max_depth_m (80 m), median " in log, log[-3000:]
    assert "is the cloud in millimetres?" in log
    assert "no point inside the camera image" not in log and "check the lidar.* extrinsics" not in log


# --------------------------------------------------------------------------- 0xFFFF sentinel in 16UC1 sparse depth
def test_0xffff_is_no_measurement_in_16uc1_and_mono16() -> None:
    pixels = np.array([[0, 1234, 0xFFFF], [65534, 0xFFFF, 1]], np.uint16)
    for encoding in ("16UC1", "mono16"):
        depth = depth_m_from_image(numpy_to_image(pixels, encoding))
        assert np.isnan(depth[0, 0]) and np.isnan(depth[0, 2]) and np.isnan(depth[1, 1])
        assert depth[0, 1] == np.float32(1.234) and depth[1, 0] == np.float32(65.534) and depth[1, 2] == 0.001


def test_all_0xffff_sparse_is_dropped_not_a_65_m_plane_and_warned_once(frame, capfd) -> None:
    h, w = frame.sparse_depth_m.shape
    with in_process_node(classical(), mode=COMPLETION) as (node, harness):
        bad = Clock.next()
        header = harness.header(bad)
        harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))
        harness.pub_sparse.publish(numpy_to_image(np.full((h, w), 0xFFFF, np.uint16), "16UC1", header))
        harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
        assert wait_until(lambda: node.channels[0].drops["bad_input"] == 1, 20), dict(node.channels[0].drops)
        # a real frame whose "no return" pixels are 0xFFFF: used, and no pixel comes out at 65.535 m
        good = Clock.next()
        mm = image_to_numpy(depth_m_to_image(frame.sparse_depth_m, None, "16UC1")).copy()
        mm[mm == 0] = 0xFFFF
        header = harness.header(good)
        harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))
        harness.pub_sparse.publish(numpy_to_image(mm, "16UC1", header))
        harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
        depth = depth_m_from_image(wait_output(harness, good))
        assert np.nanmax(depth) < 20.0
        assert harness.recorders[DEPTH].by_stamp(bad) is None
    log = capfd.readouterr().err
    assert "sparse depth has no valid measurement (16UC1 [mm]: every pixel 0 or 0xFFFF)" in log, log[-3000:]
    assert log.count("pixels are 0xFFFF; treated as no measurement") == 1, log[-3000:]
    assert f"sparse depth: {h * w} of {h * w} 16UC1 pixels are 0xFFFF" in log


# --------------------------------------------------------------------------- frame ids that disagree
def test_sparse_or_camera_info_in_another_frame_warns_once_per_pair(frame, capfd) -> None:
    with in_process_node(classical(), mode=COMPLETION) as (node, harness):
        def send(sparse_frame: str, info_frame: str) -> int:
            stamp = Clock.next()
            header = harness.header(stamp, "cam_optical")
            harness.pub_sparse.publish(depth_m_to_image(frame.sparse_depth_m, harness.header(stamp, sparse_frame),
                                                        "32FC1"))
            harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, harness.header(stamp, info_frame)))
            harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
            return stamp

        for _ in range(3):
            wait_output(harness, send("lidar", "cam_optical"))  # warned, still processed
        wait_output(harness, send("lidar", "camera_info_frame"))
        wait_output(harness, send("cam_optical", "cam_optical"))
        wait_output(harness, send("lidar_2", "cam_optical"))
        assert node.channels[0].drops["bad_input"] == 0
    log = capfd.readouterr().err
    first = ("sparse_depth frame 'lidar' differs from image frame 'cam_optical': the sparse image must be "
             "registered to the colour camera")
    assert log.count(first) == 1, log[-3000:]
    assert log.count("camera_info frame 'camera_info_frame' differs from image frame 'cam_optical': the "
                     "calibration must be the colour camera's") == 1
    assert log.count("sparse_depth frame 'lidar_2' differs from image frame 'cam_optical'") == 1
    assert log.count("differs from image frame") == 3


def test_same_frames_do_not_warn_and_a_pointcloud_in_its_own_frame_is_exempt(frame, capfd) -> None:
    points = frame.lidar_points_lidar
    params = {"mode": COMPLETION, "sparse_input": "pointcloud", "lidar.use_tf": False}
    with in_process_node(classical(), **params) as (node, harness):
        stamp = Clock.next()
        harness.pub_lidar.publish(int_cloud(points[np.isfinite(points).all(axis=1)], PointField.FLOAT64, 1.0,
                                            harness.header(stamp, "lidar")))
        harness.publish_frame(frame.rgb, frame.intrinsics, None, stamp)
        wait_output(harness, stamp)
    assert "differs from image frame" not in capfd.readouterr().err


# --------------------------------------------------------------------------- no false no_sync after a pause
def test_pause_then_sparse_first_and_image_later_is_not_a_sync_failure(frame, capfd) -> None:
    warn_s = 1.0
    with in_process_node(classical(), mode=COMPLETION, no_sync_warn_s=warn_s) as (node, harness):
        first = Clock.next()
        harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m, first)
        wait_output(harness, first)
        quiet_for(warn_s + 1.0, "the robot stood still / the bag paused (longer than no_sync_warn_s)")
        stamp = Clock.next()
        header = harness.header(stamp)
        harness.pub_sparse.publish(depth_m_to_image(frame.sparse_depth_m, header, "32FC1"))
        harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))
        quiet_for(0.4, "the image of the same instant arrives 0.4 s later (slow camera driver)")
        harness.pub_image.publish(numpy_to_image(frame.rgb, "rgb8", header))
        wait_output(harness, stamp)
        quiet_for(warn_s + 0.5, "nothing is reported afterwards either (a window longer than no_sync_warn_s)")
        assert node.channels[0].drops["no_sync"] == 0, dict(node.channels[0].drops)
        assert "no synchronized set" not in capfd.readouterr().err

        # A real failure after a pause is still reported: sparse + camera_info keep coming, images do not.
        quiet_for(warn_s + 0.5, "another pause")

        def sparse_and_info_without_image() -> None:
            header = harness.header(Clock.next())
            harness.pub_sparse.publish(depth_m_to_image(frame.sparse_depth_m, header, "32FC1"))
            harness.pub_info.publish(intrinsics_to_camera_info(frame.intrinsics, header))

        repeat_until(sparse_and_info_without_image, lambda: node.channels[0].drops["no_sync"] == 1, 10 * warn_s,
                     "the no_sync drop while images do not come", detail=lambda: dict(node.channels[0].drops))
        pacer = Pacer(10.0)  # the same stall goes on (15 sets, whatever their spacing): said once
        for _ in range(15):
            sparse_and_info_without_image()
            pacer.wait()
        assert node.channels[0].drops["no_sync"] == 1, dict(node.channels[0].drops)
    assert "no synchronized set for" in capfd.readouterr().err


# --------------------------------------------------------------------------- integers for double parameters
def _call(harness: RosHarness, srv_type: Any, name: str, request: Any, timeout: float = 20.0) -> Any:
    client = harness.node.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        future = client.call_async(request)
        assert wait_until(future.done, timeout), f"no answer from {name}"
        return future.result()
    finally:
        harness.node.destroy_client(client)


def _get(harness: RosHarness, name: str) -> ParameterValue:
    return _call(harness, GetParameters, "/lingbot_depth_node/get_parameters", GetParameters.Request(names=[name])
                 ).values[0]


def _set(harness: RosHarness, name: str, value: ParameterValue) -> Any:
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
    return _call(harness, SetParameters, "/lingbot_depth_node/set_parameters", request).results[0]


def test_integers_are_accepted_for_double_parameters_at_startup_and_at_run_time(tmp_path: Path) -> None:
    params = {"estimator": "classical", "depth.max_m": 5, "slop_s": 0}  # `-p depth.max_m:=5` is an integer
    with NodeProcess(params, log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        harness = RosHarness()
        try:
            value = _get(harness, "depth.max_m")
            assert (value.type, value.double_value) == (ParameterType.PARAMETER_DOUBLE, 5.0)
            assert _get(harness, "slop_s").type == ParameterType.PARAMETER_DOUBLE

            # `ros2 param set /lingbot_depth_node depth.max_m 50` sends an integer
            result = _set(harness, "depth.max_m", ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                                 integer_value=50))
            assert result.successful, result.reason
            value = _get(harness, "depth.max_m")
            assert (value.type, value.double_value) == (ParameterType.PARAMETER_DOUBLE, 50.0)

            # still refused: out of range, a string, and a double for an integer parameter
            result = _set(harness, "depth.max_m", ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                                 integer_value=5000))
            assert not result.successful and "1000" in result.reason, result.reason
            result = _set(harness, "depth.max_m", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                                 string_value="far"))
            assert not result.successful and "must be a double" in result.reason, result.reason
            result = _set(harness, "queue_size", ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                                double_value=2.5))
            assert not result.successful, result.reason
            assert _get(harness, "depth.max_m").double_value == 50.0
        finally:
            harness.close()
        assert node.proc.poll() is None, node.log()[-3000:]


def test_a_string_for_a_double_parameter_still_fails_at_startup_with_one_line(tmp_path: Path) -> None:
    with NodeProcess({"estimator": "classical", "depth.max_m": "far"}, log_path=tmp_path / "node.log") as node:
        assert node.wait_exit(60) != 0
        log = node.log()
    assert "FATAL" in log and "depth.max_m must be a double" in log, log[-3000:]
    assert "Traceback" not in log
