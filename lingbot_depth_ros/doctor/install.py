"""Install checks: ROS 2 distribution, RMW, the Fast DDS profile variable, /dev/shm, optional extras (no rclpy).

They read this shell's environment, i.e. what a camera driver started from it would get: the node sets its own
Fast DDS profile (``deploy/dds.py``), a driver does not.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from lingbot_depth_ros.deploy.dds import (
    FASTDDS2_ENV,
    FASTDDS3_ENV,
    PROFILE_NAMES,
    SEGMENT_BYTES,
    dds_profile_path,
    fastdds_major_version,
    profile_env_var,
)
from lingbot_depth_ros.doctor.config import NodeConfig
from lingbot_depth_ros.doctor.report import FAIL, OK, WARN, Check
from lingbot_depth_ros.estimators.registry import estimator_class

DEFAULT_RMW = "rmw_fastrtps_cpp"
GROUP = "install"
#: import name -> (pip distributions to read the version of, what needs it)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch",), "lingbot and the learned estimators, lingbot-depth-export"),
    "safetensors": (("safetensors",), ".safetensors checkpoints"),
    "huggingface_hub": (("huggingface_hub", "huggingface-hub"), "Hugging Face repo ids"),
    "onnxruntime": (("onnxruntime-gpu", "onnxruntime"), "lingbot.backend onnxruntime"),
    "transformers": (("transformers",), "depth_anything, prompt_depth_anything, depth_pro, marigold"),
    "rosbags": (("rosbags",), "lingbot-depth-bag, lingbot-depth-eval"),
    "open3d": (("open3d", "open3d-cpu"), "fusion"),
    "tf2_ros": (("tf2_ros", "ros-jazzy-tf2-ros-py", "ros-kilted-tf2-ros-py"), "LiDAR / obstacle frames from TF"),
}
PIP_NAME = {"PIL": "pillow", "open3d": "open3d-cpu", "tf2_ros": "ros-<distro>-tf2-ros-py (apt)"}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def dist_version(names: tuple[str, ...]) -> str | None:
    """The version of the first of the pip distributions ``names`` that is installed, else None."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _ament_prefixes() -> list[Path]:
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return prefixes + [Path(sys.prefix)]


def installed_rmws() -> list[str]:
    """RMW implementations registered in the ament index of the ROS prefixes (``rmw_typesupport`` resources)."""
    names: set[str] = set()
    for prefix in _ament_prefixes():
        folder = prefix / "share" / "ament_index" / "resource_index" / "rmw_typesupport"
        try:
            names.update(p.name for p in folder.iterdir() if p.name.startswith("rmw_") and p.name !=
                         "rmw_implementation")
        except OSError:
            continue
    return sorted(names)


def ros_distro() -> str | None:
    """ROS_DISTRO, else the distribution of the ROS 2 pip wheels (``ros-<distro>-rclpy``), else None."""
    distro = os.environ.get("ROS_DISTRO", "").strip()
    if distro:
        return distro
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        distro = name[len("ros-"):-len("-rclpy")] if name.startswith("ros-") and name.endswith("-rclpy") else ""
        if distro.isalpha():  # ros-jazzy-rclpy (ros-rclpy names no distribution)
            return distro
    return None


def check_ros(graph_requested: bool) -> Check:
    """ROS 2 present: ROS_DISTRO (or the wheels' distribution) and rclpy importable."""
    distro = ros_distro()
    if not installed("rclpy"):
        return Check("install.ros", GROUP, "ROS 2", FAIL if graph_requested else WARN,
                     f"rclpy not importable (ROS_DISTRO={distro or 'unset'})",
                     "source /opt/ros/<distro>/setup.bash (the node, --ros and the launch files need ROS 2)")
    version = dist_version(("rclpy",) + ((f"ros-{distro}-rclpy",) if distro else ()))
    where = "" if os.environ.get("ROS_DISTRO") else " (ROS_DISTRO unset: from the ROS 2 pip wheels)"
    return Check("install.ros", GROUP, "ROS 2", OK, f"{distro or 'unknown distribution'}, rclpy "
                 f"{version or '(version unknown)'}{where}")


def check_rmw() -> Check:
    """The RMW in force (RMW_IMPLEMENTATION, default rmw_fastrtps_cpp) is installed."""
    rmw = os.environ.get("RMW_IMPLEMENTATION", "").strip() or DEFAULT_RMW
    available = installed_rmws()
    chosen = "RMW_IMPLEMENTATION" if os.environ.get("RMW_IMPLEMENTATION", "").strip() else "default"
    if available and rmw not in available:
        return Check("install.rmw", GROUP, "RMW", FAIL, f"{rmw} ({chosen}) is not installed (installed: "
                     f"{', '.join(available)})", f"install ros-<distro>-{rmw.replace('_', '-')} or unset "
                     "RMW_IMPLEMENTATION; every process on the robot must use the same RMW")
    return Check("install.rmw", GROUP, "RMW", OK, f"{rmw} ({chosen})")


def _profile_for(major: int) -> str:
    path = dds_profile_path(major)
    return str(path) if path is not None else \
        f"$(ros2 pkg prefix lingbot_depth_ros)/share/lingbot_depth_ros/config/{PROFILE_NAMES[3 if major >= 3 else 2]}"


