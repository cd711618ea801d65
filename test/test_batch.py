"""``lingbot-depth batch`` on a local Ray: equality with the node, resume, a killed worker, bad inputs.

One Ray session for the whole module (Ray startup is slow); tiny procedural bags and the shared KITTI/NYU
frames. Each batch reuses the module's Ray session (the runner does not start its own when one is up).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the batch extra (ray) is not installed: pip install '.[batch]'")

from lingbot_depth_ros.bags.datasets import write_scene_bag  # noqa: E402
from lingbot_depth_ros.bags.files import read_frames  # noqa: E402
from lingbot_depth_ros.batch.api import batch  # noqa: E402
from lingbot_depth_ros.batch.params import node_values  # noqa: E402
from lingbot_depth_ros.batch.sources import DatasetOptions  # noqa: E402
from lingbot_depth_ros.cli.main import main  # noqa: E402
from lingbot_depth_ros.errors import ConfigError, InputError  # noqa: E402
from lingbot_depth_ros.pipeline.depth_pipeline import OutputSettings  # noqa: E402

PARAMS = ["classical.smoothing=0.3", "depth.max_m=60", "cloud.stride=3"]


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bags")
    out = {}
    for name, frames, seed in (("drive_a", 5, 0), ("drive_b", 3, 1)):
        write_scene_bag(root / name, frames, width=96, height=72, seed=seed, lidar_beams=16, lidar_points=False)
        out[name] = root / name
    return out


def _npy(out: Path, input_id: str) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted((out / input_id / "depth_npy").glob("*.npy"))}


def test_node_parameters_are_parsed_and_checked_with_the_node_table() -> None:
    values = node_values(["classical.smoothing=0.3", "cloud.enabled=false", "cloud.stride=4", "depth.max_m=5"])
    assert values["classical.smoothing"] == 0.3 and values["cloud.enabled"] is False and values["cloud.stride"] == 4
    assert isinstance(values["depth.max_m"], float)
    settings = OutputSettings.from_params(values)
    assert (settings.cloud, settings.cloud_stride, settings.depth_max_m) == (False, 4, 5.0)
    for bad, words in ((["cloud.stride=0"], "below its minimum"), (["no.such=1"], "unknown node parameter"),
                       (["cloud.enabled=maybe"], "must be a bool"), (["depth.min_m=9", "depth.max_m=5"], "below"),
                       (["mode"], "name=value")):
        with pytest.raises(ConfigError, match=words):
            node_values(bad)


def test_offline_depth_equals_the_node_output_bit_for_bit(bags: dict[str, Path], tmp_path: Path) -> None:
    from ros_harness import in_process_node  # rclpy: only this test needs ROS

    from lingbot_depth_ros.bags.files import read_raw
    from lingbot_depth_ros.bags.messages import TYPESTORE
    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.messages.header import stamp_ns
    from lingbot_depth_ros.params.node import estimator_options
    from lingbot_depth_ros.ros.image_codec import image_to_numpy

    summary = batch([bags["drive_a"]], tmp_path / "out", params=PARAMS, unit_frames=2, workers=1, write="bag")
    assert summary["overall"]["frames_ok"] == 5
    offline = _npy(tmp_path / "out", "drive_a")
    bag_out = {}  # (topic, stamp) -> message of the output bag
    for raw in read_raw(tmp_path / "out" / "drive_a" / "bag", ["/camera/points", "/camera/depth/camera_info"]):
        msg = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
        bag_out[(raw.topic, stamp_ns(msg))] = msg
    values = node_values(PARAMS)
    params = {name: value for name, value in values.items() if name.startswith("classical.")}
    params.update({"depth.max_m": 60.0, "cloud.stride": 3})
    estimator = create_estimator("classical", **estimator_options("classical", values))
    with in_process_node(estimator, **params) as (node, harness):
        depth_rec = harness.recorders["depth/image"]
        for i, frame in enumerate(read_frames(bags["drive_a"])):
            harness.publish_frame(frame.rgb, frame.intrinsics, frame.sparse_depth_m, frame.stamp_ns)
            assert depth_rec.wait(lambda msgs, n=i + 1: len(msgs) >= n, timeout=30), "node gave no depth"
            published = image_to_numpy(depth_rec.by_stamp(frame.stamp_ns))
            mine = offline[str(frame.stamp_ns)]
            assert mine.dtype == np.float32 and mine.shape == published.shape
            assert np.array_equal(mine.view(np.uint32), published.view(np.uint32)), f"frame {i} differs"
            assert harness.recorders["points"].wait(lambda msgs, n=i + 1: len(msgs) >= n, timeout=30)
            cloud, my_cloud = harness.recorders["points"].by_stamp(frame.stamp_ns), \
                bag_out[("/camera/points", frame.stamp_ns)]
            assert (my_cloud.height, my_cloud.width, my_cloud.point_step) == \
                (cloud.height, cloud.width, cloud.point_step)
            assert [(f.name, f.offset) for f in my_cloud.fields] == [(f.name, f.offset) for f in cloud.fields]
            assert bytes(my_cloud.data) == bytes(cloud.data), f"cloud of frame {i} differs"
            assert harness.recorders["depth/camera_info"].wait(lambda msgs, n=i + 1: len(msgs) >= n, timeout=30)
            info, my_info = harness.recorders["depth/camera_info"].by_stamp(frame.stamp_ns), \
                bag_out[("/camera/depth/camera_info", frame.stamp_ns)]
            assert np.array_equal(np.asarray(info.k), my_info.k) and np.array_equal(np.asarray(info.p), my_info.p)
    assert len(offline) == 5


def _node_outputs_for_bag(bag: Path, values: dict, params: dict) -> dict[int, dict[str, object]]:
    """Every input message of ``bag`` published, frame by frame and as recorded, to a depth node (in this process,
    over real rclpy topics; its topics are the bag's without ``/camera``) -> stamp -> its depth/image, points and
    depth/camera_info. The bag's CDR bytes are deserialized by rclpy itself, so the node gets the very messages
    ``lingbot-depth batch`` read."""
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.serialization import deserialize_message
    from ros_harness import RosHarness, _spinning_depth_node, wait_until
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from lingbot_depth_ros.bags.files import read_raw
    from lingbot_depth_ros.bags.stamps import cdr_stamp_ns
    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.params.node import estimator_options

    types = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
             "sensor_msgs/msg/CameraInfo": CameraInfo}
    inputs = ("/camera/image", "/camera/image/compressed", "/camera/camera_info", "/camera/sparse_depth",
              "/camera/sparse_depth/compressedDepth")
    frames: dict[int, list[tuple[str, object]]] = {}
    for raw in read_raw(bag, inputs):
        frames.setdefault(cdr_stamp_ns(raw.data), []).append(
            (raw.topic, deserialize_message(raw.data, types[raw.msgtype])))
    estimator = create_estimator("classical", **estimator_options("classical", values))
    outputs: dict[int, dict[str, object]] = {}
    with _spinning_depth_node(estimator, [Parameter(k, value=v) for k, v in params.items()]):
        harness = RosHarness()
        try:
            pubs = {topic: harness.node.create_publisher(type(msg), topic[len("/camera/"):], qos_profile_sensor_data)
                    for messages in frames.values() for topic, msg in messages}
            wait_until(lambda: all(pub.get_subscription_count() > 0 for pub in pubs.values()), 20,
                       "the node to subscribe to the bag's input topics")
            for stamp, messages in sorted(frames.items()):
                recorders = {name: harness.recorders[name] for name in ("depth/image", "points", "depth/camera_info")}
                for _ in range(3):  # the node's first outputs may race the harness subscriptions: publish again
                    for topic, msg in messages:
                        pubs[topic].publish(msg)
                    if all(r.wait(lambda _, r=r, stamp=stamp: r.by_stamp(stamp) is not None, 15)
                           for r in recorders.values()):
                        break
                outputs[stamp] = {name: r.by_stamp(stamp) for name, r in recorders.items()}
                assert all(outputs[stamp].values()), f"the node gave no full output for stamp {stamp}"
        finally:
            harness.close()
    return outputs


@pytest.mark.parametrize("camera", ["yuv422", "bayer_grbg8 stereo_p", "rgb8 stereo_p", "jpeg+png", "jpeg+rvl"])
def test_bags_of_other_cameras_give_the_nodes_depth_cloud_and_camera_info(bags: dict[str, Path], tmp_path: Path,
                                                                         camera: str) -> None:
    """A bag as a yuv422 camera (usb_cam), a Bayer camera (rectified right camera of a stereo pair: P != K with
    Tx) or image_transport's compressed plugins (jpeg image, compressedDepth png / rvl sparse depth) record it:
    ``lingbot-depth batch`` and the node fed the bag's messages over real topics give the same depth, the same
    cloud (coloured from the decoded image; the RGB-guided refinement makes the depth depend on it too) and the
    same depth/camera_info, bit for bit."""
    image, _, extra = camera.partition(" ")
    image, _, sparse = image.partition("+")
    bag = tmp_path / "bag"
    _transcoded_copy(bags["drive_b"], bag, image=image, sparse=sparse or "16UC1", stereo_p=extra == "stereo_p")
    params = PARAMS + ["classical.rgb_refine=true"] + (["camera.rectified=true"] if extra == "stereo_p" else [])
    summary = batch([bag], tmp_path / "out", params=params, unit_frames=2, workers=1, write="bag")
    assert summary["overall"]["frames_ok"] == 3, summary["inputs"]
    values = node_values(params)
    node_params = {name: values[name] for name in values if name.startswith("classical.")} | {
        "depth.max_m": 60.0, "cloud.stride": 3, "camera.rectified": extra == "stereo_p",
        "image_transport": "compressed" if sparse else "raw",
        "sparse_transport": "compressedDepth" if sparse else "raw"}
    node = _node_outputs_for_bag(bag, values, node_params)

    from lingbot_depth_ros.bags.files import read_raw
    from lingbot_depth_ros.bags.messages import TYPESTORE
    from lingbot_depth_ros.messages.header import stamp_ns
    from lingbot_depth_ros.messages.image import image_pixels

    offline = _npy(tmp_path / "out", "bag")
    written = {}
    for raw in read_raw(tmp_path / "out" / "bag" / "bag", ["/camera/points", "/camera/depth/camera_info"]):
        msg = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
        written[(raw.topic, stamp_ns(msg))] = msg
    assert sorted(offline) == sorted(str(stamp) for stamp in node) and len(node) == 3
    for stamp, out in node.items():
        mine, published = offline[str(stamp)], image_pixels(out["depth/image"])
        assert np.isfinite(mine).mean() > 0.5
        assert np.array_equal(mine.view(np.uint32), published.view(np.uint32)), f"depth of {stamp} differs"
        cloud, my_cloud = out["points"], written[("/camera/points", stamp)]
        assert [f.name for f in my_cloud.fields] == [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
        assert bytes(my_cloud.data) == bytes(cloud.data), f"cloud of {stamp} differs"
        info, my_info = out["depth/camera_info"], written[("/camera/depth/camera_info", stamp)]
        for field in ("k", "p", "d", "r"):
            assert np.array_equal(np.asarray(getattr(info, field)), getattr(my_info, field)), field
        assert (info.width, info.height, info.distortion_model) == (my_info.width, my_info.height,
                                                                   my_info.distortion_model)
        assert (np.asarray(info.p)[3] != 0) == (extra == "stereo_p")  # the right camera's Tx reaches both


def test_datasets_and_bags_together_with_metrics_and_report(bags: dict[str, Path], shared_data: Path,
                                                             tmp_path: Path) -> None:
    import shutil

    from lingbot_depth_ros.io.depth_files import load_depth_file, save_depth_png_mm
    from lingbot_depth_ros.synthetic.sparse_sampling import sample_random

    images = tmp_path / "images"  # an image folder: photos + sparse/ depth PNGs [mm] with the same stems
    (images / "sparse").mkdir(parents=True)
    for name in ("00000", "00050"):
        shutil.copy(shared_data / "nyu" / f"rgb_{name}.jpg", images / f"cam_{name}.jpg")
        gt = load_depth_file(shared_data / "nyu" / f"sync_depth_{name}.png")
        save_depth_png_mm(images / "sparse" / f"cam_{name}.png", sample_random(gt, n_points=500, seed=1))
    out = tmp_path / "out"
    kitti_calib = shared_data / "kitti_lidar" / "calib" / "calib_cam_to_cam.txt"
    summary = batch([bags["drive_b"], shared_data / "nyu", shared_data / "kitti_gt", images], out, unit_frames=2,
                    workers=2, dataset=DatasetOptions(kitti_calib=str(kitti_calib)))
    by_id = {i["label"]: i for i in summary["inputs"]}
    # no intrinsics for the image folder: its units fail with the reason, the other inputs finish
    assert by_id["images"]["kind"] == "images" and by_id["images"]["status"] == "incomplete"
    assert "no intrinsics" in " ".join(by_id["images"]["failed_units"]) and by_id["images"]["frames"] == 0
    del by_id["images"]
    assert {k: (v["kind"], v["frames_ok"]) for k, v in by_id.items()} == \
        {"drive_b": ("bag", 3), "nyu": ("nyu", 3), "kitti_gt": ("kitti", 2)}
    for item in by_id.values():  # both pixel sets scored for every input with ground truth
        assert item["metrics"]["n_frames"] == item["frames_ok"] and item["metrics_all"]["rmse_mm"] > 0
        assert item["metrics_all"]["n_valid"] >= item["metrics"]["n_valid"]
    assert 0 < by_id["nyu"]["metrics"]["abs_rel"] < 0.2 and by_id["kitti_gt"]["metrics"]["rmse_mm"] < 5000
    assert summary["overall"]["frames"] == 8 and len(summary["workers"]) >= 1
    png = out / "nyu" / "depth_png" / "00050.png"
    import cv2
    mm = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and mm.shape == (480, 640)
    npy = np.load(out / "nyu" / "depth_npy" / "00050.npy")
    ok = np.isfinite(npy) & (npy <= 65.535)
    assert np.array_equal(mm[ok], np.round(npy[ok] * 1000).astype(np.uint16))
    report = json.loads((out / "report.json").read_text())
    assert report["overall"]["frames_ok"] == 8
    md = (out / "report.md").read_text()
    assert "Accuracy on all valid ground-truth pixels" in md and "| kitti_gt | kitti | ok | 2 | 2 | 0 |" in md
    assert "<table>" in (out / "report.html").read_text()

    # the image folder with its intrinsics given (a new --out: other settings)
    again = batch([images], tmp_path / "out_images", dataset=DatasetOptions(intrinsics=(518.86, 519.47, 325.58,
                                                                                        253.74)))
    assert again["inputs"][0]["frames_ok"] == 2 and again["inputs"][0]["metrics"] == {}
    assert sorted(p.name for p in (tmp_path / "out_images" / "images" / "depth_npy").iterdir()) == \
        ["cam_00000.npy", "cam_00050.npy"]


@pytest.mark.parametrize("read", ["worker", "data"])
def test_interrupted_run_resumes_and_a_killed_worker_loses_no_frame(bags: dict[str, Path], tmp_path: Path,
                                                                    read: str) -> None:
    """Both read paths: actors reading their units, and Ray Data read tasks (the datasource) feeding them."""
    out = tmp_path / "out"
    inputs = [bags["drive_a"], bags["drive_b"]]  # 5 + 3 frames in units of 1

    def interrupt(runner, result) -> None:
        raise KeyboardInterrupt  # the operator stops the run after its first finished unit

    with pytest.raises(KeyboardInterrupt):
        batch(inputs, out, unit_frames=1, workers=2, on_result=interrupt, read=read)
    first = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(first) == 1

    killed: list[str] = []

    def kill_busy_worker(runner, result) -> None:
        if not killed and runner.busy:
            future, (actor, unit) = next(iter(runner.busy.items()))
            killed.append(unit.key)
            ray.kill(actor)  # a worker dies in the middle of a unit

    summary = batch(inputs, out, unit_frames=1, workers=2, on_result=kill_busy_worker, read=read)
    o = summary["overall"]
    assert killed and o["retried_units"] >= 1, "no worker was killed"
    assert o["resumed_units"] == 1 and o["frames_this_run"] == 7 and o["frames"] == 8 and o["frames_ok"] == 8
    keys = [json.loads(line)["unit"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 8, "a unit recorded twice"
    assert killed[0] in keys  # the killed worker's unit was retried and finished
    assert len(_npy(out, "drive_a")) == 5 and len(_npy(out, "drive_b")) == 3
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "temporary files left behind"

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    # what a worker killed between writing a frame and renaming it leaves (the kill above may or may not): the
    # next run removes it
    stale = out / "drive_a" / "depth_npy" / f".{min(_npy(out, 'drive_a'))}.tmp99999.npy"
    stale.write_bytes(b"\x93NUMPY")
    again = batch(inputs[::-1], out, unit_frames=1, workers=2, read=read)  # reordered inputs keep their output folders
    assert not stale.exists(), "a killed worker's temporary file was left behind"
    assert again["overall"]["resumed_units"] == 8 and again["overall"]["frames_this_run"] == 0
    assert again["overall"]["frames_ok"] == 8
    assert mtimes == {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}, "finished frames were rewritten"
    with pytest.raises(InputError, match="other settings"):
        batch(inputs, out, unit_frames=1, params=["depth.max_m=50"])


def test_corrupt_and_empty_inputs_are_reported_and_the_others_finish(bags: dict[str, Path], tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt_bag"
    corrupt.mkdir()
    (corrupt / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9, storage_identifier: mcap")
    truncated = tmp_path / "truncated_bag"
    truncated.mkdir()
    for src in bags["drive_b"].iterdir():
        data = src.read_bytes()
        (truncated / src.name).write_bytes(data[: len(data) // 2] if src.suffix == ".mcap" else data)
    empty = tmp_path / "empty"
    empty.mkdir()
    from rosbags.rosbag2 import Writer

    from lingbot_depth_ros.bags.messages import TYPESTORE

    empty_bag = tmp_path / "empty_bag"  # a valid bag whose topics carry no message (a recording that got nothing)
    writer = Writer(empty_bag, version=9)
    writer.open()
    for topic, msgtype in (("/camera/image", "sensor_msgs/msg/Image"),
                           ("/camera/camera_info", "sensor_msgs/msg/CameraInfo")):
        writer.add_connection(topic, msgtype, typestore=TYPESTORE)
    writer.close()
    out = tmp_path / "out"
    code = main(["batch", str(corrupt), str(bags["drive_a"]), str(truncated), str(empty), str(empty_bag),
                 "--out", str(out), "--unit-frames", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    report = json.loads((out / "report.json").read_text())
    by_id = {i["label"]: i for i in report["inputs"]}
    assert by_id["drive_a"]["status"] == "ok" and by_id["drive_a"]["frames_ok"] == 5
    assert by_id["corrupt_bag"]["status"] == "failed" and by_id["empty"]["status"] == "failed"
    assert "neither a rosbag2 folder" in by_id["empty"]["error"]
    assert by_id["truncated_bag"]["status"] in ("failed", "incomplete")
    assert by_id["empty_bag"]["status"] == "empty" and by_id["empty_bag"]["frames"] == 0
    assert "corrupt_bag" in err and "truncated_bag" in err and "Traceback" not in err


def test_bad_options_are_one_line_errors(bags: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(bags["drive_a"]), "--out", str(tmp_path / "o"), "--param", "cloud.stride=99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cloud.stride=99 is above its maximum" in err[0]
    # a worker that cannot build its model stops the run at once (no endless worker restarts)
    assert main(["batch", str(bags["drive_a"]), "--out", str(tmp_path / "o2"), "--estimator", "lingbot",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a worker could not start" in err[0] and "needs a checkpoint" in err[0], err


def _transcoded_copy(src: Path, dst: Path, image: str = "rgb8", sparse: str = "16UC1",
                     stereo_p: bool = False) -> None:
    """``src`` as another camera would have recorded it: the colour image in Image encoding ``image`` (e.g.
    ``yuv422``, ``bayer_grbg8``) or as ``jpeg`` / ``png`` on <image>/compressed; the sparse depth as 16UC1 or as
    ``png`` / ``rvl`` compressedDepth on <sparse>/compressedDepth (as image_transport plugins write them); with
    ``stereo_p`` the CameraInfo P of a rectified right camera (P != K, Tx != 0)."""
    import dataclasses

    from rosbags.rosbag2 import Writer

    from lingbot_depth_ros.bags.files import open_reader
    from lingbot_depth_ros.bags.messages import TYPESTORE, image_message
    from lingbot_depth_ros.messages.compressed import compress_depth, compress_image
    from lingbot_depth_ros.messages.encoding_table import ENCODINGS
    from lingbot_depth_ros.messages.header import stamp_ns
    from lingbot_depth_ros.messages.image import depth_m_zero_none, rgb_from_message

    compressed_type = "sensor_msgs/msg/CompressedImage"
    reader = open_reader(src)
    writer = Writer(dst, version=9)
    writer.open()
    connections = {}
    for connection, log_ns, data in reader.messages():
        msg = TYPESTORE.deserialize_cdr(bytes(data), connection.msgtype)
        topic, msgtype = connection.topic, connection.msgtype
        payload = None
        if topic == "/camera/image" and image in ("jpeg", "png"):
            payload, topic = compress_image(rgb_from_message(msg), image, quality=90), topic + "/compressed"
        elif topic == "/camera/image":
            pixels = ENCODINGS[image].from_rgb(rgb_from_message(msg))
            msg = image_message(pixels, image, stamp_ns(msg), msg.header.frame_id)
        elif topic == "/camera/sparse_depth" and sparse in ("png", "rvl"):
            payload, topic = compress_depth(depth_m_zero_none(msg), sparse, "16UC1"), topic + "/compressedDepth"
        elif topic == "/camera/camera_info" and stereo_p:
            k = np.asarray(msg.k).reshape(3, 3)
            p = np.array([[0.9 * k[0, 0], 0.0, k[0, 2] + 3.0, -0.9 * k[0, 0] * 0.12],
                          [0.0, 0.9 * k[1, 1], k[1, 2] - 2.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
            msg = dataclasses.replace(msg, p=p.reshape(-1))
        if payload is not None:
            msg = TYPESTORE.types[compressed_type](header=msg.header, format=payload.format,
                                                   data=np.frombuffer(payload.data, dtype=np.uint8))
            msgtype = compressed_type
        if topic not in connections:
            connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
        writer.write(connections[topic], log_ns, TYPESTORE.serialize_cdr(msg, msgtype))
    writer.close()
    reader.close()


def _compressed_copy(src: Path, dst: Path) -> None:
    """``src`` with the colour image as <image>/compressed (png, lossless) and the sparse depth as
    <sparse>/compressedDepth (16UC1 png), as a bag recorded with image_transport plugins holds them."""
    _transcoded_copy(src, dst, image="png", sparse="png")


def test_compressed_bag_gives_the_raw_bags_depth_and_write_bag_adds_the_outputs(bags: dict[str, Path],
                                                                                  tmp_path: Path) -> None:
    from lingbot_depth_ros.bags.files import bag_topics, read_raw
    from lingbot_depth_ros.bags.messages import TYPESTORE
    from lingbot_depth_ros.messages.image import image_pixels

    compressed = tmp_path / "drive_b_compressed"
    _compressed_copy(bags["drive_b"], compressed)
    assert "/camera/image/compressed" in bag_topics(compressed)
    out = tmp_path / "out"
    summary = batch([bags["drive_b"], compressed], out, unit_frames=2, workers=2, write="bag")
    assert [i["frames_ok"] for i in summary["inputs"]] == [3, 3], summary["inputs"]
    raw, comp = _npy(out, "drive_b"), _npy(out, "drive_b_compressed")
    assert raw.keys() == comp.keys() and all(np.array_equal(raw[k], comp[k], equal_nan=True) for k in raw)

    original, written = bag_topics(bags["drive_b"]), bag_topics(out / "drive_b" / "bag")
    assert {t: written[t] for t in original} == original  # every input message copied
    assert written["/camera/depth/image"][1] == written["/camera/depth/camera_info"][1] == 3
    assert written["/camera/points"][1] == 3
    assert bag_topics(out / "drive_b_compressed" / "bag")["/camera/depth/image"][1] == 3
    for message in read_raw(out / "drive_b" / "bag", ["/camera/depth/image"]):
        msg = TYPESTORE.deserialize_cdr(message.data, message.msgtype)
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        assert msg.encoding == "32FC1" and msg.header.frame_id == "camera_optical_frame"
        assert np.array_equal(image_pixels(msg), raw[str(stamp)], equal_nan=True)


def test_without_ray_the_command_names_the_extra(bags: dict[str, Path], tmp_path: Path) -> None:
    import subprocess

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ray':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Block())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    cli = [sys.executable, "-m", "lingbot_depth_ros.cli.main"]
    assert subprocess.run(cli + ["batch", "--help"], env=env, capture_output=True, timeout=60).returncode == 0
    done = subprocess.run(cli + ["batch", str(bags["drive_a"]), "--out", str(tmp_path / "o")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "lingbot-depth batch: error: lingbot-depth batch needs the Python package ray, not installed: "
        "python3 -m pip install ray"]


def test_inputs_keep_their_output_names_across_runs(tmp_path: Path) -> None:
    from lingbot_depth_ros.batch.manifest import Manifest
    from lingbot_depth_ros.batch.runner import input_ids

    a, b = tmp_path / "site_a" / "drive", tmp_path / "site_b" / "drive"  # same folder name, two sites
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    manifest = Manifest(tmp_path / "out")
    (tmp_path / "out").mkdir()
    assert manifest.input_ids([a, b], input_ids) == {"drive": str(a), "drive_2": str(b)}
    assert manifest.input_ids([b, a], input_ids) == {"drive_2": str(b), "drive": str(a)}  # not swapped
    c = tmp_path / "site_c" / "drive"
    assert manifest.input_ids([c, a], input_ids) == {"drive_3": str(c), "drive": str(a)}


def test_lidar_pointcloud_bag_equals_the_node_with_sparse_input_pointcloud(tmp_path: Path) -> None:
    """sparse_input=pointcloud: the bag's /camera/lidar_points projected with the node's own projection and the
    lidar.* extrinsics; the offline depth equals the node's (fed the same clouds) bit for bit."""
    from ros_harness import in_process_node

    from lingbot_depth_ros.estimators import create_estimator
    from lingbot_depth_ros.evaluation.replay import lidar_params_from_extrinsics
    from lingbot_depth_ros.params.node import estimator_options
    from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
    from lingbot_depth_ros.ros.image_codec import image_to_numpy

    bag = tmp_path / "lidar_bag"
    write_scene_bag(bag, 3, width=96, height=72, seed=4, lidar_beams=32, lidar_points=True)
    frames = list(read_frames(bag))
    assert frames[0].lidar_points is not None and frames[0].camera_from_lidar is not None
    lidar = lidar_params_from_extrinsics(frames[0].camera_from_lidar)
    params = PARAMS + ["sparse_input=pointcloud", "lidar.use_tf=false", "lidar.max_depth_m=80"] + \
        [f"{k}={v}" for k, v in lidar.items()]
    summary = batch([bag], tmp_path / "out", params=params, unit_frames=2, workers=1)
    assert summary["overall"]["frames_ok"] == 3, summary
    offline = _npy(tmp_path / "out", "lidar_bag")
    values = node_values(params)
    node_params = {name: values[name] for name in values
                   if name.startswith(("classical.", "lidar."))
                   or name in ("sparse_input", "depth.max_m", "cloud.stride")}
    estimator = create_estimator("classical", **estimator_options("classical", values))
    with in_process_node(estimator, **node_params) as (node, harness):
        depth_rec = harness.recorders["depth/image"]
        for i, frame in enumerate(frames):
            harness.pub_lidar.publish(xyz_to_pointcloud2(frame.lidar_points, harness.header(frame.stamp_ns, "lidar")))
            harness.publish_frame(frame.rgb, frame.intrinsics, None, frame.stamp_ns)
            assert depth_rec.wait(lambda msgs, n=i + 1: len(msgs) >= n, timeout=30), "node gave no depth"
            published = image_to_numpy(depth_rec.by_stamp(frame.stamp_ns))
            mine = offline[str(frame.stamp_ns)]
            assert np.array_equal(mine.view(np.uint32), published.view(np.uint32)), f"frame {i} differs"
    # a LiDAR-less bag with sparse_input=pointcloud is one clear error for that input
    plain = tmp_path / "plain"
    write_scene_bag(plain, 1, width=96, height=72, seed=5, lidar_beams=16, lidar_points=False)
    summary = batch([plain], tmp_path / "out2", params=params, unit_frames=2, workers=1)
    assert "no LiDAR topic /camera/lidar_points" in summary["inputs"][0]["error"]


def test_finisher_thread_writes_and_scores_like_the_inline_path(bags: dict[str, Path], tmp_path: Path) -> None:
    """GPU workers write + score on a finisher thread: same files, same per-frame records, all in place when the
    unit returns."""
    from lingbot_depth_ros.batch.sources import BagTopics, plan_input
    from lingbot_depth_ros.batch.worker import UnitProcessor, WorkerConfig

    unit = plan_input("drive_a", bags["drive_a"], BagTopics(), 5)[0]
    records = {}
    for thread in (False, True):
        out = tmp_path / str(thread)
        result = UnitProcessor(WorkerConfig(values=node_values(PARAMS), out_dir=str(out),
                                            finish_thread=thread)).process_unit(unit)
        assert len(_npy(out, "drive_a")) == 5 and len(list((out / "drive_a" / "depth_png").glob("*.png"))) == 5
        records[thread] = [{k: v for k, v in r.items() if k != "timings_s"} for r in result.frames]
        assert all("metrics" in r and "metrics_all" in r for r in records[thread])
    assert json.dumps(records[False], sort_keys=True) == json.dumps(records[True], sort_keys=True)
    for name, depth in _npy(tmp_path / "False", "drive_a").items():
        assert np.array_equal(depth.view(np.uint32), _npy(tmp_path / "True", "drive_a")[name].view(np.uint32))
