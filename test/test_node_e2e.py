"""End to end over real rclpy: the node in its own process, this test process publishing and recording."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import NodeProcess, RosHarness, node_with_harness
from sensor_msgs.msg import PointField
from waiting import wait_until

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.ros.cloud_codec import pointcloud2_fields, unpack_rgb
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, image_to_numpy
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random

pytestmark = pytest.mark.ros
NYU_K = CameraIntrinsics(518.8579, 519.46961, 325.58245, 253.73617, 640, 480)
FRAME_ID = "camera_color_optical_frame"


@pytest.fixture(scope="module")
def nyu(shared_data: Path) -> dict:
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "nyu" / "rgb_00000.jpg")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(shared_data / "nyu" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    sparse = sample_random(gt, 500, seed=3)
    sparse = np.round(sparse * 1000) / 1000  # exactly representable in 16UC1 millimetres
    return {"rgb": rgb, "gt": gt, "sparse": sparse.astype(np.float32)}


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> tuple[NodeProcess, RosHarness]:
    log = tmp_path_factory.mktemp("node") / "node.log"
    with node_with_harness({"estimator": "classical", "mode": "completion"}, log) as pair:
        yield pair


def send_and_receive(harness: RosHarness, frame: dict, stamp: int, topics=("depth/image",), **kw) -> dict:
    harness.publish_frame(frame["rgb"], NYU_K, frame["sparse"], stamp, **kw)
    out = {}
    for topic in topics:
        rec = harness.recorders[topic]
        assert rec.wait(lambda msgs, rec=rec: rec.by_stamp(stamp) is not None, 20), f"no {topic} for stamp {stamp}"
        out[topic] = rec.by_stamp(stamp)
    return out


def test_outputs_headers_units_accuracy(running, nyu) -> None:
    node, harness = running
    stamp = 1_700_000_000_123_456_789
    out = send_and_receive(harness, nyu, stamp,
                           topics=("depth/image", "depth/camera_info", "depth/colorized", "points"))
    depth_msg, info, colour, cloud = (out[t] for t in ("depth/image", "depth/camera_info", "depth/colorized", "points"))

    # header passthrough on every output
    for msg in out.values():
        assert msg.header.frame_id == FRAME_ID
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(stamp, 1_000_000_000)

    # REP 118 depth: 32FC1 metres, NaN where invalid (never 0 or negative)
    assert depth_msg.encoding == "32FC1" and (depth_msg.height, depth_msg.width) == (480, 640)
    assert depth_msg.step == 640 * 4
    depth = depth_m_from_image(depth_msg)
    raw = image_to_numpy(depth_msg)
    assert not np.any(raw == 0) and not np.any(raw < 0)
    assert np.isnan(raw).any() == (~np.isfinite(depth)).any()

    # identical to running the same estimator directly (no unit or scale slip in the ROS layer)
    direct = DepthPipeline(create_estimator("classical")).process(nyu["rgb"], nyu["sparse"], NYU_K, OutputSettings())
    np.testing.assert_array_equal(np.isnan(raw), np.isnan(direct.depth_m))
    np.testing.assert_array_equal(raw, direct.depth_m)

    # accuracy against the real ground truth: metres, not millimetres; well below 1 m RMSE indoors
    valid = (nyu["gt"] > 0) & np.isfinite(depth)
    rmse = float(np.sqrt(np.mean((depth[valid] - nyu["gt"][valid]) ** 2)))
    assert valid.sum() > 0.5 * (nyu["gt"] > 0).sum()
    assert rmse < 0.6, rmse
    assert abs(np.median(depth[valid]) / np.median(nyu["gt"][valid]) - 1) < 0.1

    # camera_info matches the depth resolution and intrinsics
    assert (info.width, info.height) == (640, 480)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), NYU_K.matrix())

    # colorized: rgb8 image of the same size
    assert colour.encoding == "rgb8" and (colour.height, colour.width) == (480, 640)

    # cloud: organized xyzrgb float32, stride 2, NaN where invalid, points consistent with depth
    assert (cloud.height, cloud.width, cloud.is_dense) == (240, 320, False)
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        ("x", 0, PointField.FLOAT32), ("y", 4, PointField.FLOAT32), ("z", 8, PointField.FLOAT32),
        ("rgb", 12, PointField.FLOAT32)]
    pts = pointcloud2_fields(cloud, ("x", "y", "z")).reshape(240, 320, 3)
    sub = depth[::2, ::2]
    in_range = np.isfinite(pts[..., 2])
    np.testing.assert_allclose(pts[..., 2][in_range], sub[in_range], rtol=1e-6)
    v, u = 100, 150  # a sampled pixel: x = (u*2 - cx) z / fx
    if in_range[v, u]:
        np.testing.assert_allclose(pts[v, u, 0], (2 * u - NYU_K.cx) * sub[v, u] / NYU_K.fx, rtol=1e-5)
    colours = unpack_rgb(pointcloud2_fields(cloud, ("rgb",))[:, 0].astype(np.float32)).reshape(240, 320, 3)
    np.testing.assert_array_equal(colours, nyu["rgb"][::2, ::2])


def test_32fc1_sparse_equals_16uc1_sparse(running, nyu) -> None:
    _, harness = running
    a = image_to_numpy(send_and_receive(harness, nyu, 2_000_000_000, sparse_encoding="16UC1")["depth/image"])
    b = image_to_numpy(send_and_receive(harness, nyu, 2_100_000_000, sparse_encoding="32FC1")["depth/image"])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8"])
def test_every_colour_encoding_is_accepted(running, nyu, encoding: str) -> None:
    _, harness = running
    stamp = 3_000_000_000 + ["bgr8", "rgba8", "bgra8", "mono8"].index(encoding) * 1000
    depth = send_and_receive(harness, nyu, stamp, encoding=encoding)["depth/image"]
    assert depth.encoding == "32FC1" and np.isfinite(image_to_numpy(depth)).mean() > 0.5


def _set_params(harness: RosHarness, **values) -> list:
    client = harness.node.create_client(SetParameters, "/lingbot_depth_node/set_parameters")
    assert client.wait_for_service(timeout_sec=10)
    request = SetParameters.Request()
    for name, value in values.items():
        pv = ParameterValue()
        if isinstance(value, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, int):
            pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, value
        elif isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        else:
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, value
        request.parameters.append(ParameterMsg(name=name, value=pv))
    future = client.call_async(request)
    wait_until(future.done, 10, "the answer of set_parameters")
    harness.node.destroy_client(client)
    return future.result().results


def test_runtime_parameters_validated_and_applied(running, nyu) -> None:
    _, harness = running
    bad = _set_params(harness, **{"cloud.stride": 0})
    assert not bad[0].successful and "cloud.stride" in bad[0].reason
    bad = _set_params(harness, mode="monocular")
    assert not bad[0].successful and "monocular" in bad[0].reason
    bad = _set_params(harness, **{"cloud.min_range_m": 50.0})
    assert not bad[0].successful and "must be below cloud.max_range_m" in bad[0].reason
    bad = _set_params(harness, estimator="lingbot")
    assert not bad[0].successful and "read-only" in bad[0].reason

    ok = _set_params(harness, **{"cloud.organized": False, "cloud.rgb": False, "depth.max_m": 3.0})
    assert all(r.successful for r in ok)
    out = send_and_receive(harness, nyu, 4_000_000_000, topics=("depth/image", "points"))
    cloud = out["points"]
    assert cloud.height == 1 and cloud.is_dense and [f.name for f in cloud.fields] == ["x", "y", "z"]
    depth = image_to_numpy(out["depth/image"])
    assert np.nanmax(depth) <= 3.0 and np.isnan(depth).any()
    restore = _set_params(harness, **{"cloud.organized": True, "cloud.rgb": True, "depth.max_m": 100.0})
    assert all(r.successful for r in restore)


def test_runtime_estimator_options_rebuild_estimator(running, nyu) -> None:
    _, harness = running
    bad = _set_params(harness, **{"classical.max_depth_m": 0.01})
    assert not bad[0].successful and "classical.min_depth_m" in bad[0].reason
    before = image_to_numpy(send_and_receive(harness, nyu, 5_000_000_000)["depth/image"])
    assert _set_params(harness, **{"classical.smoothing": 0.0})[0].successful  # 0 = pure nearest fill
    after = image_to_numpy(send_and_receive(harness, nyu, 5_100_000_000)["depth/image"])
    expected = DepthPipeline(create_estimator("classical", smoothing=0.0)).process(
        nyu["rgb"], nyu["sparse"], NYU_K, OutputSettings()).depth_m
    np.testing.assert_array_equal(after, expected)
    assert not np.array_equal(before, after, equal_nan=True)
    assert _set_params(harness, **{"classical.smoothing": 0.5})[0].successful


@pytest.mark.parametrize("params,message", [
    ({"estimator": "classical", "mode": "monocular"}, "cannot run mode 'monocular'"),
    # .venv-kilted (node tests only) has no torch: then the clear error names the missing package
    ({"estimator": "lingbot", "lingbot.checkpoint": "/nonexistent/model.pt"},
     "/nonexistent/model.pt" if importlib.util.find_spec("torch") else "needs the Python package torch"),
    ({"cloud.min_range_m": 30.0}, "must be below cloud.max_range_m"),
    ({"slop_s": -1.0}, "slop_s"),
    ({"lingbot.resolution_level": "high"}, "lingbot.resolution_level"),
])
def test_startup_refused_with_clear_error(tmp_path, params: dict, message: str) -> None:
    with NodeProcess(params, log_path=tmp_path / "node.log") as node:
        code = node.wait_exit(timeout=60)
        log = node.log()
    assert code == 1, log
    assert "FATAL" in log and message in log, log
    assert "Traceback" not in log, log


def test_params_file_from_config_starts_node(tmp_path) -> None:
    config = Path(__file__).resolve().parents[1] / "config" / "lingbot_depth.yaml"
    with NodeProcess(params_file=config, log_path=tmp_path / "node.log") as node:
        node.wait_ready()
        assert "estimator classical" in node.log()
