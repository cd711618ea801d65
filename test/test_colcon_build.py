"""The package builds with colcon as an ament_python package (as `colcon build` on a robot) and installs
what ros2 run / ros2 launch look for; every console tool runs from the install with its environment."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_until

from lingbot_depth_ros.deploy.node_process import stop_node

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lingbot_depth_ros"
# `ros2 run lingbot_depth_ros <tool>` executes <install prefix>/lib/lingbot_depth_ros/<tool>.
TOOLS = ("lingbot-depth", "lingbot-depth-bag", "lingbot-depth-eval", "lingbot-depth-export", "lingbot-depth-demo")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colcon workspace with this package in src/, built (``install/`` next to ``src/``)."""
    colcon = Path(sys.executable).with_name("colcon")
    assert colcon.exists(), "colcon missing: scripts/setup.sh installs requirements-dev.txt"
    ws = tmp_path_factory.mktemp("colcon_ws")
    shutil.copytree(ROOT, ws / "src" / PACKAGE,
                    ignore=shutil.ignore_patterns(".venv*", ".git", "build", "install", "log", "demo_output",
                                                  "test-artifacts", "*.egg-info", "__pycache__"))
    env = dict(os.environ, PATH=f"{colcon.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(colcon), "build", "--base-paths", "src"], cwd=ws, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Summary: 1 package finished" in result.stdout, result.stdout
    return ws


def _sourced(ws: Path, command: str) -> list[str]:
    """``command`` run after sourcing the install's setup.sh (what a robot shell has before `ros2 run`).

    The test run's PYTHONPATH (this working tree) is dropped so the installed copy is what runs; the
    ROS underlay (AMENT_PREFIX_PATH of the venv's ROS wheels) stays, as /opt/ros/<distro> would.
    """
    return ["sh", "-c", f'unset PYTHONPATH; . "{ws}/install/setup.sh" && exec {command}']


def test_colcon_build_installs_executables_and_share(workspace: Path) -> None:
    prefix = workspace / "install" / PACKAGE
    for tool in ("depth_node",) + TOOLS:
        assert (prefix / "lib" / PACKAGE / tool).is_file(), tool  # where `ros2 run` looks
    share = prefix / "share" / PACKAGE
    for relative in ("package.xml", "launch/lingbot_depth.launch.py", "config/lingbot_depth.yaml",
                     "config/fastdds_localhost.xml", "rviz/lingbot_depth.rviz"):
        assert (share / relative).is_file(), relative
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()


@pytest.mark.parametrize("tool", TOOLS)
def test_installed_tool_runs(workspace: Path, tool: str) -> None:
    executable = workspace / "install" / PACKAGE / "lib" / PACKAGE / tool
    result = subprocess.run(_sourced(workspace, f'"{executable}" --help'), capture_output=True, text=True,
                            timeout=120, cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"usage: {tool}"), result.stdout + result.stderr


@pytest.mark.parametrize("node", ["depth_node", "depth_fusion_node"])
def test_installed_node_help_prints_usage_without_starting(workspace: Path, node: str) -> None:
    """``ros2 run lingbot_depth_ros depth_node --help``: the usage, exit 0, no node (rclpy.init would fail on the
    ROS_DOMAIN_ID given)."""
    executable = workspace / "install" / PACKAGE / "lib" / PACKAGE / node
    result = subprocess.run(_sourced(workspace, f'env ROS_DOMAIN_ID=not_a_number "{executable}" --help'),
                            capture_output=True, text=True, timeout=120, cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"usage: {node} [-h] [--ros-args"), result.stdout + result.stderr
    assert "parameters (" in result.stdout and "README.md" in result.stdout


def test_installed_tools_import_the_installed_package(workspace: Path) -> None:
    python = sys.executable
    where = f'"{python}" -c "import lingbot_depth_ros; print(lingbot_depth_ros.__file__)"'
    result = subprocess.run(_sourced(workspace, where), capture_output=True, text=True, timeout=60, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(workspace / "install"), result.stdout


@pytest.mark.ros
def test_installed_depth_node_starts_and_stops(workspace: Path, tmp_path: Path) -> None:
    """``ros2 run lingbot_depth_ros depth_node``: the installed node gets ready and exits 0 on Ctrl-C."""
    executable = workspace / "install" / PACKAGE / "lib" / PACKAGE / "depth_node"
    log_path = tmp_path / "node.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(_sourced(workspace, f'"{executable}" --ros-args -r __node:=colcon_check_node'),
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            wait_until(lambda: "ready:" in log_path.read_text() or proc.poll() is not None, 60,
                       "the installed node to log 'ready:'", detail=log_path.read_text)
            assert "ready:" in log_path.read_text(), log_path.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "Traceback" not in log_path.read_text()


@pytest.mark.ros
def test_installed_doctor_sees_the_installed_node(workspace: Path, tmp_path: Path) -> None:
    """``ros2 run lingbot_depth_ros lingbot-depth doctor --ros`` (the executable ros2 run starts, as the `ros2` CLI
    is not installable here): the installed doctor finds the installed node, reads its parameters (its mode
    completion, given on its command line only), and names its missing inputs (no driver runs), its JSON on
    stdout, exit 1."""
    lib = workspace / "install" / PACKAGE / "lib" / PACKAGE
    log_path = tmp_path / "node.log"
    with open(log_path, "w") as log:
        start = f'"{lib / "depth_node"}" --ros-args -r __node:=doctor_check_node -r __ns:=/colcon -p mode:=completion'
        node = subprocess.Popen(_sourced(workspace, start), stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            wait_until(lambda: "ready:" in log_path.read_text() or node.poll() is not None, 60,
                       "the installed node to log 'ready:'", detail=log_path.read_text)
            assert "ready:" in log_path.read_text(), log_path.read_text()
            result = subprocess.run(_sourced(workspace, f'"{lib / "lingbot-depth"}" doctor --ros --only graph --json '
                                                        "--namespace colcon --node-name doctor_check_node "
                                                        "--timeout 15"),
                                    capture_output=True, text=True, timeout=120, cwd=tmp_path)
        finally:
            stop_node(node, timeout_s=10)  # SIGINT, then SIGTERM, then SIGKILL
    assert "Traceback" not in result.stderr, result.stderr
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.returncode == 1, result.stdout
    assert checks["graph.node"]["status"] == "OK", json.dumps(checks["graph.node"])
    assert checks["graph.node"]["title"] == "node /colcon/doctor_check_node"
    assert "parameters read from it (estimator classical, mode completion)" in checks["graph.node"]["summary"], \
        "the node's own mode (the doctor was given none: default auto)"
    assert checks["graph.topic.image"]["status"] == "FAIL" and "/colcon/image: no publisher" in \
        checks["graph.topic.image"]["summary"]
