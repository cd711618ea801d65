"""What the launch files do with their arguments, as plain Python (no launch / launch_ros import).

The launch files only declare these arguments, read their values at launch time and hand them to
:func:`node_setup`; everything that can go wrong (an unknown estimator, a bad topic name) is decided
and tested here. An empty value means "as in the parameter file", so ``ros2 launch ... mode:=monocular``
overrides one parameter and leaves the others to ``params_file``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lingbot_depth_ros.deploy.rviz_config import CameraView, resolve_topic
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.params.node import PARAMS_BY_NAME

PACKAGE = "lingbot_depth_ros"
EXECUTABLE = "depth_node"
NODE_NAME = "lingbot_depth_node"
RVIZ_PACKAGE = "rviz2"

# launch argument -> node parameter it overrides when non-empty
PARAMETER_ARGUMENTS: dict[str, str] = {
    "estimator": "estimator",
    "mode": "mode",
    "sparse_input": "sparse_input",
    "image_transport": "image_transport",
    "sparse_transport": "sparse_transport",
    "lifecycle": "lifecycle",  # the managed node (README "Managed (lifecycle) node")
    "autostart": "autostart",
}
# ``checkpoint:=`` overrides ``<estimator>.checkpoint`` of the estimator the node will run: the ``estimator``
# launch argument, else params_file's estimator for this node, else the parameter table's default.
CHECKPOINT_ARGUMENT = "checkpoint"
CHECKPOINT_ESTIMATORS: tuple[str, ...] = tuple(
    name for name in PARAMS_BY_NAME["estimator"].choices or () if f"{name}.checkpoint" in PARAMS_BY_NAME)
# launch argument -> the node's input topic it remaps (default: the node's own relative name)
REMAP_ARGUMENTS: dict[str, str] = {
    "image": "Input image topic (the raw topic name also for image_transport:=compressed)",
    "camera_info": "Input CameraInfo topic",
    "sparse_depth": "Input sparse depth image topic (16UC1 mm or 32FC1 m)",
    "lidar_points": "Input LiDAR PointCloud2 topic (sparse_input:=pointcloud)",
}


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


def parameter_arguments() -> list[LaunchArgument]:
    """The parameter-overriding launch arguments, described from the parameter table (empty default)."""
    args = []
    for arg, param in PARAMETER_ARGUMENTS.items():
        spec = PARAMS_BY_NAME.get(param)
        text = spec.description if spec is not None else ""
        choices = f" One of: {', '.join(spec.choices)}." if spec is not None and spec.choices else ""
        args.append(LaunchArgument(arg, "", f"Parameter {param} (empty: from params_file). {text}{choices}"))
    args.append(LaunchArgument(CHECKPOINT_ARGUMENT, "", "Parameter <estimator>.checkpoint of the estimator the "
                               "node runs (the estimator argument, else params_file's; empty: from params_file). "
                               f"For: {', '.join(CHECKPOINT_ESTIMATORS)}."))
    return args


def camera_arguments(prefix: str = "") -> list[LaunchArgument]:
    """Input remap arguments (``<prefix>image`` ...), defaulting to the node's own relative names."""
    return [LaunchArgument(prefix + name, name, text) for name, text in REMAP_ARGUMENTS.items()]


