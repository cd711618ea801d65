"""The depth node: synchronized camera (+ sparse depth) in, dense metric depth, cloud and colorized depth out.

Threading: subscription callbacks only stamp-match messages (cheap); the newest synchronized set is
handed to one worker thread through a single slot, so inference never runs on the callback thread
and a slow estimator drops frames (counted) instead of queueing them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from lingbot_depth_ros.errors import ConfigError, InputError, LingbotDepthError
from lingbot_depth_ros.estimators import AUTO, COMPLETION, MONOCULAR, check_mode, create_estimator
from lingbot_depth_ros.pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.ros.camera_info import camera_info_for_output, intrinsics_from_camera_info
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.dds import apply_default_dds_profile
from lingbot_depth_ros.ros.image_codec import depth_m_from_image, depth_m_to_image, numpy_to_image, rgb_from_image
from lingbot_depth_ros.ros.parameters import ALL_PARAMS, PARAMS_BY_NAME, ParamSpec, check_consistency, \
    estimator_options
from lingbot_depth_ros.sync import ApproximateTimeSync, SyncedSet

IMAGE, CAMERA_INFO, SPARSE = "image", "camera_info", "sparse_depth"
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
OUTPUT_RELIABLE_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """rcl_interfaces descriptor of a parameter spec (description, range, read-only)."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, float) and (spec.min is not None or spec.max is not None):
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max),
                                                        step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool) and spec.min is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return desc


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class DepthNode(Node):
    """LingBot-Depth / classical completion node (see README for every topic and parameter)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("lingbot_depth_node", **kwargs)
        for spec in ALL_PARAMS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self._values: dict[str, Any] = {spec.name: self.get_parameter(spec.name).value for spec in ALL_PARAMS}
        for spec in ALL_PARAMS:
            reason = spec.check(self._values[spec.name])
            if reason:
                raise ConfigError(reason)
        reason = check_consistency(self._values)
        if reason:
            raise ConfigError(reason)

        name = self._values["estimator"]
        self.estimator = create_estimator(name, **estimator_options(name, self._values))
        check_mode(self.estimator, self._values["mode"])
        self.pipeline = DepthPipeline(self.estimator, self._output_settings())

        self.sync = ApproximateTimeSync([IMAGE, CAMERA_INFO, SPARSE], IMAGE, self._values["queue_size"],
                                        self._values["slop_s"], required=self._required_streams(sparse_alive=False))
        self.drops: Counter[str] = Counter()
        self.frames_published = 0
        self._lock = threading.Condition()
        self._slot: SyncedSet | None = None
        self._stopping = False
        self._last_sparse_rx = -1.0
        self._sparse_alive = False
        self._last_set_time = time.monotonic()
        self._last_input_time = -1.0
        self._sync_warned = False
        self._warned_at: dict[str, float] = {}

        input_qos = qos_profile_sensor_data if self._values["input_qos"] == "sensor_data" else RELIABLE_QOS
        output_qos = OUTPUT_RELIABLE_QOS if self._values["output_qos"] == "reliable" else qos_profile_sensor_data
        self.create_subscription(Image, "image", lambda m: self._on_input(IMAGE, m), input_qos)
        self.create_subscription(CameraInfo, "camera_info", lambda m: self._on_input(CAMERA_INFO, m), input_qos)
        self.create_subscription(Image, "sparse_depth", self._on_sparse, input_qos)
        self.pub_depth = self.create_publisher(Image, "depth", output_qos)
        self.pub_info = self.create_publisher(CameraInfo, "depth/camera_info", output_qos)
        self.pub_colorized = self.create_publisher(Image, "depth/colorized", output_qos)
        self.pub_points = self.create_publisher(PointCloud2, "points", output_qos)

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(0.25, self._watchdog)
        self._worker = threading.Thread(target=self._work, name="depth_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"ready: estimator {self.estimator.describe()}, mode {self._values['mode']}, "
                               f"input QoS {self._values['input_qos']}")

    # -- parameters --------------------------------------------------------------------------
    def _output_settings(self) -> OutputSettings:
        v = self._values
        return OutputSettings(
            depth_min_m=v["depth.min_m"], depth_max_m=v["depth.max_m"], colorized=v["colorized.enabled"],
            colormap=v["colorized.colormap"], color_range=v["colorized.range"], color_min_m=v["colorized.min_m"],
            color_max_m=v["colorized.max_m"],
            color_percentiles=(v["colorized.percentile_low"], v["colorized.percentile_high"]),
            cloud=v["cloud.enabled"], cloud_organized=v["cloud.organized"], cloud_rgb=v["cloud.rgb"],
            cloud_stride=v["cloud.stride"], cloud_min_range_m=v["cloud.min_range_m"],
            cloud_max_range_m=v["cloud.max_range_m"])

    def _required_streams(self, sparse_alive: bool) -> tuple[str, ...]:
        mode = self._values["mode"]
        if mode == COMPLETION or (mode == AUTO and sparse_alive):
            return (IMAGE, CAMERA_INFO, SPARSE)
        return (IMAGE, CAMERA_INFO)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        proposed = dict(self._values)
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None:
                continue  # not ours (e.g. use_sim_time)
            value = float(param.value) if isinstance(spec.default, float) and isinstance(param.value, int) \
                else param.value
            reason = spec.check(value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            if spec.read_only and value != self._values[param.name]:
                return SetParametersResult(successful=False, reason=f"{param.name} is read-only: restart the node")
            proposed[param.name] = value
        reason = check_consistency(proposed)
        if reason is None and proposed["mode"] != self._values["mode"]:
            try:
                check_mode(self.estimator, proposed["mode"])
            except ConfigError as exc:
                reason = str(exc)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        estimator = self._rebuilt_estimator(proposed)
        if isinstance(estimator, str):
            return SetParametersResult(successful=False, reason=estimator)
        with self._lock:
            self._values = proposed
            self.pipeline.settings = self._output_settings()
            if estimator is not None:
                self.estimator = self.pipeline.estimator = estimator
        self.sync.configure(queue_size=proposed["queue_size"], slop_s=proposed["slop_s"])
        self.sync.set_required(self._required_streams(self._sparse_alive))
        return SetParametersResult(successful=True)

    def _rebuilt_estimator(self, proposed: dict[str, Any]) -> Any:
        """A new estimator if its options changed (None if not; the reason string if they are invalid).

        Weight-free estimators are rebuilt (microseconds); LingBot-Depth only takes a new
        resolution level at run time, its other options are read-only.
        """
        name = proposed["estimator"]
        options = estimator_options(name, proposed)
        if options == estimator_options(name, self._values):
            return None
        if name == "lingbot":
            try:
                self.estimator.resolution_level = options["resolution_level"]
            except (LingbotDepthError, ValueError) as exc:
                return str(exc)
            return None
        try:
            return create_estimator(name, **options)
        except LingbotDepthError as exc:
            return str(exc)

    # -- inputs ------------------------------------------------------------------------------
    def _on_sparse(self, msg: Image) -> None:
        self._last_sparse_rx = time.monotonic()
        if not self._sparse_alive:
            self._set_sparse_alive(True)
        self._on_input(SPARSE, msg)

    def _set_sparse_alive(self, alive: bool) -> None:
        self._sparse_alive = alive
        if self._values["mode"] == AUTO:
            self.sync.set_required(self._required_streams(alive))
            self.get_logger().info("sparse depth arriving: auto mode runs completion" if alive else
                                   "sparse depth stopped: auto mode runs monocular until it resumes")

    def _on_input(self, stream: str, msg: Any) -> None:
        self._last_input_time = time.monotonic()
        matched = self.sync.add(stream, stamp_ns(msg), msg)
        if matched is None:
            return
        self._last_set_time = time.monotonic()
        self._sync_warned = False
        with self._lock:
            if self._slot is not None:
                self.drops["stale"] += 1
            self._slot = matched
            self._lock.notify()

    def _watchdog(self) -> None:
        now = time.monotonic()
        if self._sparse_alive and now - self._last_sparse_rx > self._values["sparse_timeout_s"]:
            self._set_sparse_alive(False)
        waiting = now - self._last_set_time
        recently_fed = self._last_input_time > 0 and now - self._last_input_time < self._values["no_sync_warn_s"]
        if waiting > self._values["no_sync_warn_s"] and recently_fed and not self._sync_warned:
            self._sync_warned = True
            self.drops["no_sync"] += 1
            self.get_logger().warning(f"no synchronized set for {waiting:.1f} s: {self.sync.explain()}")

    # -- processing --------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while self._slot is None and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                synced, self._slot = self._slot, None
                settings = self.pipeline.settings
            try:
                self._process(synced, settings)
            except (InputError, LingbotDepthError) as exc:
                self._drop("bad_input" if isinstance(exc, InputError) else "estimator_error", str(exc))
            except Exception as exc:  # noqa: BLE001 - a frame must never take the node down
                self._drop("internal_error", f"{type(exc).__name__}: {exc}")

    def _drop(self, reason: str, message: str) -> None:
        self.drops[reason] += 1
        now = time.monotonic()
        if now - self._warned_at.get(message, -1e9) > 2.0:
            self._warned_at[message] = now
            if len(self._warned_at) > 256:
                self._warned_at.clear()
            self.get_logger().warning(f"dropped frame ({reason}): {message}")

    def _process(self, synced: SyncedSet, settings: OutputSettings) -> None:
        image: Image = synced.messages[IMAGE]
        info: CameraInfo = synced.messages[CAMERA_INFO]
        rgb = rgb_from_image(image)
        height, width = rgb.shape[:2]
        intrinsics = intrinsics_from_camera_info(info, width, height)
        sparse = None
        if SPARSE in synced.messages:
            sparse = depth_m_from_image(synced.messages[SPARSE])
            if sparse.shape != (height, width):
                raise InputError(f"sparse depth is {sparse.shape[1]}x{sparse.shape[0]} but the image is "
                                 f"{width}x{height}")
            if not (sparse > 0).any():  # NaN compares False: no valid measurement at all
                raise InputError("sparse depth has no valid measurement (all zero/NaN)")
        result = self.pipeline.process(rgb, sparse, intrinsics, settings)
        header = image.header
        self.pub_depth.publish(depth_m_to_image(result.depth_m, header))
        self.pub_info.publish(camera_info_for_output(info, header, intrinsics))
        if result.colorized is not None:
            self.pub_colorized.publish(numpy_to_image(result.colorized, "rgb8", header))
        if result.cloud is not None:
            self.pub_points.publish(xyz_to_pointcloud2(result.cloud.xyz, header, result.cloud.rgb))
        self.frames_published += 1

    def destroy_node(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``depth_node`` executable."""
    apply_default_dds_profile()
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except LingbotDepthError as exc:
        # Startup refused: one clear line (bad parameter, missing/mismatched checkpoint, impossible mode).
        print(f"[lingbot_depth_node] FATAL: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        pass
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
