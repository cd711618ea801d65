"""The package builds with colcon as an ament_python package (as `colcon build` on a robot) and installs
what ros2 run / ros2 launch look for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_executables_and_share(tmp_path: Path) -> None:
    colcon = Path(sys.executable).with_name("colcon")
    assert colcon.exists(), "colcon missing: scripts/setup.sh installs requirements-dev.txt"
    src = tmp_path / "src" / "lingbot_depth_ros"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "install", "log",
                                                             "demo_output", "test-artifacts", "*.egg-info",
                                                             "__pycache__"))
    env = dict(os.environ, PATH=f"{colcon.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(colcon), "build", "--base-paths", "src"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Summary: 1 package finished" in result.stdout, result.stdout
    prefix = tmp_path / "install" / "lingbot_depth_ros"
    assert (prefix / "lib" / "lingbot_depth_ros" / "depth_node").is_file()  # where `ros2 run` looks
    share = prefix / "share" / "lingbot_depth_ros"
    for relative in ("package.xml", "launch/lingbot_depth.launch.py", "config/lingbot_depth.yaml",
                     "config/fastdds_localhost.xml", "rviz/lingbot_depth.rviz"):
        assert (share / relative).is_file(), relative
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "lingbot_depth_ros").is_file()
