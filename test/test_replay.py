"""Replay evaluation end to end: real node processes, real topics, real bag, report on disk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from waiting import wait_until

from lingbot_depth_ros.bags.datasets import write_scene_bag
from lingbot_depth_ros.bags.files import read_frames
from lingbot_depth_ros.bags.stamps import cdr_stamp_ns
from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.deploy.dds import dds_profile_path
from lingbot_depth_ros.deploy.node_process import stop_node
from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.evaluation.metrics import depth_metrics
from lingbot_depth_ros.evaluation.replay import (
    lidar_params_from_extrinsics,
    load_bag,
    node_projection,
    show_projected_lidar,
)
from lingbot_depth_ros.geometry.transforms import BODY_R_OPTICAL, RigidTransform
from lingbot_depth_ros.io.ply import read_ply
from lingbot_depth_ros.params.navigation import lidar_extrinsics_from_params
from lingbot_depth_ros.replay.evaluate import lidar_setup

pytestmark = pytest.mark.ros
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_FRAMES = 6


@pytest.fixture(scope="module")
def scene_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "scene_bag"
    write_scene_bag(path, N_FRAMES, width=320, height=240, seed=1, lidar_beams=32)
    return path


def run_cli(args: list[str], timeout: float = 120.0, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.eval", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_start_node_and_compare_with_nearest(scene_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run_cli([str(scene_bag), "--out", str(out), "--start-node", "--estimator", "classical",
                      "--rate", "max", "--compare", "nearest", "--record-points", "--pictures", "3",
                      "--save-depth"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "classical: 6/6 frames answered" in result.stdout

    report = json.loads((out / "report.json").read_text())
    classical, nearest = report["runs"]
    assert (classical["label"], nearest["label"]) == ("classical", "nearest")
    # Started nodes live on private topics, so they never meet a live camera or each other.
    assert re.fullmatch(r"/lingbot_eval/p\d+/classical/camera/image", classical["settings"]["topics"]["image"])
    assert re.fullmatch(r"/lingbot_eval/p\d+/nearest/camera/depth/image", nearest["settings"]["topics"]["depth"])
    for run in (classical, nearest):
        assert run["frames_sent"] == N_FRAMES and run["frames_answered"] == N_FRAMES and run["frames_dropped"] == 0
        assert 0.0 < run["latency_ms"]["min"] <= run["latency_ms"]["max"] < 10_000.0
        assert run["throughput_hz"] > 0.0
    # The node's published depth, scored here, equals the estimator run offline on the same frames.
    offline = []
    estimator = create_estimator("classical")
    for frame in read_frames(scene_bag):
        estimate = estimator.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
        offline.append(depth_metrics(np.where(estimate.valid, estimate.depth_m, np.nan), frame.depth_gt_m)["rmse_mm"])
    assert classical["metrics"]["rmse_mm"] == pytest.approx(float(np.mean(offline)), rel=0.02)
    # Completion beats the nearest-neighbour baseline on this scene.
    assert classical["metrics"]["rmse_mm"] < nearest["metrics"]["rmse_mm"]
    assert classical["metrics"]["delta1"] > nearest["metrics"]["delta1"]

    markdown = (out / "report.md").read_text()
    assert "| classical | 6 / 6 | 0 |" in markdown and "| nearest | 6 / 6 | 0 |" in markdown
    pictures = [out / p for p in report["pictures"]] + [out / report["plot"]]
    assert len(pictures) == 4
    for picture in pictures:
        assert picture.read_bytes()[:8] == PNG_SIGNATURE
        image = cv2.imread(str(picture), cv2.IMREAD_COLOR)
        assert image is not None and image.size > 0
    panel = cv2.imread(str(out / report["pictures"][0]))
    assert panel.shape == (2 * 300, 5 * 400, 3)  # one row per run, five 400-px tiles of a 4:3 frame
    assert (out / "node_classical.log").read_text().count("ready") >= 1
    # --record-points: point counts per frame, and PLYs of the pictured frames (organized 2x-strided cloud).
    counts = [frame["cloud_points"] for frame in report["frames"]["classical"]]
    assert all(c is not None and 0.5 * 160 * 120 < c <= 160 * 120 for c in counts), counts
    clouds = sorted((out / "clouds" / "classical").glob("frame_*.ply"))
    assert len(clouds) == 3
    xyz, rgb = read_ply(clouds[0])
    assert xyz.shape[0] == counts[0] and rgb is not None and (xyz[:, 2] > 0).all()
    # --save-depth: every answered frame of every run, 16-bit PNG [mm] + float32 NPY [m], frame_NNNN names.
    for label in ("classical", "nearest"):
        names = sorted(p.name for p in (out / "depth" / label).iterdir())
        assert names == sorted([f"frame_{i:04d}.png" for i in range(N_FRAMES)] +
                               [f"frame_{i:04d}.npy" for i in range(N_FRAMES)])
    depth_m = np.load(out / "depth" / "classical" / "frame_0002.npy")
    depth_mm = cv2.imread(str(out / "depth" / "classical" / "frame_0002.png"), cv2.IMREAD_UNCHANGED)
    assert depth_m.dtype == np.float32 and depth_m.shape == (240, 320) and depth_mm.dtype == np.uint16
    valid = np.isfinite(depth_m) & (depth_m > 0)
    assert valid.mean() > 0.5
    np.testing.assert_array_equal(depth_mm[valid], np.round(depth_m[valid] * 1000).astype(np.uint16))
    # Both pixel sets are reported; the all-pixel score counts every valid ground-truth pixel.
    assert classical["metrics_all"]["n_valid"] >= classical["metrics"]["n_valid"]
    assert "## Accuracy on all valid ground-truth pixels" in markdown
    assert "covered px" in result.stdout and "all GT px" in result.stdout


def test_started_node_has_no_public_topic(scene_bag: Path, tmp_path: Path) -> None:
    """--start-node: while the evaluation runs, the graph shows the started node in its run's private namespace,
    and every topic it publishes or subscribes to (depth/camera_info, depth/colorized, obstacles/*, surfaces*,
    diagnostics ... not only the scored ones) lies under /lingbot_eval/p<pid>/<run>/; only the ROS
    infrastructure topics /rosout and /parameter_events are shared."""
    import rclpy
    from rclpy.node import Node

    cli = subprocess.Popen(
        [sys.executable, "-m", "lingbot_depth_ros.cli.eval", str(scene_bag), "--out", str(tmp_path / "eval"),
         "--start-node", "--rate", "0.05", "--max-frames", "4", "--pictures", "0", "--no-progress",
         "--node-param", "surfaces.enabled:=true", "--timeout-s", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prefix = f"/lingbot_eval/p{cli.pid}/classical/"
    context = rclpy.Context()
    rclpy.init(context=context)
    observer = Node(f"graph_observer_{os.getpid()}", context=context)
    published: set[str] = set()
    subscribed: set[str] = set()
    ns = ""
    def node_seen() -> bool:
        """The started node's topics, once it publishes its last outputs (or the tool has ended)."""
        nonlocal published, subscribed, ns
        nodes = [(name, ns) for name, ns in observer.get_node_names_and_namespaces()
                 if name == "lingbot_depth_node" and (ns + "/").startswith(prefix)]
        if nodes:
            (name, ns), = nodes
            published = {t for t, _ in observer.get_publisher_names_and_types_by_node(name, ns)}
            subscribed = {t for t, _ in observer.get_subscriber_names_and_types_by_node(name, ns)}
            if {prefix + "camera/depth/colorized", prefix + "camera/surfaces"} <= published:
                return True
        return cli.poll() is not None

    try:
        wait_until(node_seen, 120, "the started node in the graph with all its outputs", poll_s=0.2)
        output, _ = cli.communicate(timeout=180)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        observer.destroy_node()
        rclpy.shutdown(context=context)
    assert cli.returncode == 0, output
    assert ns == prefix + "camera", "the started node was not seen in its private namespace"
    infrastructure = {"/rosout", "/parameter_events"}
    for topic in ("depth/image", "depth/camera_info", "depth/colorized", "points", "obstacles/scan", "surfaces"):
        assert prefix + "camera/" + topic in published, (topic, sorted(published))
    assert prefix + "camera/diagnostics" in published and prefix + "camera/image" in subscribed
    public = sorted(t for t in published | subscribed if t not in infrastructure and not t.startswith(prefix))
    assert public == [], public


def test_replay_into_a_running_node_with_sim_time(scene_bag: Path, tmp_path: Path) -> None:
    """The user starts the node with use_sim_time; the tool replays with --clock: the node's clock is bag time."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(dds_profile_path()))
    node = subprocess.Popen(
        [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args", "-p", "estimator:=classical",
         "-p", "use_sim_time:=true", "-p", "input_qos:=reliable", "-p", "diagnostics.period_s:=0.1",
         "-r", "__ns:=/camera"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    context = rclpy.Context()
    rclpy.init(context=context)
    listener = rclpy.create_node("diagnostics_listener", context=context)
    stamps: list[int] = []
    listener.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: stamps.append(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec), 50)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    try:
        deadline = time.monotonic() + 30
        while listener.count_publishers("/diagnostics") == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)  # the listener must hear the node before the clock runs
        assert node.poll() is None, "the depth node exited"
        # The node in namespace /camera reads /camera/image etc. and publishes /camera/depth: the defaults.
        replay = subprocess.Popen([sys.executable, "-m", "lingbot_depth_ros.cli.eval", str(scene_bag),
                                   "--out", str(tmp_path / "eval"), "--clock", "--rate", "1.0", "--label", "external"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        while replay.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        out, err = replay.communicate(timeout=5)
        for _ in range(10):
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        listener.destroy_node()
        rclpy.shutdown(context=context)
        stop_node(node, timeout_s=10)
    assert replay.returncode == 0, out + err
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    (run,) = report["runs"]
    assert run["label"] == "external" and run["settings"]["clock"] is True and run["settings"]["rate"] == 1.0
    assert run["frames_answered"] >= N_FRAMES - 1, run  # paced at 10 Hz: a late first match may cost one frame
    assert run["metrics"]["coverage"] > 0.5
    # The node stamped its diagnostics with bag time (2023), not wall-clock time: it followed /clock.
    frames = list(read_frames(scene_bag))
    first, last = frames[0].stamp_ns, frames[-1].stamp_ns
    assert stamps, "no /diagnostics received"
    assert any(first <= s <= last + 10**9 for s in stamps), (stamps[:5], first)
    assert all(s <= last + 10**9 or s == 0 for s in stamps), (stamps, last)


def test_lidar_clouds_into_a_pointcloud_node(scene_bag: Path, tmp_path: Path) -> None:
    """--send-lidar: the bag's PointCloud2 scans drive a node with sparse_input:=pointcloud (issue 4 path).

    The started node gets the bag's /tf_static transform as lidar.* parameters (it used to run with zero
    extrinsics unless the user typed them: RMSE about 2x worse, silently).
    """
    out = tmp_path / "eval"
    result = run_cli([str(scene_bag), "--out", str(out), "--start-node", "--rate", "max", "--send-lidar",
                      "--no-sparse", "--node-param", "sparse_input:=pointcloud", "--label", "lidar"])
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = json.loads((out / "report.json").read_text())["runs"]
    assert run["frames_answered"] == N_FRAMES and run["settings"]["sent_lidar"] is True
    assert run["settings"]["sent_sparse"] is False
    expected = lidar_params_from_extrinsics(load_bag(scene_bag).camera_from_lidar)
    params = run["settings"]["node"]["params"]
    assert {k: params[k] for k in expected} == expected and params["lidar.use_tf"] == "false"
    # Projected by the node itself, the scans give the same accuracy as the bag's sparse depth images.
    assert run["metrics"]["rmse_mm"] == pytest.approx(_offline_classical_rmse(scene_bag), rel=0.05)


def _offline_classical_rmse(bag: Path) -> float:
    offline = []
    estimator = create_estimator("classical")
    for frame in read_frames(bag):
        estimate = estimator.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
        offline.append(depth_metrics(np.where(estimate.valid, estimate.depth_m, np.nan), frame.depth_gt_m)["rmse_mm"])
    return float(np.mean(offline))


def test_lidar_clouds_into_a_running_node_in_camera_namespace(scene_bag: Path, tmp_path: Path) -> None:
    """A node in /camera reading clouds listens on /camera/lidar_points: the tool's default --lidar-topic
    (it was /lidar/points). The tool prints the bag's extrinsics as -p parameters for such a node."""
    bag = load_bag(scene_bag)
    _, note = lidar_setup(bag, None)
    assert note is not None and "tf2_msgs is not installed" in note  # no tf2 wheels on this machine
    line = note.split("--ros-args ", 1)[1].split()
    params = dict(item.split(":=") for item in line if item != "-p")
    assert params == lidar_params_from_extrinsics(bag.camera_from_lidar)
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(dds_profile_path()))
    node = subprocess.Popen(
        [sys.executable, "-m", "lingbot_depth_ros.ros.depth_node", "--ros-args", "-p", "estimator:=classical",
         "-p", "input_qos:=reliable", "-p", "sparse_input:=pointcloud", *line, "-r", "__ns:=/camera"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    try:
        result = run_cli([str(scene_bag), "--out", str(tmp_path / "eval"), "--rate", "max", "--send-lidar",
                          "--no-sparse", "--label", "external"], env=env)
    finally:
        stop_node(node, timeout_s=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--ros-args -p lidar.x_m:=" in result.stdout
    (run,) = json.loads((tmp_path / "eval" / "report.json").read_text())["runs"]
    assert run["settings"]["topics"]["lidar_points"] == "/camera/lidar_points"
    assert run["frames_answered"] == N_FRAMES and run["settings"]["tf_static_published"] is False
    assert run["metrics"]["rmse_mm"] == pytest.approx(_offline_classical_rmse(scene_bag), rel=0.05)


def test_lidar_params_invert_the_node_extrinsics() -> None:
    """lidar.* parameters from a T_camera_lidar give back that transform in the node's own conversion."""
    # a KITTI-like mounting: LiDAR 0.27 m behind, 0.08 m above the camera, axes nearly the camera body's
    optical_t_body = RigidTransform(BODY_R_OPTICAL, np.zeros(3)).inverse()
    kitti_like = optical_t_body.compose(RigidTransform.from_xyz_rpy(-0.27, 0.01, 0.08, 0.01, 0.02, -0.015))
    for transform in (kitti_like, RigidTransform.from_xyz_rpy(0.3, -0.2, 0.1, 0.05, -0.4, 2.0)):
        params = lidar_params_from_extrinsics(transform.matrix())
        assert all("." in v and v != "-0.0" for v in params.values()), params  # parsed as doubles by ROS
        back = lidar_extrinsics_from_params({k: float(v) for k, v in params.items()})
        np.testing.assert_allclose(back.matrix(), transform.matrix(), atol=1e-8)
    assert StreamTopics().lidar_points == "/camera/lidar_points" and StreamTopics().depth == "/camera/depth/image"


def test_sparse_panel_of_cloud_runs_shows_the_projected_lidar(scene_bag: Path) -> None:
    """Point-cloud runs: the pictures' sparse input is the cloud as the node projects it, not the bag's image."""
    bag = load_bag(scene_bag, max_frames=2)
    sparse_images = [f.inputs.sparse_depth_m.copy() for f in bag.frames]
    # a node told a wrong pose sees a different sparse input, and the pictures show what it saw
    show_projected_lidar(bag, node_projection({"lidar.z_m": "0.5"}, bag.camera_from_lidar))
    shifted = bag.frames[0].inputs.sparse_depth_m
    show_projected_lidar(bag, node_projection({}, bag.camera_from_lidar))
    for frame, image in zip(bag.frames, sparse_images):
        projected = frame.inputs.sparse_depth_m
        assert frame.inputs.sparse_label == "sparse input (LiDAR projected)"
        both = (projected > 0) & (image > 0)
        # the bag's sparse image is this projection (same cloud, same extrinsics): same pixels, same depths
        assert both.sum() > 0.9 * (image > 0).sum()
        np.testing.assert_allclose(projected[both], image[both], atol=0.01)
    assert ((shifted > 0) & (sparse_images[0] > 0)).sum() < 0.5 * (sparse_images[0] > 0).sum()


def test_overload_counts_dropped_frames(scene_bag: Path, tmp_path: Path) -> None:
    """At 1000x the recorded rate the node keeps only the newest frame: the rest are counted as dropped."""
    out = tmp_path / "eval"
    result = run_cli([str(scene_bag), "--out", str(out), "--start-node", "--rate", "1000", "--timeout-s", "3"])
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    (run,) = report["runs"]
    answered = [frame["answered"] for frame in report["frames"]["classical"]]
    assert run["frames_sent"] == N_FRAMES and run["frames_answered"] + run["frames_dropped"] == N_FRAMES
    assert run["frames_dropped"] >= 1 and answered[-1]  # the newest frame is always processed
    assert all(frame["latency_ms"] is None for frame in report["frames"]["classical"] if not frame["answered"])


def test_no_node_fails_fast_with_a_reason(scene_bag: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli([str(scene_bag), "--out", str(tmp_path / "eval"), "--wait-s", "2",
                      "--image-topic", "/nobody/image", "--depth-topic", "/nobody/depth"])
    assert result.returncode == 2
    assert "no depth node connected within 2 s" in result.stderr
    assert time.monotonic() - started < 30


def test_cdr_stamp_parsing() -> None:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_123, 456_789
    assert cdr_stamp_ns(serialize_message(msg)) == 1_700_000_123_000_456_789
