"""The depth node's configuration as the doctor judges it: parameter values and the input topics (no rclpy).

Built like the launch file builds the node: the parameter table's defaults, then the node's sections of a
``params_file`` (``/**`` and ``/**/lingbot_depth_node`` first, the node's own section last, as ROS does), then
the launch-style overrides (``estimator``, ``mode``, ``checkpoint`` ...) and the input remaps (``image`` ...),
resolved in the node's namespace. When the node runs, :meth:`NodeConfig.with_live_values` replaces the values
with the ones the node reports (its parameter services): what it really runs with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lingbot_depth_ros.deploy.launch_config import NODE_NAME, REMAP_ARGUMENTS, parameter_overrides
from lingbot_depth_ros.deploy.rviz_config import resolve_topic
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.registry import estimator_class
from lingbot_depth_ros.params.node import PARAMS_BY_NAME
from lingbot_depth_ros.pipeline.modes import needs_sparse

IMAGE, CAMERA_INFO, SPARSE_DEPTH, LIDAR_POINTS = "image", "camera_info", "sparse_depth", "lidar_points"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"
#: transport -> suffix of image_transport's topic (the base name is remapped first)
TRANSPORT_SUFFIX = {"raw": "", "compressed": "/compressed", "compressedDepth": "/compressedDepth"}


@dataclass(frozen=True)
class InputTopic:
    """One input of one camera: ``role`` (image, camera_info, sparse_depth, lidar_points), the fully qualified
    ``topic`` the node subscribes to (transport suffix included), its message ``msg_type``
    (``sensor_msgs/msg/Image`` ...) and whether a synchronized set ``required`` it."""

    role: str
    topic: str
    msg_type: str
    required: bool


@dataclass(frozen=True)
class CameraInputs:
    """The inputs of one camera (``camera`` '' for a single-camera node): role -> :class:`InputTopic`."""

    camera: str
    inputs: dict[str, InputTopic]

    @property
    def sparse(self) -> InputTopic:
        """The sparse input (sparse_depth or lidar_points)."""
        return self.inputs.get(SPARSE_DEPTH) or self.inputs[LIDAR_POINTS]

    def label(self, role: str) -> str:
        """``role`` with its camera, for titles (``front/image``)."""
        return f"{self.camera}/{role}" if self.camera else role


@dataclass
class NodeConfig:
    """What the node runs with: ``values`` (every parameter), ``namespace`` ('' = root), ``node_name``,
    ``remaps`` (role -> target topic, as the launch arguments ``image:=`` ...) and ``source`` (where the values
    came from, for the report)."""

    values: dict[str, Any]
    namespace: str = ""
    node_name: str = NODE_NAME
    remaps: dict[str, str] = field(default_factory=dict)
    source: str = "parameter defaults"

    @property
    def node_fqn(self) -> str:
        """Fully qualified node name, e.g. ``/front/lingbot_depth_node``."""
        return f"/{self.namespace}/{self.node_name}" if self.namespace else f"/{self.node_name}"

    @property
    def estimator(self) -> str:
        return str(self.values["estimator"])

    @property
    def supported_modes(self) -> frozenset[str]:
        return frozenset(estimator_class(self.estimator).supported_modes)

    def sparse_required(self) -> bool:
        """Whether the node needs sparse depth for every frame (completion, or auto without a monocular
        fallback, or monocular fitted to the LiDAR)."""
        return needs_sparse(str(self.values["mode"]), self.supported_modes, False, str(self.values["align_to_sparse"]))

    def cameras(self) -> list[CameraInputs]:
        """Every camera's input topics (one camera with relative names when ``cameras`` is empty)."""
        names = [str(c) for c in self.values.get("cameras") or []] or [""]
        return [self._camera(name) for name in names]

    def _camera(self, camera: str) -> CameraInputs:
        def topic(role: str) -> str:
            target = self.remaps.get(role, role) if not camera else role
            base = target if target.startswith("/") else (f"{camera}/{target}" if camera else target)
            return resolve_topic(base, self.namespace)

        image_transport = str(self.values["image_transport"])
        inputs = {
            IMAGE: InputTopic(IMAGE, topic(IMAGE) + TRANSPORT_SUFFIX[image_transport],
                              COMPRESSED_TYPE if image_transport == "compressed" else IMAGE_TYPE, True),
            CAMERA_INFO: InputTopic(CAMERA_INFO, topic(CAMERA_INFO), CAMERA_INFO_TYPE, True),
        }
        required = self.sparse_required()
        if self.values["sparse_input"] == "pointcloud":
            inputs[LIDAR_POINTS] = InputTopic(LIDAR_POINTS, topic(LIDAR_POINTS), CLOUD_TYPE, required)
        else:
            sparse_transport = str(self.values["sparse_transport"])
            inputs[SPARSE_DEPTH] = InputTopic(
                SPARSE_DEPTH, topic(SPARSE_DEPTH) + TRANSPORT_SUFFIX[sparse_transport],
                COMPRESSED_TYPE if sparse_transport == "compressedDepth" else IMAGE_TYPE, required)
        return CameraInputs(camera, inputs)

    def with_live_values(self, live: Mapping[str, Any]) -> NodeConfig:
        """The same config with the values the running node reported (names it does not know are kept)."""
        values = dict(self.values)
        values.update({k: v for k, v in live.items() if v is not None})
        return dataclasses.replace(self, values=values, source=f"the running node {self.node_fqn}")


