"""DDS transport defaults that make camera-sized messages work between local processes.

Fast DDS 2 (ROS 2 Humble, Jazzy) reads its XML profile from ``FASTRTPS_DEFAULT_PROFILES_FILE``;
Fast DDS 3 (ROS 2 Kilted and later) reads ``FASTDDS_DEFAULT_PROFILES_FILE`` and renamed some XML
elements, so each major version has its own profile file in ``config/``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

FASTDDS2_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x: ROS 2 Humble, Jazzy
FASTDDS3_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"  # Fast DDS 3.x: ROS 2 Kilted and later
PROFILE_NAMES = {2: "fastdds_localhost.xml", 3: "fastdds3_localhost.xml"}
PROFILE_NAME = PROFILE_NAMES[2]
SEGMENT_BYTES = 64 * 1024 * 1024  # <segment_size> of both profiles: one segment per participant
FIRST_FASTDDS3_DISTRO = "kilted"  # ROS 2 distributions are named in alphabetical order
_LIBRARY = re.compile(r"lib(fastdds|fastrtps)\.so(\.\d+)*$")


def _library_dirs() -> list[Path]:
    """Where rmw_fastrtps may load Fast DDS from: the ROS install prefixes (AMENT_PREFIX_PATH), the
    loader path (LD_LIBRARY_PATH) and this Python's prefix (PyPI wheels)."""
    prefixes = [Path(p) / "lib" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    loader = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    return prefixes + loader + [Path(sys.prefix) / "lib"]


def fastdds_major_version() -> int | None:
    """Major version (2 or 3) of the Fast DDS that rmw_fastrtps will load, None when it cannot be told.

    Looks for the library (Fast DDS 2 ships ``libfastrtps.so``, Fast DDS 3 ``libfastdds.so``; apt and
    colcon: ``/opt/ros/<distro>/lib``, PyPI wheels: ``<venv>/lib``), then falls back to ``ROS_DISTRO``
    (Kilted and later use Fast DDS 3).
    """
    for folder in _library_dirs():
        try:
            names = [p.name for p in folder.iterdir() if _LIBRARY.match(p.name)]
        except OSError:
            continue
        if any(name.startswith("libfastdds.") for name in names):
            return 3
        if names:
            return 2
    distro = os.environ.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return 3 if distro >= FIRST_FASTDDS3_DISTRO else 2
    return None


def profile_env_var(major: int | None) -> str | None:
    """The variable Fast DDS ``major`` reads its XML profile from (None for an unknown version)."""
    if major is None:
        return None
    return FASTDDS3_ENV if major >= 3 else FASTDDS2_ENV


def dds_profile_path(major: int = 2) -> Path | None:
    """The packaged profile for Fast DDS ``major`` (2 or 3): the ament index (colcon install), the
    environment's share/ folder (pip install, also without AMENT_PREFIX_PATH), or the source tree's config/."""
    name = PROFILE_NAMES[3 if major >= 3 else 2]
    try:
        from ament_index_python.packages import get_package_share_directory
        path = Path(get_package_share_directory("lingbot_depth_ros")) / "config" / name
        if path.is_file():
            return path
    except Exception:  # noqa: BLE001 - package not in the ament index (source tree)
        pass
    candidates = (Path(sys.prefix) / "share" / "lingbot_depth_ros" / "config" / name,  # pip install
                  Path(__file__).resolve().parents[2] / "config" / name)  # source tree
    return next((path for path in candidates if path.is_file()), None)


def dds_profile_in_use() -> str | None:
    """The profile file Fast DDS will read according to the environment, None when none is set."""
    var = profile_env_var(fastdds_major_version())
    names = (var,) if var else (FASTDDS3_ENV, FASTDDS2_ENV)
    return next((os.environ[v] for v in names if os.environ.get(v)), None)


def apply_default_dds_profile() -> str | None:
    """Point Fast DDS at the large shared-memory profile unless the user configured DDS already.

    Without it, best-effort 640x480 images exceed Fast DDS's default 0.5 MB shared-memory segment,
    fall back to UDP fragments and are lost. Must run before ``rclpy.init``.

    Sets the variable the installed Fast DDS reads: ``FASTDDS_DEFAULT_PROFILES_FILE`` with the
    Fast DDS 3 profile (Kilted and later), ``FASTRTPS_DEFAULT_PROFILES_FILE`` with the Fast DDS 2
    profile (Humble, Jazzy). When the user set either variable their file wins: it is only copied
    into the variable this Fast DDS reads if that one is unset. Returns the path this call put in
    the environment, or None when it changed nothing (the user's variable already read, another RMW,
    Fast DDS version unknown, no profile found).
    """
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        return None
    major = fastdds_major_version()
    if major is None:  # Fast DDS version unknown: no variable to set
        return None
    var = profile_env_var(major)
    if var is None or os.environ.get(var):
        return None
    users = [os.environ[v] for v in (FASTDDS3_ENV, FASTDDS2_ENV) if os.environ.get(v)]
    path = users[0] if users else dds_profile_path(major)
    if path is None:
        return None
    os.environ[var] = str(path)
    return str(path)


def shared_memory_warning(shm_dir: Path = Path("/dev/shm")) -> str | None:
    """A warning when ``shm_dir`` cannot hold two of the profile's 64 MB segments (this process and one peer).

    Docker's default /dev/shm is 64 MB: there Fast DDS cannot create the segment, falls back to UDP and
    (measured, 640x480 best-effort images) delivers none. None when fine or when our profile is not in use.
    """
    profile = dds_profile_in_use()
    if profile is None or Path(profile).name not in PROFILE_NAMES.values():
        return None
    try:
        free = shutil.disk_usage(shm_dir).free
    except OSError:
        return None
    if free >= 2 * SEGMENT_BYTES:
        return None
    return (f"{shm_dir} has only {free / 2**20:.0f} MB free, but every Fast DDS participant using "
            f"{Path(profile).name} maps a {SEGMENT_BYTES // 2**20} MB shared-memory segment: best-effort images "
            "will be lost. In Docker run the containers with --shm-size=512m or --ipc=host")


def transport_hint() -> str:
    """What to do when inputs arrive late or in bursts: every process on the machine on this node's DDS profile.

    Names the variable and file in force (``export FASTRTPS_DEFAULT_PROFILES_FILE=<path>``), or says how to
    set one when none is (another RMW: its own large-message settings).
    """
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw != "rmw_fastrtps_cpp":
        return (f"Fix: give every process on the machine, the camera driver included, the same {rmw} settings for "
                "large messages (README 'On a robot')")
    var = profile_env_var(fastdds_major_version()) or FASTDDS2_ENV
    profile = dds_profile_in_use() or "$(ros2 pkg prefix lingbot_depth_ros)/share/lingbot_depth_ros/config/" + \
        PROFILE_NAMES[3 if var == FASTDDS3_ENV else 2]
    return (f"Fix: every process on the machine, the camera driver included, must use this node's DDS profile: "
            f"export {var}={profile} in the robot's environment (README 'On a robot')")
