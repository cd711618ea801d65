"""DDS transport defaults that make camera-sized messages work between local processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROFILE_NAME = "fastdds_localhost.xml"
PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"


def dds_profile_path() -> Path | None:
    """The packaged Fast DDS profile: the ament index (colcon install), the environment's share/ folder
    (pip install, also without AMENT_PREFIX_PATH), or the source tree's config/."""
    try:
        from ament_index_python.packages import get_package_share_directory
        path = Path(get_package_share_directory("lingbot_depth_ros")) / "config" / PROFILE_NAME
        if path.is_file():
            return path
    except Exception:  # noqa: BLE001 - package not in the ament index (source tree)
        pass
    candidates = (Path(sys.prefix) / "share" / "lingbot_depth_ros" / "config" / PROFILE_NAME,  # pip install
                  Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME)  # source tree
    return next((path for path in candidates if path.is_file()), None)


def apply_default_dds_profile() -> str | None:
    """Point Fast DDS at the large shared-memory profile unless the user configured DDS already.

    Without it, best-effort 640x480 images exceed Fast DDS's default 0.5 MB shared-memory segment,
    fall back to UDP fragments and are lost. Must run before ``rclpy.init``. Returns the profile
    path applied, or None when left alone (variable already set, another RMW, or no profile found).
    """
    if os.environ.get(PROFILE_ENV) or os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return None
    path = dds_profile_path()
    if path is None:
        return None
    os.environ[PROFILE_ENV] = str(path)
    return str(path)