def _typed(param: str, text: str) -> Any:
    """A launch argument string as the parameter's type, checked against the parameter table."""
    spec = PARAMS_BY_NAME.get(param)
    if spec is None:
        raise ConfigError(f"launch argument for unknown node parameter '{param}'")
    value: Any = text
    if isinstance(spec.default, bool):
        if text.lower() not in ("true", "false"):
            raise ConfigError(f"{param} must be true or false, got '{text}'")
        value = text.lower() == "true"
    elif isinstance(spec.default, int):
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{param} must be an integer, got '{text}'") from None
    elif isinstance(spec.default, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{param} must be a number, got '{text}'") from None
    reason = spec.check(value)
    if reason:
        raise ConfigError(reason)
    return value


def parameter_overrides(values: Mapping[str, str], file_estimator: str | None = None) -> dict[str, Any]:
    """Node parameters from launch argument values: only the arguments given (non-empty), typed and checked.

    ``{"estimator": "lingbot", "mode": "", "checkpoint": "/m.pt"}`` -> ``{"estimator": "lingbot",
    "lingbot.checkpoint": "/m.pt"}``. ``checkpoint`` goes to ``<estimator>.checkpoint`` of the estimator the
    node runs: the ``estimator`` argument, else ``file_estimator`` (params_file's), else the table default.
    Raises ConfigError naming the parameter for an invalid value, or for a checkpoint given to an estimator
    that has none (classical, nearest).
    """
    overrides = {}
    for arg, param in PARAMETER_ARGUMENTS.items():
        text = (values.get(arg) or "").strip()
        if text:
            overrides[param] = _typed(param, text)
    checkpoint = (values.get(CHECKPOINT_ARGUMENT) or "").strip()
    if checkpoint:
        estimator = overrides.get("estimator") or file_estimator or PARAMS_BY_NAME["estimator"].default
        if estimator not in CHECKPOINT_ESTIMATORS:
            raise ConfigError(f"checkpoint:={checkpoint} given, but estimator {estimator} takes no checkpoint "
                              f"(set estimator:= to one of {', '.join(CHECKPOINT_ESTIMATORS)})")
        overrides[f"{estimator}.checkpoint"] = _typed(f"{estimator}.checkpoint", checkpoint)
    return overrides


def remappings(values: Mapping[str, str], prefix: str = "") -> list[tuple[str, str]]:
    """``(node topic, target)`` remaps from the ``<prefix>image`` ... argument values (empty = not remapped)."""
    pairs = []
    for name in REMAP_ARGUMENTS:
        target = (values.get(prefix + name) or "").strip()
        if target and target != name:
            resolve_topic(target)  # raises ValueError for a malformed name
            pairs.append((name, target))
    return pairs


@dataclass
class NodeSetup:
    """Everything the launch file passes to one ``launch_ros.actions.Node`` of the depth node."""

    namespace: str
    parameters: list[Any]  # params_file path (if any), then the override dict
    remappings: list[tuple[str, str]]
    view: CameraView  # the node's topics, fully qualified, for RViz
    arguments: list[str] = field(default_factory=list)


def node_setup(values: Mapping[str, str], *, namespace_arg: str = "namespace", prefix: str = "",
               label: str = "") -> NodeSetup:
    """One depth node from launch argument values (``params_file``, ``use_sim_time``, ``log_level``,
    the parameter arguments, and ``<prefix>image`` ... remaps); raises ConfigError / ValueError early."""
    namespace = (values.get(namespace_arg) or "").strip().strip("/")
    if namespace:
        resolve_topic("x", namespace)  # raises ValueError for a malformed namespace
    params_file = (values.get("params_file") or "").strip()
    if params_file and not Path(params_file).is_file():
        raise ConfigError(f"params_file {params_file} does not exist")
    file_estimator = (_params_file_value(params_file, "estimator", namespace)
                      if (values.get(CHECKPOINT_ARGUMENT) or "").strip() else None)
    overrides = parameter_overrides(values, None if file_estimator is None else str(file_estimator))
    sim = (values.get("use_sim_time") or "false").strip().lower()
    if sim not in ("true", "false"):
        raise ConfigError(f"use_sim_time must be true or false, got '{sim}'")
    overrides["use_sim_time"] = sim == "true"
    remaps = remappings(values, prefix)
    image = dict(remaps).get("image", "image")
    transport = overrides.get("image_transport",
                              _params_file_value(params_file, "image_transport", namespace) or "raw")
    view = CameraView.for_node(namespace, image, transport, label)
    level = (values.get("log_level") or "info").strip()
    return NodeSetup(namespace=namespace, parameters=([params_file] if params_file else []) + [overrides],
                     remappings=remaps, view=view, arguments=["--ros-args", "--log-level", level])


def _params_file_value(path: str, name: str, namespace: str) -> Any:
    """``name``'s value for the node ``/<namespace>/lingbot_depth_node`` in a ROS parameter file, or None.

    The node's own section wins over the wildcard sections (``/**``, ``/**/lingbot_depth_node``), as in ROS.
    """
    if not path:
        return None
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"params_file {path} is not readable YAML: {exc}") from None
    full = f"/{namespace}/{NODE_NAME}" if namespace else f"/{NODE_NAME}"
    for key in (full, full.lstrip("/"), f"/**/{NODE_NAME}", "/**"):
        section = data.get(key) if isinstance(data, dict) else None
        params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
        if isinstance(params, dict) and name in params:
            return params[name]
    return None


def single_process_setup(setups: list[NodeSetup]) -> NodeSetup:
    """One depth node serving the cameras of ``setups`` (``cameras:=[<namespace>, ...]``, one estimator).

    The node runs in the root namespace; each camera's topics lie under its namespace as with one node per
    camera (``/front/image`` ... ``/front/depth/image``), and a camera's remaps are rewritten to that
    namespace (``image:=color/image_raw`` of front -> ``front/image:=front/color/image_raw``), so both modes
    read and publish the same topics. Parameters: params_file and the shared launch arguments (per-camera
    sections of params_file do not apply: one parameter set serves every camera).
    """
    if not setups or any(not s.namespace for s in setups):
        raise ConfigError("single_process needs a namespace per camera")
    first = setups[0]
    overrides = dict(first.parameters[-1], cameras=[s.namespace for s in setups])
    remaps = [(f"{s.namespace}/{source}", target if target.startswith("/") else f"{s.namespace}/{target}")
              for s in setups for source, target in s.remappings]
    return NodeSetup(namespace="", parameters=first.parameters[:-1] + [overrides], remappings=remaps,
                     view=first.view, arguments=list(first.arguments))


def rviz_missing(find_share: Callable[[str], str], config: str) -> str | None:
    """The one warning line of ``use_rviz:=true`` on a machine without RViz, or None when rviz2 is installed.

    ``find_share``: ament_index_python's ``get_package_share_directory`` (raises PackageNotFoundError, a
    KeyError, for a package not installed); ``config``: the RViz config the launch would have opened.
    The launch files ask before returning any action: without RViz they start the depth node(s) alone,
    because a Node action for a missing package makes ``ros2 launch`` fail (exit 1) after the actions
    before it have started, leaving those processes running without a parent.
    """
    try:
        find_share(RVIZ_PACKAGE)
    except KeyError:
        return (f"use_rviz:=true but RViz is not installed on this machine (package '{RVIZ_PACKAGE}' not found): "
                f"starting without RViz. Install ros-<distro>-rviz2, or run on a machine with RViz: rviz2 -d "
                f"{config}")
    return None
