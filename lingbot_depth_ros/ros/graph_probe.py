"""The doctor's eyes on the live graph (``lingbot-depth doctor --ros``): observe a running depth node from outside.

In its own rclpy context, for at most ``timeout_s`` seconds, it looks for the node (and asks its parameter and
lifecycle services), subscribes to the node's input topics (best effort, volatile: compatible with every
publisher), its ``depth/image`` outputs and ``/diagnostics``, records what arrives (receive time, stamps,
layouts, the last messages), reads the publishers' and the node's QoS from the graph, and, for LiDAR clouds with
tf2_ros installed, looks up TF from the LiDAR to the camera frame. The judging is ROS-free
(:mod:`lingbot_depth_ros.doctor.graph`). A silent graph costs exactly the time box: nothing here waits without a
deadline.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.doctor.config import LIDAR_POINTS, NodeConfig
from lingbot_depth_ros.doctor.graph import output_topic
from lingbot_depth_ros.doctor.observation import DiagnosticStatus, Endpoint, GraphObservation, TopicObservation
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.ros.diagnostics import level_int

#: message type name -> class the doctor can subscribe with
MESSAGE_TYPES: dict[str, Any] = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
                                 "sensor_msgs/msg/CameraInfo": CameraInfo, "sensor_msgs/msg/PointCloud2": PointCloud2}
LISTEN_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE,
                        history=HistoryPolicy.KEEP_LAST)
GRAPH_PERIOD_S = 0.25  # how often the graph is re-read
SPIN_S = 0.02
ENOUGH_MESSAGES = 20  # per input stream: the probe may end early once every stream has this many
ENOUGH_OUTPUTS = 5
MIN_LISTEN_S = 1.5
PARAM_GROUP = 20  # parameter names per GetParameters call
PARAM_CALLS = 4  # GetParameters calls in flight at once


def _policy(value: Any) -> str:
    """A QoS policy enum as 'reliable', 'best_effort', 'volatile', 'transient_local' ..."""
    return str(getattr(value, "name", value)).lower()


def _endpoint(info: Any) -> Endpoint:
    namespace = info.node_namespace.rstrip("/")
    return Endpoint(node=f"{namespace}/{info.node_name}", msg_type=info.topic_type,
                    reliability=_policy(info.qos_profile.reliability), durability=_policy(info.qos_profile.durability))


class GraphProbe:
    """One observation of the graph by ``node`` for the depth node of ``config`` (see the module docstring)."""

    def __init__(self, node: Node, config: NodeConfig) -> None:
        self.node = node
        self.base_config = config
        self.config = config
        self.observation = GraphObservation()
        self._subscriptions: dict[str, Any] = {}
        self._subscribed_at: dict[str, float] = {}
        self._names_future: Any = None  # ListParameters: the names the node declared
        # GetParameters calls: name groups still to ask, (group, future) in flight, the values answered
        self._param_groups: list[list[str]] | None = None
        self._param_calls: list[tuple[list[str], Any]] = []
        self._param_values: dict[str, Any] = {}
        self._state_future: Any = None
        self._params_client: Any = None
        self._names_client: Any = None
        self._state_client: Any = None
        self._state_request: Any = None
        self._started = time.monotonic()
        self._last_graph = -1.0
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, LISTEN_QOS)
        self._tf_buffer: Any = None
        self._tf_listener: Any = None
        if any(camera.sparse.role == LIDAR_POINTS for camera in config.cameras()):
            try:
                import tf2_ros
            except ImportError:
                pass
            else:
                self._tf_buffer = tf2_ros.Buffer()
                self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, node, spin_thread=False)

    # -- callbacks ---------------------------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.observation.diagnostics[status.name] = DiagnosticStatus(
                status.name, level_int(status.level), status.message, {kv.key: kv.value for kv in status.values})

    def _recorder(self, topic: str) -> Any:
        seen = self.observation.topics[topic]
        return lambda msg: seen.add(msg, self._now_ns())

    # -- graph -------------------------------------------------------------------------------------------------
    def _topics_of_interest(self) -> dict[str, str]:
        """topic -> the message type the node uses on it (inputs) or publishes (outputs)."""
        wanted = {spec.topic: spec.msg_type for camera in self.config.cameras() for spec in camera.inputs.values()}
        if self.observation.node_found:
            for camera in self.config.cameras():
                wanted[output_topic(self.config, camera.camera)] = "sensor_msgs/msg/Image"
        return wanted

    def refresh(self) -> None:
        """Re-read the graph: the node, its services, the topics; subscribe to topics that got publishers."""
        self._last_graph = time.monotonic()
        node = self.node
        self.observation.graph_topics = {name: list(types) for name, types in node.get_topic_names_and_types()}
        namespace = "/" + self.config.namespace if self.config.namespace else "/"
        found = (self.config.node_name, namespace) in node.get_node_names_and_namespaces()
        self.observation.node_found = self.observation.node_found or found
        if found:
            self._ask_node(namespace)
        self._collect_answers()
        for topic, msg_type in self._topics_of_interest().items():
            seen = self.observation.topics.setdefault(topic, TopicObservation(topic))
            if topic in self._subscriptions:
                continue
            types = self.observation.graph_topics.get(topic, [])
            if msg_type in types and msg_type in MESSAGE_TYPES:
                seen.subscribed_type = msg_type
                self._subscriptions[topic] = node.create_subscription(MESSAGE_TYPES[msg_type], topic,
                                                                      self._recorder(topic), LISTEN_QOS)
                self._subscribed_at[topic] = time.monotonic()

    def _ask_node(self, namespace: str) -> None:
        """Ask the node's parameter service (and lifecycle state, for a managed node) once they are ready."""
        fqn = self.config.node_fqn
        if self._params_client is None:
            self._names_client = self.node.create_client(ListParameters, f"{fqn}/list_parameters")
            self._params_client = self.node.create_client(GetParameters, f"{fqn}/get_parameters")
        if self._names_future is None and self._names_client.service_is_ready():
            self._names_future = self._names_client.call_async(ListParameters.Request())  # depth 0: every name
        if self._param_groups is None and self._names_future is not None and self._names_future.done():
            listed = self._names_future.result()
            names = sorted(set(listed.result.names) & set(self.base_config.values)) if listed else []
            self._param_groups = [names[i:i + PARAM_GROUP] for i in range(0, len(names), PARAM_GROUP)]
        if self._state_client is None:
            services = dict(self.node.get_service_names_and_types_by_node(self.config.node_name, namespace))
            if f"{fqn}/get_state" in services:
                # imported by name: lifecycle_msgs ships no type information (its import stays Any for mypy)
                get_state = importlib.import_module("lifecycle_msgs.srv").GetState
                self._state_client = self.node.create_client(get_state, f"{fqn}/get_state")
                self._state_request = get_state.Request()
        if self._state_client is not None and self._state_future is None and self._state_client.service_is_ready():
            self._state_future = self._state_client.call_async(self._state_request)

    def _pump_parameters(self) -> None:
        """Take the GetParameters answers that came and ask the next groups, PARAM_CALLS at a time (the service's
        request queue keeps 10). A group answered with nothing holds a name the node declared without a value
        (``cameras`` when empty: GetParameters then answers nothing at all): its names are asked one by one."""
        if self._param_groups is None:
            return
        pending = []
        for names, future in self._param_calls:
            if not future.done():
                pending.append((names, future))
                continue
            response = future.result()
            if response is not None and len(response.values) == len(names):
                self._param_values.update(zip(names, (parameter_value_to_python(v) for v in response.values)))
            elif len(names) > 1:
                self._param_groups += [[name] for name in names]
        self._param_calls = pending
        while self._param_groups and len(self._param_calls) < PARAM_CALLS and self._params_client.service_is_ready():
            names = self._param_groups.pop(0)
            self._param_calls.append((names, self._params_client.call_async(GetParameters.Request(names=names))))

    def _collect_answers(self, final: bool = False) -> None:
        """Take the node's answers: its parameters once every call answered (``final``: those that came)."""
        self._pump_parameters()
        asked = self._param_groups is not None
        complete = asked and not self._param_groups and not self._param_calls
        if self.observation.node_parameters is None and (complete or (final and self._param_values)):
            self.observation.node_parameters = {k: v for k, v in self._param_values.items() if v is not None}
            self.config = self.base_config.with_live_values(self.observation.node_parameters)
        if self._state_future is not None and self._state_future.done() and self.observation.lifecycle_state is None:
            response = self._state_future.result()
            if response is not None:
                self.observation.lifecycle_state = str(response.current_state.label)

    # -- the run -----------------------------------------------------------------------------------------------
    def enough(self) -> bool:
        """Whether every stream has given enough to judge (the probe may end before its time box)."""
        if time.monotonic() - self._started < MIN_LISTEN_S or not self.observation.node_found:
            return False
        if self.observation.node_parameters is None:
            return False
        inputs = [spec for camera in self.config.cameras() for spec in camera.inputs.values()]
        for spec in inputs:
            seen = self.observation.topics.get(spec.topic)
            if spec.required and (seen is None or len(seen.arrivals) < ENOUGH_MESSAGES):
                return False
        outputs = [output_topic(self.config, camera.camera) for camera in self.config.cameras()]
        if any(len(self.observation.topic(t).arrivals) < ENOUGH_OUTPUTS for t in outputs):
            return False
        return any(name.startswith(f"{self.config.node_name}:") for name in self.observation.diagnostics)

    def run(self, executor: SingleThreadedExecutor, timeout_s: float) -> None:
        deadline = self._started + timeout_s
        while time.monotonic() < deadline:
            if time.monotonic() - self._last_graph >= GRAPH_PERIOD_S:
                self.refresh()
                if self.enough():
                    break
            executor.spin_once(timeout_sec=min(SPIN_S, max(deadline - time.monotonic(), 0.0)))
            self._collect_answers()
        self._collect_answers(final=True)
        self.finish()

    def finish(self) -> None:
        """Endpoints and QoS of every topic looked at, the node's subscriptions, TF, how long each was listened to."""
        end = time.monotonic()
        observation = self.observation
        observation.listened_s = end - self._started
        namespace = "/" + self.config.namespace if self.config.namespace else "/"
        if observation.node_found:
            try:
                observation.node_subscriptions = {
                    name: list(types) for name, types in
                    self.node.get_subscriber_names_and_types_by_node(self.config.node_name, namespace)}
            except Exception:  # noqa: BLE001 - the node left the graph meanwhile (rclpy raises NodeNameNonExistentError)
                observation.node_subscriptions = {}
        for topic in self._topics_of_interest():
            seen = observation.topics.setdefault(topic, TopicObservation(topic))
            seen.types = list(observation.graph_topics.get(topic, []))
            seen.publishers = [_endpoint(i) for i in self.node.get_publishers_info_by_topic(topic)]
            seen.node_subscriptions = [_endpoint(i) for i in self.node.get_subscriptions_info_by_topic(topic)
                                       if _endpoint(i).node == self.config.node_fqn]
            seen.listened_s = end - self._subscribed_at.get(topic, self._started)
        self._look_up_tf()

    def _look_up_tf(self) -> None:
        if self._tf_buffer is None:
            return
        self.observation.tf = {}
        for camera in self.config.cameras():
            if camera.sparse.role != LIDAR_POINTS:
                continue
            image = self.observation.topic(camera.inputs["image"].topic)
            cloud = self.observation.topic(camera.sparse.topic)
            if not image.arrivals or not cloud.arrivals:
                continue
            target, source = image.arrivals[-1].frame_id, cloud.arrivals[-1].frame_id
            try:
                self._tf_buffer.lookup_transform(target, source, Time())
                self.observation.tf[(target, source)] = ""
            except Exception as exc:  # noqa: BLE001 - tf2 raises its own lookup exception types
                self.observation.tf[(target, source)] = f"{type(exc).__name__}: {exc}"


def probe_graph(config: NodeConfig, timeout_s: float) -> tuple[NodeConfig, GraphObservation]:
    """Observe the graph for at most ``timeout_s`` [s] (plus rclpy's start and shutdown); the configuration with
    the running node's parameter values (when it answered) and what was seen.

    Raises:
        LingbotDepthError: rclpy cannot start (bad ROS_DOMAIN_ID, no RMW).
    """
    apply_default_dds_profile()  # as the node does: the doctor must see what the node sees
    context = rclpy.Context()
    try:
        rclpy.init(args=[], context=context)
    except Exception as exc:  # noqa: BLE001 - rclpy raises RCLError and others for a bad environment
        raise LingbotDepthError(f"rclpy cannot start: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    node = Node(f"lingbot_depth_doctor_{os.getpid()}", context=context, start_parameter_services=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        probe = GraphProbe(node, config)
        probe.run(executor, timeout_s)
        return probe.config, probe.observation
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
