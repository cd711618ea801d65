"""The live-graph checks: the node itself (running, lifecycle state, its subscriptions, outputs, /diagnostics) and
every camera's inputs (:mod:`lingbot_depth_ros.doctor.streams`), from a :class:`GraphObservation` (no rclpy).
"""

from __future__ import annotations

from collections.abc import Callable

from lingbot_depth_ros.deploy.dds import transport_hint
from lingbot_depth_ros.deploy.rviz_config import resolve_topic
from lingbot_depth_ros.doctor.config import CameraInputs, NodeConfig
from lingbot_depth_ros.doctor.observation import GraphObservation
from lingbot_depth_ros.doctor.report import FAIL, OK, WARN, Check
from lingbot_depth_ros.doctor.streams import CameraJudge, camera_checks

GROUP = "graph"
DIAGNOSTIC_LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
LAUNCH = "ros2 launch lingbot_depth_ros lingbot_depth.launch.py"


def output_topic(config: NodeConfig, camera: str) -> str:
    """The fully qualified ``depth/image`` of ``camera`` ('' = the single camera)."""
    return resolve_topic(f"{camera}/depth/image" if camera else "depth/image", config.namespace)


def check_node(config: NodeConfig, observation: GraphObservation) -> Check:
    """The node is on the graph, active (lifecycle), and subscribes to the topics the doctor checks."""
    title = f"node {config.node_fqn}"
    if not observation.node_found:
        return Check("graph.node", GROUP, title, FAIL, f"not running (not on the graph within "
                     f"{observation.listened_s:.1f} s; ROS_DOMAIN_ID, RMW and discovery range must match)",
                     f"start it: {LAUNCH}" + (f" namespace:={config.namespace}" if config.namespace else "")
                     + " (or give --namespace / --node-name of the running one)")
    state = observation.lifecycle_state
    if state is not None and state != "active":
        step = {"unconfigured": "configure", "inactive": "activate"}.get(state, "configure")
        return Check("graph.node", GROUP, title, FAIL, f"running, lifecycle state {state}: it processes nothing",
                     f"ros2 lifecycle set {config.node_fqn} {step} (or autostart:=true)")
    expected = [spec.topic for camera in config.cameras() for spec in camera.inputs.values()]
    subscribed = set(observation.node_subscriptions)
    live = observation.node_parameters
    params = (f"{len(live)} parameters read from it (estimator {config.estimator}, mode {config.values['mode']})"
              if live else f"parameters not read (no answer): judged with {config.source}")
    missing = [t for t in expected if t not in subscribed]
    state_text = f", lifecycle {state}" if state else ""
    if missing and subscribed:
        inputs = sorted(t for t, types in observation.node_subscriptions.items() if t.startswith("/")
                        and any(k in " ".join(types) for k in ("Image", "CameraInfo", "PointCloud2")))
        return Check("graph.node", GROUP, title, WARN, f"running{state_text}, {params}; it does not subscribe to "
                     f"{', '.join(missing)} (its inputs: {', '.join(inputs) or 'none'})",
                     "give the doctor the node's remaps (--image, --camera-info, --sparse-depth, --lidar-points) and "
                     "--params-file")
    return Check("graph.node", GROUP, title, OK, f"running{state_text}, {params}")


def check_output(config: NodeConfig, observation: GraphObservation, camera: CameraInputs) -> Check:
    """The node publishes depth for ``camera``."""
    topic = output_topic(config, camera.camera)
    seen = observation.topic(topic)
    title = f"output {camera.label('depth/image')}"
    cid = "graph.output" + (f".{camera.camera}" if camera.camera else "")
    if not seen.arrivals:
        return Check(cid, GROUP, title, FAIL, f"no {topic} in {observation.listened_s:.1f} s",
                     "see the input checks and the node's diagnostics above / below")
    rate = seen.rate_hz
    return Check(cid, GROUP, title, OK, f"{topic} " + (f"{rate:.1f} Hz" if rate else "1 message")
                 + f" ({seen.received} in {observation.listened_s:.1f} s)")


def check_diagnostics(config: NodeConfig, observation: GraphObservation) -> Check:
    """The node's own statuses on /diagnostics (``<node name>: ...``): ERROR is a FAIL, WARN / STALE a WARN."""
    title = "diagnostics"
    prefix = f"{config.node_name}:"
    statuses = [s for name, s in sorted(observation.diagnostics.items()) if name.startswith(prefix)]
    if not statuses:
        return Check("graph.diagnostics", GROUP, title, WARN, f"no '{prefix} ...' status on /diagnostics in "
                     f"{observation.listened_s:.1f} s", "the node publishes one every diagnostics.period_s; "
                     "a remapped /diagnostics is not read")
    worst = max(s.level for s in statuses)
    text = "; ".join(f"{s.name.removeprefix(prefix).strip()} {DIAGNOSTIC_LEVELS.get(s.level, s.level)}: {s.message}"
                     for s in statuses)
    if worst == 0:
        return Check("graph.diagnostics", GROUP, title, OK, text)
    return Check("graph.diagnostics", GROUP, title, FAIL if worst == 2 else WARN, text,
                 "the node's own finding: ros2 topic echo /diagnostics shows every key (README 'Diagnostics')")


def graph_checks(config: NodeConfig, observation: GraphObservation,
                 dds_hint: Callable[[], str] = transport_hint) -> list[Check]:
    """Every live-graph check: the node, each camera's inputs, the node's outputs and diagnostics."""
    checks = [check_node(config, observation)]
    cameras = config.cameras()
    for camera in cameras:
        checks += camera_checks(config, camera, observation, dds_hint)
    if observation.node_found:
        checks += [check_output(config, observation, camera) for camera in cameras]
        checks.append(check_diagnostics(config, observation))
    return checks


def camera_sizes(config: NodeConfig, observation: GraphObservation) -> dict[str, tuple[int, int]]:
    """camera -> (width, height) [px] of its last image seen (cameras without one left out)."""
    sizes = {}
    for camera in config.cameras():
        size = CameraJudge(config, camera, observation).image_size()
        if size is not None:
            sizes[camera.camera] = size
    return sizes
