"""Replay evaluation end to end: real node processes, real topics, real bag, report on disk."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.evaluation.bag_tools import write_scene_bag
from lingbot_depth_ros.evaluation.bags import read_frames
from lingbot_depth_ros.ros.dds import dds_profile_path
from lingbot_depth_ros.evaluation.metrics import depth_metrics
from lingbot_depth_ros.evaluation.replay import cdr_stamp_ns
from lingbot_depth_ros.io.ply import read_ply

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
    return subprocess.run([sys.executable, "-m", "lingbot_depth_ros.evaluation.replay", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_start_node_and_compare_with_nearest(scene_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run_cli([str(scene_bag), "--out", str(out), "--start-node", "--estimator", "classical",
                      "--rate", "max", "--compare", "nearest", "--record-points", "--pictures", "3"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "classical: 6/6 frames answered" in result.stdout

    report = json.loads((out / "report.json").read_text())
    classical, nearest = report["runs"]
    assert (classical["label"], nearest["label"]) == ("classical", "nearest")
    # Started nodes live on private topics, so they never meet a live camera or each other.
    assert re.fullmatch(r"/lingbot_eval/p\d+/classical/camera/image", classical["settings"]["topics"]["image"])
    assert re.fullmatch(r"/lingbot_eval/p\d+/nearest/camera/depth", nearest["settings"]["topics"]["depth"])
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


def test_replay_into_a_running_node_with_sim_time(scene_bag: Path, tmp_path: Path) -> None:
    """The user starts the node with use_sim_time; the tool replays with --clock: the node's clock is bag time."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(dds_profile_path()))
    node = subprocess.Popen(
        [sys.executable, "-m", "lingbot_depth_ros.depth_node", "--ros-args", "-p", "estimator:=classical",
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
        replay = subprocess.Popen([sys.executable, "-m", "lingbot_depth_ros.evaluation.replay", str(scene_bag),
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
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
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

    The scene's LiDAR sits 0.12 m above the camera, axes aligned with the camera body frame.
    """
    out = tmp_path / "eval"
    result = run_cli([str(scene_bag), "--out", str(out), "--start-node", "--rate", "max", "--send-lidar",
                      "--no-sparse", "--node-param", "sparse_input:=pointcloud", "--node-param", "lidar.z_m:=0.12",
                      "--node-param", "lidar.use_tf:=false", "--label", "lidar"])
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = json.loads((out / "report.json").read_text())["runs"]
    assert run["frames_answered"] == N_FRAMES and run["settings"]["sent_lidar"] is True
    assert run["settings"]["sent_sparse"] is False
    # Projected by the node itself, the scans give the same accuracy as the bag's sparse depth images.
    offline = []
    estimator = create_estimator("classical")
    for frame in read_frames(scene_bag):
        estimate = estimator.estimate(frame.rgb, frame.sparse_depth_m, frame.intrinsics)
        offline.append(depth_metrics(np.where(estimate.valid, estimate.depth_m, np.nan), frame.depth_gt_m)["rmse_mm"])
    assert run["metrics"]["rmse_mm"] == pytest.approx(float(np.mean(offline)), rel=0.05)


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
