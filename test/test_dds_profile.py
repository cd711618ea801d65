"""The Fast DDS profile is found wherever the package runs from, and never overrides a user's choice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _profile_seen_by_fresh_process(env_extra: dict[str, str], cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", **env_extra}
    code = ("from lingbot_depth_ros.ros.dds import apply_default_dds_profile; import os; "
            "apply_default_dds_profile(); print(os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE', ''))")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_profile_found_without_ament_prefix_path(tmp_path: Path) -> None:
    # as `make demo` runs it: installed package, no ROS environment variables at all
    seen = _profile_seen_by_fresh_process({}, tmp_path)
    assert seen.endswith("config/fastdds_localhost.xml") and Path(seen).is_file()
    assert "<segment_size>" in Path(seen).read_text()


def test_user_profile_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / "mine.xml"
    mine.write_text("<profiles/>")
    assert _profile_seen_by_fresh_process({"FASTRTPS_DEFAULT_PROFILES_FILE": str(mine)}, tmp_path) == str(mine)


def test_other_rmw_is_left_alone(tmp_path: Path) -> None:
    assert _profile_seen_by_fresh_process({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, tmp_path) == ""
