"""The Fast DDS profile: the working tree's dds.py sets the variable the installed Fast DDS reads, with a
profile that Fast DDS really parses and applies (64 MB shared-memory segment), and never overrides a user's choice.

Runs under both ROS 2 families (`make test` runs it in .venv with Jazzy / Fast DDS 2 and in .venv-kilted
with Kilted / Fast DDS 3); the expected variable comes from the installed wheels, not from dds.py.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lingbot_depth_ros.deploy import dds

ROOT = Path(__file__).resolve().parents[1]
SEGMENT_BYTES = 64 * 1024 * 1024  # <segment_size> of both profiles


def _installed_fastdds_major() -> int:
    """Fast DDS major version of this venv, from the wheel metadata (independent of dds.py's detection)."""
    for dist, major in (("ros-fastdds", 3), ("ros-fastrtps", 2)):
        try:
            importlib.metadata.version(dist)
            return major
        except importlib.metadata.PackageNotFoundError:
            continue
    pytest.fail("neither ros-fastdds (Fast DDS 3) nor ros-fastrtps (Fast DDS 2) is installed in this venv")


MAJOR = _installed_fastdds_major()
READ_VAR = "FASTDDS_DEFAULT_PROFILES_FILE" if MAJOR == 3 else "FASTRTPS_DEFAULT_PROFILES_FILE"
OTHER_VAR = "FASTRTPS_DEFAULT_PROFILES_FILE" if MAJOR == 3 else "FASTDDS_DEFAULT_PROFILES_FILE"
PROFILE = "fastdds3_localhost.xml" if MAJOR == 3 else "fastdds_localhost.xml"

_APPLY = """
import json, os
import lingbot_depth_ros.deploy.dds as dds
applied = dds.apply_default_dds_profile()
print(json.dumps({"module": dds.__file__, "applied": applied,
                  "env": {k: v for k, v in os.environ.items() if k.endswith("_DEFAULT_PROFILES_FILE")}}))
"""


def _fresh_process(env_extra: dict[str, str], cwd: Path, code: str = _APPLY) -> tuple[dict, str]:
    """Run ``code`` in a fresh interpreter of this venv that imports the package from the working tree only
    (PYTHONPATH = repository root, cwd elsewhere), with no ROS variables unless given; (json stdout, stderr)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env_extra}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_the_working_tree_is_tested(tmp_path: Path) -> None:
    # fails when the subprocess imports an installed copy (site-packages) instead of this checkout
    seen, _ = _fresh_process({}, tmp_path)
    assert Path(seen["module"]).resolve() == ROOT / "lingbot_depth_ros" / "deploy" / "dds.py"
    assert Path(dds.__file__).resolve() == ROOT / "lingbot_depth_ros" / "deploy" / "dds.py"


def test_profile_for_the_installed_fastdds_without_ament_prefix_path(tmp_path: Path) -> None:
    # as `make demo` runs it: no ROS environment variables at all
    seen, _ = _fresh_process({}, tmp_path)
    assert set(seen["env"]) == {READ_VAR}, f"Fast DDS {MAJOR} reads {READ_VAR} only; set: {seen['env']}"
    path = Path(seen["env"][READ_VAR])
    assert seen["applied"] == str(path) and path.name == PROFILE and path.is_file()
    assert f"<segment_size>{SEGMENT_BYTES}</segment_size>" in path.read_text()


@pytest.mark.parametrize("user_var", ["FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"])
def test_user_profile_wins_in_either_variable(tmp_path: Path, user_var: str) -> None:
    mine = tmp_path / "mine.xml"
    mine.write_text("<profiles/>")
    seen, _ = _fresh_process({user_var: str(mine)}, tmp_path)
    # the variable this Fast DDS reads carries the user's file (copied there when they set the other one)
    assert seen["env"][READ_VAR] == str(mine) and seen["env"][user_var] == str(mine)
    assert seen["applied"] == (str(mine) if user_var == OTHER_VAR else None)
    assert all(value == str(mine) for value in seen["env"].values())


def test_other_rmw_is_left_alone(tmp_path: Path) -> None:
    seen, _ = _fresh_process({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, tmp_path)
    assert seen["applied"] is None and seen["env"] == {}


@pytest.mark.parametrize(("libraries", "distro", "expected"), [
    (["libfastdds.so", "libfastdds.so.3.2.2"], "", 3),
    (["libfastrtps.so", "libfastrtps.so.2.14.5"], "", 2),
    (["libfastrtps.so.2.14"], "kilted", 2),  # the library found wins over a stale ROS_DISTRO
    ([], "jazzy", 2), ([], "humble", 2), ([], "kilted", 3), ([], "rolling", 3), ([], "", None),
])
def test_fastdds_version_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libraries: list[str],
                                   distro: str, expected: int | None) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in [*libraries, "libfastcdr.so.2"]:
        (lib / name).touch()
    monkeypatch.setattr(dds, "_library_dirs", lambda: [tmp_path / "missing", lib])
    monkeypatch.setenv("ROS_DISTRO", distro)
    for var in (READ_VAR, OTHER_VAR, "RMW_IMPLEMENTATION"):
        monkeypatch.delenv(var, raising=False)
    assert dds.fastdds_major_version() == expected
    applied = dds.apply_default_dds_profile()
    if expected is None:  # unknown version: no guess (Kilted's rmw also loads a FASTRTPS_* file)
        assert applied is None and READ_VAR not in os.environ and OTHER_VAR not in os.environ
    else:
        var = "FASTDDS_DEFAULT_PROFILES_FILE" if expected == 3 else "FASTRTPS_DEFAULT_PROFILES_FILE"
        assert applied == os.environ[var] and Path(applied).name == dds.PROFILE_NAMES[expected]


_SEGMENTS = """
import json, os, sys
import lingbot_depth_ros.deploy.dds as dds
if sys.argv[1] == "apply":
    dds.apply_default_dds_profile()
import rclpy
rclpy.init()
node = rclpy.create_node("dds_profile_probe")
sizes = {}
with open("/proc/self/maps") as maps:  # this process's own shared-memory segments
    for line in maps:
        fields = line.split()
        if len(fields) >= 6 and fields[5].startswith("/dev/shm/fast"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            sizes[fields[5]] = sizes.get(fields[5], 0) + end - start
node.destroy_node()
rclpy.shutdown()
print(json.dumps({"module": dds.__file__, "largest": max(sizes.values(), default=0)}))
"""


@pytest.mark.ros
@pytest.mark.parametrize("apply", [True, False])
def test_fastdds_parses_and_applies_the_profile(tmp_path: Path, apply: bool) -> None:
    """A real rclpy participant: with the profile its shared-memory segment is >= 64 MB and Fast DDS reports
    no XML error; without it the segment is Fast DDS's default (< 1 MB), so the size check can fail."""
    ros_env = {k: os.environ[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE") if k in os.environ}
    seen, stderr = _fresh_process({**ros_env, "AMENT_PREFIX_PATH": sys.prefix,
                                   "ROS_LOG_DIR": str(tmp_path)}, tmp_path,
                                  _SEGMENTS.replace("sys.argv[1]", repr("apply" if apply else "none")))
    assert Path(seen["module"]).resolve() == ROOT / "lingbot_depth_ros" / "deploy" / "dds.py"
    assert "XMLPARSER" not in stderr and "Problem loading XML" not in stderr, stderr
    if apply:
        assert seen["largest"] >= SEGMENT_BYTES, f"Fast DDS {MAJOR} did not apply the profile: {seen}"
    else:
        assert 0 < seen["largest"] < SEGMENT_BYTES // 16, seen


@pytest.mark.parametrize(("free_mb", "warns"), [(63, True), (127, True), (128, False), (24000, False)])
def test_small_dev_shm_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_mb: int, warns: bool) -> None:
    # Docker's default /dev/shm (64 MB) cannot hold one 64 MB segment: measured 0 of 30 best-effort
    # 640x480 images delivered with the profile (30 of 30 with --shm-size=512m)
    monkeypatch.setenv(READ_VAR, str(ROOT / "config" / PROFILE))
    usage = type("Usage", (), {"total": 2**40, "used": 0, "free": free_mb * 2**20})()
    monkeypatch.setattr(dds.shutil, "disk_usage", lambda path: usage if Path(path) == tmp_path else None)
    warning = dds.shared_memory_warning(tmp_path)
    if warns:
        assert f"{tmp_path} has only {free_mb} MB free" in warning and "--shm-size=512m or --ipc=host" in warning
    else:
        assert warning is None
    monkeypatch.setenv(READ_VAR, str(tmp_path / "users_own_profile.xml"))  # not our segment size: no opinion
    assert dds.shared_memory_warning(tmp_path) is None
