"""Shared pytest set-up: an isolated ROS 2 graph per test run, paths to shared data."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# One DDS domain per pytest process, so parallel runs (and other sessions) never see each other.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
# Subprocesses (node, publishers) import the package from this working tree.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("PYTHONUNBUFFERED", "1")
# Large shared-memory segments so best-effort camera images are not lost between processes: the working
# tree's profile for the installed Fast DDS (FASTRTPS_* with Fast DDS 2 / Jazzy, FASTDDS_* with 3 / Kilted).
sys.path.insert(0, str(REPO_ROOT))
from lingbot_depth_ros.ros import dds as _dds  # noqa: E402

_fastdds_major = _dds.fastdds_major_version() or 2
os.environ.setdefault(_dds.profile_env_var(_fastdds_major),
                      str(REPO_ROOT / "config" / _dds.PROFILE_NAMES[_fastdds_major]))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (real NYU and KITTI frames). Fails loudly when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED_DATA}: the tests need ../shared/data "
                    "beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for test artifacts people may want to look at (screenshots, reports)."""
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
