"""Every package.xml key resolves with the real rosdep for Ubuntu 24.04 (noble), on Jazzy and Kilted.

rosdep (pip package, pinned in requirements-dev.txt) reads the offline snapshot of the official rosdep
database and distribution files in ../shared/rosdistro, set up as its README says: a copy without the
``distribution_cache`` lines, a sources list pointing at the copy's rosdep YAML files, and
``rosdep update`` per distribution in its own ROS_HOME. Then the README's own command,
``rosdep install --from-paths src --ignore-src -y`` (``--simulate``), must succeed, and ``rosdep
resolve`` of every key lists any key that does not resolve.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OS = "ubuntu:noble"
DISTROS = ("jazzy", "kilted")
DEPEND_TAGS = ("depend", "build_depend", "buildtool_depend", "build_export_depend", "exec_depend",
               "test_depend", "doc_depend")


def _rosdep() -> Path:
    rosdep = Path(sys.executable).with_name("rosdep")
    assert rosdep.exists(), "rosdep missing: scripts/setup.sh installs requirements-dev.txt"
    return rosdep


@pytest.fixture(scope="session")
def rosdep_env(shared_rosdistro: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, str]]:
    """``env(distro)``: environment for a rosdep that reads the snapshot, updated once per distro and session."""
    base = tmp_path_factory.mktemp("rosdep")
    snapshot = base / "rosdistro"
    shutil.copytree(shared_rosdistro, snapshot)
    index = snapshot / "index-v4.yaml"
    index.chmod(0o644)
    index.write_text("".join(line for line in index.read_text().splitlines(keepends=True)
                             if "distribution_cache:" not in line))
    sources = base / "sources.list.d"
    sources.mkdir()
    (sources / "20-default.list").write_text(f"yaml file://{snapshot}/rosdep/base.yaml\n"
                                             f"yaml file://{snapshot}/rosdep/python.yaml\n")
    envs: dict[str, dict[str, str]] = {}

    def env(distro: str) -> dict[str, str]:
        if distro not in envs:
            # No sourced ROS: packages found on these paths would count as already present (--ignore-src).
            clean = {k: v for k, v in os.environ.items()
                     if k not in ("AMENT_PREFIX_PATH", "ROS_PACKAGE_PATH", "CMAKE_PREFIX_PATH", "COLCON_PREFIX_PATH")}
            envs[distro] = dict(clean, ROSDISTRO_INDEX_URL=f"file://{index}", ROSDEP_SOURCE_PATH=str(sources),
                                ROS_HOME=str(base / f"ros_home_{distro}"), ROS_PYTHON_VERSION="3",
                                ROS_DISTRO=distro)
            update = subprocess.run([str(_rosdep()), "update", "--rosdistro", distro], env=envs[distro],
                                    capture_output=True, text=True, timeout=300)
            assert update.returncode == 0, update.stdout + update.stderr
        return envs[distro]

    return env


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace ``src/`` holding only this package's manifest (as rosdep sees a cloned package)."""
    src = tmp_path_factory.mktemp("ws") / "src"
    (src / "lingbot_depth_ros").mkdir(parents=True)
    shutil.copy(ROOT / "package.xml", src / "lingbot_depth_ros" / "package.xml")
    return src


def _keys() -> list[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return sorted({e.text.strip() for tag in DEPEND_TAGS for e in root.iter(tag)})


@pytest.mark.parametrize("distro", DISTROS)
def test_every_key_resolves_on_noble(rosdep_env: Callable[[str], dict[str, str]], distro: str) -> None:
    keys = _keys()
    result = subprocess.run([str(_rosdep()), "resolve", *keys, f"--os={OS}", "--rosdistro", distro],
                            env=rosdep_env(distro), capture_output=True, text=True, timeout=300)
    unresolved = [line.split("'")[1] for line in result.stderr.splitlines() if line.startswith("ERROR: no rosdep rule")]
    assert not unresolved and result.returncode == 0, \
        f"{distro}/{OS}: unresolved rosdep keys {unresolved}\n{result.stdout}{result.stderr}"
    seen = [line[len("#ROSDEP["):-1] for line in result.stdout.splitlines() if line.startswith("#ROSDEP[")]
    assert sorted(seen) == keys, result.stdout  # rosdep answered for every key


@pytest.mark.parametrize("distro", DISTROS)
def test_readme_rosdep_install_succeeds(rosdep_env: Callable[[str], dict[str, str]], workspace: Path,
                                        distro: str) -> None:
    result = subprocess.run([str(_rosdep()), "install", "--from-paths", str(workspace), "--ignore-src", "-y",
                             "--simulate", f"--os={OS}", "--rosdistro", distro],
                            env=rosdep_env(distro), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "Cannot locate rosdep definition" not in result.stderr, \
        result.stdout + result.stderr
    # ROS packages come from the distro's apt repository, the rest from Ubuntu's.
    for package in (f"ros-{distro}-rclpy", f"ros-{distro}-sensor-msgs", f"ros-{distro}-tf2-ros-py", "python3-opencv",
                    "python3-tqdm", "python3-jsonschema"):
        assert f"apt-get install -y {package}\n" in result.stdout, result.stdout


def test_optional_extras_are_not_hard_dependencies() -> None:
    """torch/safetensors/huggingface_hub/rosbags are pip extras (README), never rosdep keys of a robot install."""
    for key in _keys():
        assert not any(extra in key for extra in ("torch", "safetensors", "huggingface", "rosbags")), key
