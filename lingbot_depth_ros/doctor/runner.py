"""Run the doctor's check groups in order (no rclpy: the live-graph probe is handed in by the caller)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lingbot_depth_ros.doctor.config import NodeConfig
from lingbot_depth_ros.doctor.gpu import gpu_checks
from lingbot_depth_ros.doctor.graph import camera_sizes, graph_checks
from lingbot_depth_ros.doctor.install import install_checks
from lingbot_depth_ros.doctor.model import model_checks
from lingbot_depth_ros.doctor.observation import GraphObservation
from lingbot_depth_ros.doctor.report import FAIL, GROUPS, Check
from lingbot_depth_ros.errors import LingbotDepthError

#: (the node's configuration, time box [s]) -> (the configuration with the running node's values, what was seen)
Probe = Callable[[NodeConfig, float], tuple[NodeConfig, GraphObservation]]


def run_doctor(config: NodeConfig, groups: Sequence[str] = GROUPS, *, probe: Probe | None = None,
               probe_error: str = "", timeout_s: float = 5.0) -> list[Check]:
    """The checks of ``groups`` (:data:`~lingbot_depth_ros.doctor.report.GROUPS`) in report order.

    Install runs first (it reads this shell's DDS variables before the probe sets the node's profile for itself);
    the live graph next, with ``probe`` (None: the graph cannot be observed, ``probe_error`` says why), so that
    the GPU and model checks judge the running node's parameters and the engine the camera's image size.
    """
    checks: dict[str, list[Check]] = {group: [] for group in GROUPS}
    if "install" in groups:
        checks["install"] = install_checks(config, graph_requested="graph" in groups)
    sizes = None
    if "graph" in groups:
        if probe is None:
            checks["graph"] = [Check("graph.probe", "graph", "live graph", FAIL, f"not observed: {probe_error}",
                                     "source /opt/ros/<distro>/setup.bash")]
        else:
            try:
                config, observation = probe(config, timeout_s)
            except LingbotDepthError as exc:
                checks["graph"] = [Check("graph.probe", "graph", "live graph", FAIL, f"not observed: {exc}",
                                         "check ROS_DOMAIN_ID and the RMW settings of this shell")]
            else:
                checks["graph"] = graph_checks(config, observation)
                sizes = camera_sizes(config, observation)
    if "gpu" in groups:
        checks["gpu"] = gpu_checks(config)
    if "model" in groups:
        checks["model"] = model_checks(config, sizes)
    return [check for group in GROUPS for check in checks[group]]
