"""``lingbot-depth-eval`` sends the bag's camera poses (issue 21): each frame's geometry_msgs/PoseStamped goes to the
node's pose input before its image, so a node started with ``temporal.pose_source:=pose`` warps its history with
the camera's motion instead of resetting it every frame. Real node, real topics, a scene bag whose camera moves
(2 Hz: about 0.1 m and a few degrees per frame)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lingbot_depth_ros.bags.datasets import write_scene_bag
from lingbot_depth_ros.deploy.node_process import NodeLaunch
from lingbot_depth_ros.evaluation.replay import ReplayOptions, load_bag
from lingbot_depth_ros.replay.evaluate import node_param, pose_input, replay_settings
from lingbot_depth_ros.ros.replay_node import SEND_ROLES

FRAMES = 6


@pytest.fixture(scope="module")
def moving_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bag = tmp_path_factory.mktemp("moving") / "scene"
    write_scene_bag(bag, FRAMES, width=160, height=120, seed=1, lidar_beams=16, lidar_points=False, rate_hz=2.0)
    return bag


def test_replay_sends_the_bag_poses_before_the_image(moving_bag: Path) -> None:
    bag = load_bag(moving_bag)
    assert all("camera_pose" in frame.raw for frame in bag.frames)
    settings = replay_settings(bag, ReplayOptions())
    assert "camera_pose" in settings.send_roles
    assert SEND_ROLES.index("camera_pose") < SEND_ROLES.index("image")   # the send order per frame
    assert settings.optional_roles == ("camera_pose",)   # a node that may not read them: not waited for
    required = replay_settings(bag, dataclasses.replace(ReplayOptions(), poses_required=True))
    assert "camera_pose" in required.send_roles and required.optional_roles == ()
    assert "camera_pose" not in replay_settings(bag, ReplayOptions(send_poses=False)).send_roles


def test_pose_input_is_the_pose_topic_in_the_node_namespace() -> None:
    assert pose_input("/p/camera", None) == "/p/camera/camera_pose"
    assert pose_input("/p/camera", "gt_pose") == "/p/camera/gt_pose"
    assert pose_input("/p/camera", "/slam/pose") == "/slam/pose"


def test_the_node_parameters_come_from_node_param_then_the_params_file(tmp_path: Path) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    temporal.pose_source: pose\n"
                           "    temporal.pose_topic: slam_pose\n")
    from_file = NodeLaunch(params_file=params_file)
    assert node_param(from_file, "/p/camera", "temporal.pose_source") == "pose"
    assert node_param(from_file, "/p/camera", "temporal.pose_topic") == "slam_pose"
    assert node_param(from_file, "/p/camera", "temporal.enabled") is None
    overridden = NodeLaunch(params_file=params_file, params={"temporal.pose_source": "none"})
    assert node_param(overridden, "/p/camera", "temporal.pose_source") == "none"
    assert node_param(NodeLaunch(), "/p/camera", "temporal.pose_source") is None


def _eval(bag: Path, out: Path, *params: str) -> tuple[dict[str, Any], str]:
    """One ``lingbot-depth-eval --start-node`` run: the run's report entry and the node's log."""
    node_params = [arg for p in params for arg in ("--node-param", p)]
    result = subprocess.run([sys.executable, "-m", "lingbot_depth_ros.cli.eval", str(bag), "--out", str(out),
                             "--start-node", "--rate", "max", "--no-progress", *node_params],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((out / "report.json").read_text())["runs"][0]
    assert run["frames_answered"] == FRAMES
    return run, (out / "node_classical.log").read_text()


@pytest.mark.ros
def test_a_node_reading_poses_gets_them_and_filters_a_moving_camera_better(moving_bag: Path, tmp_path: Path) -> None:
    plain, _ = _eval(moving_bag, tmp_path / "plain")
    posed, posed_log = _eval(moving_bag, tmp_path / "posed", "temporal.enabled:=true", "temporal.pose_source:=pose")
    standing, _ = _eval(moving_bag, tmp_path / "standing", "temporal.enabled:=true", "temporal.pose_source:=none")
    assert posed["settings"]["camera_poses_sent_to"].endswith("/classical/camera/camera_pose")
    # without the poses the node logs "temporal filter: history reset, pose missing (no pose (pose) within ...)"
    assert "ready: estimator classical" in posed_log and "history reset" not in posed_log, posed_log
    errors = {name: run["temporal"]["consistency_error_m"] for name, run in
              (("plain", plain), ("posed", posed), ("standing", standing))}
    assert plain["temporal"]["consistency_pairs"] == posed["temporal"]["consistency_pairs"] == FRAMES - 1
    # measured: plain 86.9, posed 54.6, standing (pose_source none on the moving camera) 144.3 mm
    assert errors["posed"] < 0.9 * errors["plain"], errors
    assert errors["posed"] < 0.9 * errors["standing"], errors
