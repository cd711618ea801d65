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
from lingbot_depth_ros.deploy import dds as _dds  # noqa: E402

_fastdds_major = _dds.fastdds_major_version() or 2
os.environ.setdefault(_dds.profile_env_var(_fastdds_major),
                      str(REPO_ROOT / "config" / _dds.PROFILE_NAMES[_fastdds_major]))


# Tests skipped because ../shared is missing (fresh clone outside CI): skip reason -> number of tests.
_MISSING_SHARED: dict[str, int] = {}


def in_ci() -> bool:
    """CI sets CI=true: there every missing input is an error, never a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_shared(path: Path, what: str) -> Path:
    """``path`` (under ../shared) if it exists. Missing: skip the test, or fail it under CI.

    ``what`` says what the folder holds, for the one summary line of skipped tests.
    """
    if path.is_dir():
        return path
    relative = f"../{path.relative_to(REPO_ROOT.parent)}"
    if in_ci():
        pytest.fail(f"{relative} not found beside the repository at {path} ({what}); CI needs it")
    reason = f"{relative} not found beside the repository (needs {what})"
    _MISSING_SHARED.setdefault(reason, 0)
    pytest.skip(reason)


_SKIP_LINE = require_shared.__code__.co_firstlineno - 1  # 0-based line shown in pytest's skip summary


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (real NYU and KITTI frames); skipped without it, except under CI=true."""
    return require_shared(SHARED_DATA, "the NYU/KITTI frames")


@pytest.fixture(scope="session")
def shared_rosdistro() -> Path:
    """Path of ../shared/rosdistro (offline rosdep database snapshot); skipped without it, except under CI."""
    return require_shared(REPO_ROOT.parent / "shared" / "rosdistro", "the rosdep database snapshot")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the skips for a missing ../shared folder and give them one location, so that pytest's own
    ``-rs`` summary folds them into one line per folder instead of one line per test."""
    if report.skipped and isinstance(report.longrepr, tuple):
        for reason in _MISSING_SHARED:
            if reason in str(report.longrepr[2]):
                _MISSING_SHARED[reason] += 1
                report.longrepr = (__file__, _SKIP_LINE, report.longrepr[2])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One line per missing ../shared folder, with how many tests it skipped (unless ``-rs`` printed it)."""
    if set(config.getoption("reportchars", "")) & {"s", "a", "A"}:
        return
    for reason, count in _MISSING_SHARED.items():
        terminalreporter.write_line(f"{count} test{'s' if count != 1 else ''} skipped: {reason}", yellow=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for test artifacts people may want to look at (screenshots, reports)."""
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
