"""``depth_node --help`` / ``depth_fusion_node --help``: the usage, exit 0, no ROS start-up (issue 18 A).

The console scripts installed in the venv run in a subprocess (the package comes from this working tree
through PYTHONPATH, see conftest.py). ``ROS_DOMAIN_ID=not_a_number`` makes ``rclpy.init`` fail, so a help
that exits 0 under it did not initialise rclpy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lingbot_depth_ros.params.fusion import FUSION_PARAMS
from lingbot_depth_ros.params.help import DEPTH_NODE_TOPICS, FUSION_NODE_TOPICS, node_arguments
from lingbot_depth_ros.params.node import ALL_PARAMS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NO_ROS = {"ROS_DOMAIN_ID": "not_a_number"}  # rclpy.init raises on it


def _run(executable: str, *args: str, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / executable), *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), cwd=ROOT)


def test_node_arguments_leave_ros_arguments_to_rclpy() -> None:
    assert node_arguments(["--ros-args", "-p", "a:=1"]) == []
    assert node_arguments(["--help", "--ros-args", "-p", "a:=1", "--", "-x", "--ros-args", "-r", "a:=b"]) == \
        ["--help", "-x"]
    assert node_arguments(["--ros-args", "-p", "b:=--help"]) == []  # inside the ROS block: a value, not a flag


@pytest.mark.parametrize("executable,specs", [("depth_node", ALL_PARAMS), ("depth_fusion_node", FUSION_PARAMS)])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_parameters_topics_and_exits_0_without_ros(executable: str, specs: tuple,
                                                                      flag: str) -> None:
    result = _run(executable, flag, env=NO_ROS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"usage: {executable} [-h] [--ros-args"), result.stdout[:300]
    assert "Traceback" not in result.stderr and "ready:" not in result.stdout + result.stderr
    for spec in specs:  # every parameter of the table, with its default
        line = rf"^  {re.escape(spec.name)} \({re.escape(spec.type_name)}\) = "
        assert re.search(line, result.stdout, re.MULTILINE), spec.name
    assert "  estimator (string) = 'classical'" in result.stdout or executable != "depth_node"
    assert "  sparse_timeout_s (double) = 1.0  [0.05, 60]" in result.stdout or executable != "depth_node"
    assert "  fusion.voxel_size_m (double) = 0.04  [0.002, 1]  read-only" in result.stdout or \
        executable != "depth_fusion_node"
    topics = DEPTH_NODE_TOPICS if executable == "depth_node" else FUSION_NODE_TOPICS
    for topic in topics:
        assert re.search(rf"^  {re.escape(topic.name)} +{topic.direction} +{re.escape(topic.msg_type)}",
                         result.stdout, re.MULTILINE), topic.name
    assert "README.md" in result.stdout


def test_help_after_ros_arguments_block_still_helps() -> None:
    result = _run("depth_node", "--ros-args", "-p", "estimator:=classical", "--", "--help", env=NO_ROS)
    assert result.returncode == 0 and result.stdout.startswith("usage: depth_node"), result.stderr


def test_depth_node_help_lists_every_topic_of_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Topics"):readme.index("### Compressed inputs")]
    names = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))
    assert {"image", "depth/image", "/diagnostics", "surfaces/markers"} <= names
    listed = {t.name for t in DEPTH_NODE_TOPICS}
    # the transport variants are explained beside their base topic
    assert names - {"image/compressed", "sparse_depth/compressedDepth"} <= listed, names - listed


def test_ros_arguments_still_reach_the_node() -> None:
    """Only ROS arguments: the node starts and reads them (an invalid parameter value: one FATAL line, exit 1)."""
    result = _run("depth_node", "--ros-args", "-p", "estimator:=no_such_estimator", "-r", "__node:=help_check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FATAL: estimator='no_such_estimator' is not one of" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["-p", "estimator:=lingbot"], ["--verbose", "--ros-args", "-p", "a:=1"]])
def test_arguments_outside_ros_args_are_refused_with_one_line(args: list[str]) -> None:
    """``depth_node -p x:=y`` (forgot --ros-args) would silently ignore the parameter: refused, exit 2."""
    result = _run("depth_node", *args, env=NO_ROS)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("depth_node: error: unrecognized arguments: "), result.stderr
    assert "--ros-args" in lines[0] and "--help" in lines[0]


def test_ros_start_up_failure_is_one_fatal_line_not_a_traceback() -> None:
    result = _run("depth_node", "--ros-args", "-p", "estimator:=classical", env=NO_ROS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "[lingbot_depth_node] FATAL: ROS start-up failed: " in result.stderr and "ROS_DOMAIN_ID" in result.stderr