def params_file_values(path: Path, namespace: str, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The parameters a ROS ``--params-file`` gives the node ``/<namespace>/<node_name>``: the wildcard sections
    (``/**``, ``/**/<node_name>``) first, the node's own section (with or without the leading slash) last.

    Raises:
        ConfigError: the file is missing, not YAML, or not a mapping of node sections.
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"params file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file {path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"params file {path} is not a mapping of node names to ros__parameters")
    full = f"/{namespace}/{node_name}" if namespace else f"/{node_name}"
    values: dict[str, Any] = {}
    for key in ("/**", f"/**/{node_name}", full.lstrip("/"), full):
        section = data.get(key)
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if isinstance(params, dict):
            values.update(_flatten(params))
    return values


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML (``lingbot: {checkpoint: x}``) -> dotted names (``lingbot.checkpoint``), as ROS reads it."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def node_config(*, params_file: Path | None = None, namespace: str = "", node_name: str = NODE_NAME,
                arguments: Mapping[str, str] | None = None) -> NodeConfig:
    """The node's configuration as the launch file would start it.

    Args:
        params_file: the launch's ``params_file`` (None: the parameter table's defaults).
        namespace: the launch's ``namespace`` ('' = root).
        node_name: the node's name (``lingbot_depth_node`` unless remapped).
        arguments: launch arguments by name: ``estimator``, ``mode``, ``sparse_input``, ``image_transport``,
            ``sparse_transport``, ``checkpoint`` and the remaps ``image``, ``camera_info``, ``sparse_depth``,
            ``lidar_points`` (empty = not given).

    Raises:
        ConfigError: an unreadable params file, a bad value or topic name (one line naming it).
    """
    namespace = namespace.strip("/")
    if namespace:
        try:
            resolve_topic("x", namespace)
        except ValueError as exc:
            raise ConfigError(f"namespace '{namespace}': {exc}") from None
    values = {name: spec.default for name, spec in PARAMS_BY_NAME.items()}
    source = "parameter defaults"
    file_values: dict[str, Any] = {}
    if params_file is not None:
        file_values = params_file_values(params_file, namespace, node_name)
        values.update(file_values)
        source = f"params file {params_file}"
    given = {k: v for k, v in (arguments or {}).items() if v}
    overrides = parameter_overrides(given, file_values.get("estimator"))
    values.update(overrides)
    problems = [p for p in (PARAMS_BY_NAME[n].check(values[n]) for n in values if n in PARAMS_BY_NAME) if p]
    if problems:
        raise ConfigError(problems[0])
    remaps: dict[str, str] = {}
    for role in REMAP_ARGUMENTS:
        target = given.get(role, "").strip()
        if target:
            try:
                resolve_topic(target, namespace)
            except ValueError as exc:
                raise ConfigError(f"{role} topic: {exc}") from None
            remaps[role] = target
    return NodeConfig(values=values, namespace=namespace, node_name=node_name, remaps=remaps, source=source)