def check_dds_profile() -> Check:
    """The Fast DDS profile variable of this environment vs the Fast DDS major version that will read it."""
    title = "Fast DDS profile"
    rmw = os.environ.get("RMW_IMPLEMENTATION", "").strip() or DEFAULT_RMW
    if rmw != DEFAULT_RMW:
        return Check("install.dds_profile", GROUP, title, OK, f"{rmw}: not Fast DDS, no profile variable read",
                     "give every process, the camera driver included, the same large-message settings of " + rmw)
    major = fastdds_major_version()
    if major is None:
        return Check("install.dds_profile", GROUP, title, WARN, "Fast DDS version unknown (no libfastrtps/libfastdds "
                     "in the ROS prefixes, ROS_DISTRO unset)", "source /opt/ros/<distro>/setup.bash")
    var = profile_env_var(major) or FASTDDS2_ENV
    other = FASTDDS2_ENV if var == FASTDDS3_ENV else FASTDDS3_ENV
    value, other_value = os.environ.get(var, "").strip(), os.environ.get(other, "").strip()
    wanted = PROFILE_NAMES[3 if major >= 3 else 2]
    fix = f"export {var}={_profile_for(major)} for every process, camera driver included (README 'On a robot')"
    if not value and other_value:
        return Check("install.dds_profile", GROUP, title, WARN,
                     f"{other} is set, but Fast DDS {major} reads {var} (unset): the node copies it over, a camera "
                     "driver started from this environment reads no profile", fix)
    if not value:
        return Check("install.dds_profile", GROUP, title, WARN,
                     f"{var} unset: the node sets its own profile, but a camera driver started from this environment "
                     "runs on Fast DDS defaults (large images then arrive late or are lost)", fix)
    path = Path(value).expanduser()
    if not path.is_file():
        return Check("install.dds_profile", GROUP, title, FAIL, f"{var}={value}: no such file", fix)
    if path.name in PROFILE_NAMES.values() and path.name != wanted:
        return Check("install.dds_profile", GROUP, title, FAIL,
                     f"{var}={value} is the profile of the other Fast DDS major version (Fast DDS {major} needs "
                     f"{wanted}: element names differ)", fix)
    return Check("install.dds_profile", GROUP, title, OK, f"Fast DDS {major} reads {var}={value}")


def check_shared_memory(shm_dir: Path = Path("/dev/shm")) -> Check:
    """/dev/shm can hold the profile's 64 MB segment of this process and one peer."""
    title = "shared memory"
    try:
        free = shutil.disk_usage(shm_dir).free
    except OSError as exc:
        return Check("install.shm", GROUP, title, WARN, f"{shm_dir}: {exc.strerror or exc}",
                     "Fast DDS falls back to UDP without shared memory (large best-effort images are lost)")
    summary = f"{shm_dir} {free / 2**20:.0f} MB free"
    if free < 2 * SEGMENT_BYTES:
        return Check("install.shm", GROUP, title, FAIL,
                     summary + f", under 2 x the profile's {SEGMENT_BYTES // 2**20} MB segment: Fast DDS cannot create "
                     "its segment and best-effort images are lost",
                     "in Docker run the containers with --shm-size=512m or --ipc=host")
    return Check("install.shm", GROUP, title, OK, summary)


def _needed_modules(config: NodeConfig) -> dict[str, str]:
    """Import name -> why the configured node needs it."""
    estimator = config.estimator
    needed = {module: f"estimator {estimator}" for module in estimator_class(estimator).requires}
    checkpoint = str(config.values.get(f"{estimator}.checkpoint", "") or "").strip()
    if checkpoint.endswith(".safetensors"):
        needed["safetensors"] = f"{estimator}.checkpoint {checkpoint}"
    elif checkpoint and _is_repo_id(checkpoint):
        needed["huggingface_hub"] = f"{estimator}.checkpoint {checkpoint} (a Hugging Face repo id)"
    if estimator == "lingbot" and config.values.get("lingbot.backend") == "onnxruntime":
        needed["onnxruntime"] = "lingbot.backend onnxruntime"
    return needed


def _is_repo_id(checkpoint: str) -> bool:
    """Whether ``checkpoint`` names a Hugging Face repo (the model package's rule; it needs torch to import)."""
    if not installed("torch"):
        return False  # torch missing is reported on its own; the rule cannot be read without it
    from lingbot_depth_ros.model.checkpoint import looks_like_repo_id
    return looks_like_repo_id(checkpoint)


def check_extras(config: NodeConfig) -> Check:
    """The optional pip packages present (with versions); FAIL when the configured node needs a missing one."""
    present, absent = [], []
    for module, (dists, _) in EXTRAS.items():
        if installed(module):
            present.append(f"{module} {dist_version(dists) or '?'}")
        else:
            absent.append(module)
    missing = {m: why for m, why in _needed_modules(config).items() if not installed(m)}
    summary = ", ".join(present) or "none"
    if absent:
        summary += f"; not installed: {', '.join(absent)}"
    if missing:
        names = " ".join(PIP_NAME.get(m, m) for m in missing)
        return Check("install.extras", GROUP, "optional extras", FAIL,
                     f"{'; '.join(f'{why} needs {m}' for m, why in missing.items())} (not installed); {summary}",
                     f"python3 -m pip install {names} (README 'On a robot', 'GPU on the robot' for a CUDA torch)")
    return Check("install.extras", GROUP, "optional extras", OK, summary)


def install_checks(config: NodeConfig, graph_requested: bool) -> list[Check]:
    """Every install check, in report order."""
    return [check_ros(graph_requested), check_rmw(), check_dds_profile(), check_shared_memory(), check_extras(config)]
