"""The depth node: synchronized camera (+ sparse depth) in, dense metric depth, cloud and colorized depth out.

Threading: subscription callbacks only stamp-match messages (cheap); the newest synchronized set is
handed to one worker thread through a single slot, so inference never runs on the callback thread
and a slow estimator drops frames (counted) instead of queueing them.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from lingbot_depth_ros.errors import ConfigError, EstimatorOutOfMemory, InputError, LingbotDepthError
from lingbot_depth_ros.estimators import AUTO, COMPLETION, MONOCULAR, DepthEstimator, auto_fallback, check_mode, \
    create_estimator
from lingbot_depth_ros.pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.ros.camera_info import camera_geometry, camera_info_for_output
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.dds import apply_default_dds_profile, shared_memory_warning
from lingbot_depth_ros.ros.diagnostics import ERROR, OK, WARN, StatusWrapper, Updater
from lingbot_depth_ros.ros.obstacle_outputs import LidarInput, ObstacleOutputs
from lingbot_depth_ros.ros.compressed_codec import depth_m_from_message, rgb_from_message, transport_topic
from lingbot_depth_ros.ros.image_codec import DEPTH_MM_SENTINEL, image_to_numpy, numpy_to_image
from lingbot_depth_ros.ros.parameters import ALL_PARAMS, PARAMS_BY_NAME, ParamSpec, check_consistency, \
    estimator_options
from lingbot_depth_ros.stats import LatencyStats, RateMeter
from lingbot_depth_ros.sync import ApproximateTimeSync, SyncedSet

IMAGE, CAMERA_INFO, SPARSE, LIDAR = "image", "camera_info", "sparse_depth", "lidar_points"
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
OUTPUT_RELIABLE_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Numbers in a warning (sizes, byte counts, K values, NaN/inf): masked to group warnings of one kind.
_NUMBERS = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|\b(?:nan|inf)\b", re.IGNORECASE)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """rcl_interfaces descriptor of a parameter spec (description, range, read-only)."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    # Doubles accept integers (`depth.max_m:=5`, `ros2 param set ... depth.max_m 50`), as ROS users expect:
    # rclpy's static typing would refuse them, so the type is checked by ParamSpec.check instead.
    desc.dynamic_typing = isinstance(spec.default, float)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, float) and (spec.min is not None or spec.max is not None):
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max),
                                                        step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool) and spec.min is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return desc


def doubles_from_integers(params: list[Parameter]) -> list[Parameter]:
    """Integer values of double parameters as doubles (so they are stored and reported as doubles)."""
    out = []
    for param in params:
        spec = PARAMS_BY_NAME.get(param.name)
        if spec is not None and isinstance(spec.default, float) and param.type_ == Parameter.Type.INTEGER:
            param = Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
        out.append(param)
    return out


def invalid_values(msg: Any) -> str:
    """What counts as no measurement in a sparse depth message of this encoding (for error messages)."""
    encoding = getattr(msg, "encoding", None)
    if encoding in ("16UC1", "mono16"):
        return f"{encoding} [mm]: every pixel 0 or 0xFFFF"
    if encoding == "32FC1":
        return "32FC1 [m]: every pixel 0, negative, NaN or inf"
    return f"{getattr(msg, 'format', encoding)}: every pixel invalid"


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class DepthNode(Node):
    """LingBot-Depth / classical completion node (see README for every topic and parameter)."""

    def __init__(self, estimator: DepthEstimator | None = None, **kwargs: Any) -> None:
        """``estimator``: use this instance instead of building the one the parameters name (tests, embedding)."""
        super().__init__("lingbot_depth_node", **kwargs)
        for spec in ALL_PARAMS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        declared = self.get_parameters([spec.name for spec in ALL_PARAMS])
        self.set_parameters([new for old, new in zip(declared, doubles_from_integers(declared)) if new is not old])
        self.add_pre_set_parameters_callback(doubles_from_integers)
        self._values: dict[str, Any] = {p.name: p.value for p in doubles_from_integers(
            self.get_parameters([spec.name for spec in ALL_PARAMS]))}  # read-only ones stay integers in rclpy
        for spec in ALL_PARAMS:
            reason = spec.check(self._values[spec.name])
            if reason:
                raise ConfigError(reason)
        reason = check_consistency(self._values)
        if reason:
            raise ConfigError(reason)

        name = self._values["estimator"]
        self.estimator = estimator or create_estimator(name, **estimator_options(name, self._values))
        check_mode(self.estimator, self._values["mode"])
        self.pipeline = DepthPipeline(self.estimator, self._output_settings())

        self._sparse_stream = LIDAR if self._values["sparse_input"] == "pointcloud" else SPARSE
        self.sync = ApproximateTimeSync([IMAGE, CAMERA_INFO, SPARSE, LIDAR], IMAGE, self._values["queue_size"],
                                        self._values["slop_s"], required=self._required_streams(sparse_alive=False))
        self.drops: Counter[str] = Counter()
        self.frames_published = 0
        self.rates = {stream: RateMeter() for stream in (IMAGE, CAMERA_INFO, SPARSE, LIDAR, "synchronized", "output")}
        self.latency = {stage: LatencyStats() for stage in ("convert", "inference", "postprocess", "publish",
                                                            "obstacles", "total")}
        self.last_warning = ""
        self.oom_events = 0
        self.last_alignment = None
        self._lock = threading.Condition()
        self._slot: tuple[SyncedSet, float] | None = None  # newest set and its monotonic receive time
        self._consecutive_failures = 0
        self._stopping = False
        self._last_sparse_rx = -1.0
        self._sparse_alive = False
        self._last_set_time = time.monotonic()
        self._last_input_time = -1.0
        self._fed_since = -1.0  # when inputs (re)started arriving after a pause of no_sync_warn_s or more
        self._frame_pairs_warned: set[tuple[str, str, str]] = set()
        self._sentinel_warned = False
        self._sync_warned = False
        self._sparse_needed_warned = False  # auto mode without a monocular fallback: said once per absence
        self.intrinsics_matrix = "none yet"  # which CameraInfo matrix the last frame's geometry came from
        self._warned_at: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

        input_qos = qos_profile_sensor_data if self._values["input_qos"] == "sensor_data" else RELIABLE_QOS
        output_qos = OUTPUT_RELIABLE_QOS if self._values["output_qos"] == "reliable" else qos_profile_sensor_data
        # image_transport naming: the transport's topic hangs off the *remapped* base name
        image_transport = self._values["image_transport"]
        self.create_subscription(CompressedImage if image_transport == "compressed" else Image,
                                 transport_topic(self.resolve_topic_name("image"), image_transport),
                                 lambda m: self._on_input(IMAGE, m), input_qos)
        self.create_subscription(CameraInfo, "camera_info", lambda m: self._on_input(CAMERA_INFO, m), input_qos)
        if self._sparse_stream == SPARSE:
            sparse_transport = self._values["sparse_transport"]
            self.create_subscription(CompressedImage if sparse_transport == "compressedDepth" else Image,
                                     transport_topic(self.resolve_topic_name("sparse_depth"), sparse_transport),
                                     lambda m: self._on_sparse(SPARSE, m), input_qos)
            self.lidar = None
        else:
            self.create_subscription(PointCloud2, "lidar_points", lambda m: self._on_sparse(LIDAR, m), input_qos)
            self.lidar = LidarInput(self, self._values)
        self.pub_depth = self.create_publisher(Image, "depth/image", output_qos)
        self.pub_info = self.create_publisher(CameraInfo, "depth/camera_info", output_qos)
        self.pub_colorized = self.create_publisher(Image, "depth/colorized", output_qos)
        self.pub_points = self.create_publisher(PointCloud2, "points", output_qos)
        self.obstacles = ObstacleOutputs(self, self._values, output_qos)

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.diagnostics = Updater(self, self._values["diagnostics.period_s"], hardware_id=self.estimator.describe())
        self.diagnostics.add("pipeline", self._diagnose)
        self.create_timer(0.25, self._watchdog)
        self._worker = threading.Thread(target=self._work, name="depth_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"ready: estimator {self.estimator.describe()}, mode {self._values['mode']}, "
                               f"input QoS {self._values['input_qos']}")
        if self._values["mode"] == AUTO and not auto_fallback(self.estimator):
            self.get_logger().info(f"auto mode: estimator '{self.estimator.name}' cannot run monocular, so depth is "
                                   f"published only while {self._sparse_stream} arrives")

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
            cloud_max_range_m=v["cloud.max_range_m"], align=v["align_to_sparse"], align_method=v["align.method"],
            align_inlier_threshold=v["align.inlier_threshold"])

    def _required_streams(self, sparse_alive: bool) -> tuple[str, ...]:
        mode = self._values["mode"]
        if mode == COMPLETION or (mode == AUTO and (sparse_alive or not auto_fallback(self.estimator))) or \
                (mode == MONOCULAR and self._values["align_to_sparse"] != "off"):
            return (IMAGE, CAMERA_INFO, self._sparse_stream)
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
        if any(proposed[k] != self._values[k] for k in proposed if k.startswith(("obstacles.", "lidar."))):
            try:
                with self._lock:
                    self.obstacles.reconfigure(proposed)
                    if self.lidar is not None:
                        self.lidar.reconfigure(proposed)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        previous = self._values
        with self._lock:
            self._values = proposed
            self.pipeline.settings = self._output_settings()
            if estimator is not None:
                self.estimator = self.pipeline.estimator = estimator
        self.sync.configure(queue_size=proposed["queue_size"], slop_s=proposed["slop_s"])
        if proposed["diagnostics.period_s"] != previous["diagnostics.period_s"]:
            self.diagnostics.set_period(proposed["diagnostics.period_s"])
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
    def _on_sparse(self, stream: str, msg: Any) -> None:
        self._last_sparse_rx = time.monotonic()
        if not self._sparse_alive:
            self._set_sparse_alive(True)
        self._on_input(stream, msg)

    def _set_sparse_alive(self, alive: bool) -> None:
        self._sparse_alive = alive
        if self._values["mode"] == AUTO:
            self.sync.set_required(self._required_streams(alive))
            if alive:
                self._sparse_needed_warned = False
            if alive or auto_fallback(self.estimator):
                self.get_logger().info("sparse depth arriving: auto mode runs completion" if alive else
                                       "sparse depth stopped: auto mode runs monocular until it resumes")
            else:
                self._sparse_needed_warned = True
                self._warn(f"{self._sparse_needed_reason()}; no depth until it resumes")

    def _sparse_needed_reason(self) -> str | None:
        """Why nothing is published: auto mode, an estimator that cannot run monocular, no sparse depth arriving."""
        if self._values["mode"] != AUTO or self._sparse_alive or auto_fallback(self.estimator):
            return None
        stream = self._sparse_stream
        state = f"no {stream} received" if self.rates[stream].count == 0 else f"{stream} stopped"
        return (f"estimator '{self.estimator.name}' needs sparse depth ({state}); for a camera-only robot use "
                f"estimator:=lingbot")

    def _on_input(self, stream: str, msg: Any) -> None:
        now = time.monotonic()
        if self._last_input_time < 0 or now - self._last_input_time >= self._values["no_sync_warn_s"]:
            self._fed_since = now  # after a pause, "waiting" counts from here, not from the set before it
        self._last_input_time = now
        self.rates[stream].tick(now)
        resets = self.sync.stats.resets
        matched = self.sync.add(stream, stamp_ns(msg), msg)
        if self.sync.stats.resets != resets:
            self._warn(f"{stream} stamp jumped backwards (bag loop or clock reset): synchronizer reset")
        if matched is None:
            return
        self._last_set_time = now
        self._sync_warned = False
        self.rates["synchronized"].tick(now)
        with self._lock:
            if self._slot is not None:
                self.drops["stale"] += 1
            self._slot = (matched, now)
            self._lock.notify()

    def _warn(self, message: str) -> None:
        """Log a warning at most every 2 s per kind, and remember it for diagnostics.

        The kind is the text with its numbers masked, so malformed messages whose errors differ
        only in sizes or values log one line per 2 s (with how many were suppressed), not one each.
        """
        self.last_warning = message
        kind = _NUMBERS.sub("#", message)
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e9) > 2.0:
            if len(self._warned_at) > 256:
                self._warned_at.clear()
                self._suppressed.clear()
            self._warned_at[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
            self.get_logger().warning(message + (f" ({suppressed} similar suppressed)" if suppressed else ""))
        else:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1

    def _watchdog(self) -> None:
        now = time.monotonic()
        if self._sparse_alive and now - self._last_sparse_rx > self._values["sparse_timeout_s"]:
            self._set_sparse_alive(False)
        waiting = now - max(self._last_set_time, self._fed_since)
        recently_fed = self._last_input_time > 0 and now - self._last_input_time < self._values["no_sync_warn_s"]
        if waiting > self._values["no_sync_warn_s"] and recently_fed and not self._sync_warned:
            self._sync_warned = True
            self.drops["no_sync"] += 1
            reason = self._sparse_needed_reason()
            if reason is None:
                self._warn(f"no synchronized set for {waiting:.1f} s: {self.sync.explain()}")
            elif not self._sparse_needed_warned:
                self._sparse_needed_warned = True
                self._warn(reason)

    # -- processing --------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while self._slot is None and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                (synced, received), self._slot = self._slot, None
                settings = self.pipeline.settings
            try:
                self._process(synced, received, settings)
            except EstimatorOutOfMemory as exc:
                self._drop("out_of_memory", str(exc))
            except InputError as exc:
                self._drop("bad_input", str(exc))
            except LingbotDepthError as exc:
                self._drop("estimator_error", str(exc))
            except Exception as exc:  # noqa: BLE001 - a frame must never take the node down
                self._drop("internal_error", f"{type(exc).__name__}: {exc}")

    def _drop(self, reason: str, message: str) -> None:
        self.drops[reason] += 1
        if reason in ("estimator_error", "out_of_memory", "internal_error"):
            self._consecutive_failures += 1
        self._warn(f"dropped frame ({reason}): {message}")

    def _estimate(self, rgb, sparse, intrinsics, settings, align_sparse):  # noqa: ANN001, ANN202 - thin wrapper
        """Run the pipeline; on out-of-memory optionally step the resolution level down and retry once."""
        try:
            return self.pipeline.process(rgb, sparse, intrinsics, settings, align_sparse)
        except EstimatorOutOfMemory as exc:
            self.oom_events += 1
            level = getattr(self.estimator, "resolution_level", None)
            if not self._values["oom_retry"] or level is None or level <= 0:
                raise
            lower = max(0, level - self._values["oom_retry_level_step"])
            self.estimator.resolution_level = lower
            self._warn(f"estimator out of memory at resolution level {level} ({exc}); retrying at level {lower}")
            return self.pipeline.process(rgb, sparse, intrinsics, settings, align_sparse)

    def _process(self, synced: SyncedSet, received: float, settings: OutputSettings) -> None:
        t0 = time.monotonic()
        image: Image = synced.messages[IMAGE]
        info: CameraInfo = synced.messages[CAMERA_INFO]
        rgb = rgb_from_message(image)
        height, width = rgb.shape[:2]
        geometry = camera_geometry(info, width, height, self._values["camera.rectified"])
        self.intrinsics_matrix = geometry.matrix
        intrinsics = geometry.intrinsics
        sparse = None
        if LIDAR in synced.messages:
            sparse = self.lidar.sparse_depth(synced.messages[LIDAR], geometry.info, image.header.frame_id, width,
                                             height)
            if sparse is None:
                raise InputError(f"no transform {image.header.frame_id} <- "
                                 f"{synced.messages[LIDAR].header.frame_id} for the LiDAR cloud")
            if not (sparse > 0).any():
                raise InputError(self.lidar.rejection_summary())
        elif SPARSE in synced.messages:
            sparse = depth_m_from_message(synced.messages[SPARSE])
            if sparse.shape != (height, width):
                raise InputError(f"sparse depth is {sparse.shape[1]}x{sparse.shape[0]} but the image is "
                                 f"{width}x{height}")
            self._check_sparse_sentinel(synced.messages[SPARSE])
            if not (sparse > 0).any():  # NaN compares False: no valid measurement at all
                raise InputError(f"sparse depth has no valid measurement ({invalid_values(synced.messages[SPARSE])})")
        self._check_frame_ids(image, info, synced.messages.get(SPARSE))
        t1 = time.monotonic()
        # monocular + align_to_sparse: the sparse depth is only used to fit the scale, not as input
        estimator_sparse = None if self._values["mode"] == MONOCULAR else sparse
        result = self._estimate(rgb, estimator_sparse, intrinsics, settings, sparse)
        if result.alignment is not None:
            self.last_alignment = result.alignment
        elif result.alignment_error:
            self._warn(f"align_to_sparse: no fit this frame ({result.alignment_error}); depth published unaligned")
        t2 = time.monotonic()
        header = image.header
        self.pub_depth.publish(numpy_to_image(result.depth_m, "32FC1", header))  # already NaN where invalid
        self.pub_info.publish(camera_info_for_output(geometry, header))
        if result.colorized is not None:
            self.pub_colorized.publish(numpy_to_image(result.colorized, "rgb8", header))
        if result.cloud is not None:
            self.pub_points.publish(xyz_to_pointcloud2(result.cloud.xyz, header, result.cloud.rgb))
        t3 = time.monotonic()
        if self._values["obstacles.enabled"]:
            self.obstacles.process(result.depth_m, intrinsics, header)
        t4 = time.monotonic()
        self.frames_published += 1
        self._consecutive_failures = 0
        self.rates["output"].tick(t4)
        for stage, seconds in (("convert", t1 - t0), ("inference", result.timings_s["inference"]),
                               ("postprocess", result.timings_s["postprocess"]),
                               ("publish", t3 - t2), ("obstacles", t4 - t3), ("total", t4 - received)):
            self.latency[stage].add(seconds)

    def _warn_once(self, message: str) -> None:
        """Log a warning now (no per-kind rate limit) and remember it for diagnostics; callers log it once."""
        self.last_warning = message
        self.get_logger().warning(message)

    def _check_sparse_sentinel(self, msg: Any) -> None:
        """Warn once when a 16-bit sparse image holds 0xFFFF pixels (read as no measurement, not 65.535 m)."""
        if self._sentinel_warned or not isinstance(msg, Image) or msg.encoding not in ("16UC1", "mono16"):
            return
        count = int(np.count_nonzero(image_to_numpy(msg) == DEPTH_MM_SENTINEL))
        if count:
            self._sentinel_warned = True
            self._warn_once(f"sparse depth: {count} of {msg.width * msg.height} {msg.encoding} pixels are 0xFFFF; "
                            "treated as no measurement (a common driver sentinel), not as 65.535 m "
                            "(warned once)")

    def _check_frame_ids(self, image: Any, info: Any, sparse: Any | None) -> None:
        """Warn once per distinct pair when camera_info / sparse depth are not in the image's frame.

        (A LiDAR cloud is expected in its own frame: it is transformed, so it is not checked.)
        """
        checks = [("camera_info", info.header.frame_id, "the calibration must be the colour camera's")]
        if sparse is not None:
            checks.append(("sparse_depth", sparse.header.frame_id,
                           "the sparse image must be registered to the colour camera"))
        image_frame = image.header.frame_id
        for stream, frame, requirement in checks:
            key = (stream, frame, image_frame)
            if frame and image_frame and frame != image_frame and key not in self._frame_pairs_warned:
                self._frame_pairs_warned.add(key)
                self._warn_once(f"{stream} frame '{frame}' differs from image frame '{image_frame}': {requirement}")

    # -- diagnostics -------------------------------------------------------------------------
    def _diagnose(self, stat: StatusWrapper) -> None:
        now = time.monotonic()
        v = self._values
        mode = v["mode"]
        active = COMPLETION if mode == COMPLETION or (mode == AUTO and self._sparse_alive) else MONOCULAR
        if mode == AUTO and not self._sparse_alive and not auto_fallback(self.estimator):
            active = "waiting for sparse depth"
        stat.add("estimator", self.estimator.describe())
        stat.add("intrinsics", self.intrinsics_matrix)
        stat.add("mode", mode if mode != AUTO else f"auto ({active})")
        for stream in (IMAGE, CAMERA_INFO, self._sparse_stream, "synchronized", "output"):
            stat.add(f"rate {stream} [Hz]", self.rates[stream].rate_hz(now))
        for stage, stats in self.latency.items():
            mean, p95 = stats.summary_ms()
            stat.add(f"latency {stage} mean [ms]", mean)
            stat.add(f"latency {stage} p95 [ms]", p95)
        stat.add("frames published", self.frames_published)
        for reason in ("stale", "no_sync", "bad_input", "estimator_error", "out_of_memory", "internal_error"):
            stat.add(f"frames dropped {reason}", self.drops[reason])
        stat.add("synchronizer resets", self.sync.stats.resets)
        stat.add("out-of-memory events", self.oom_events)
        level = getattr(self.estimator, "resolution_level", None)
        if level is not None:
            stat.add("resolution level", level)
        if v["align_to_sparse"] != "off" and self.last_alignment is not None:
            a = self.last_alignment
            stat.add("alignment scale / shift [m] / inliers", f"{a.scale:.4f} / {a.shift:.3f} / {a.inlier_ratio:.2f}")
        stat.add("last warning", self.last_warning or "none")
        stat.summary(OK, f"{active} at {self.rates['output'].rate_hz(now):.1f} Hz")

        stale_s = v["diagnostics.stale_input_s"]
        needed = [IMAGE, CAMERA_INFO] + ([self._sparse_stream] if mode == COMPLETION else [])
        for stream in needed:
            age = self.rates[stream].age_s(now)
            if age is None:
                stat.summary(WARN, f"no {stream} received")
            elif age > stale_s:
                stat.summary(WARN, f"{stream} stopped {age:.1f} s ago")
        needs_sparse = self._sparse_needed_reason()
        if needs_sparse is not None and self.rates[IMAGE].count > 0:
            stat.summary(WARN, needs_sparse)
        elif mode == AUTO and not self._sparse_alive and self.rates[self._sparse_stream].count > 0:
            stat.summary(WARN, "sparse depth stopped: auto mode fell back to monocular")
        expected = v["diagnostics.expected_rate_hz"]
        rate = self.rates["output"].rate_hz(now)
        if expected > 0 and rate < expected * (1.0 - v["diagnostics.rate_tolerance"]):
            stat.summary(WARN, f"output rate {rate:.1f} Hz below expected {expected:.1f} Hz")
        if self._sync_warned and needs_sparse is None:
            stat.summary(WARN, f"inputs do not synchronize: {self.sync.explain()}")
        if self._consecutive_failures >= 3:
            stat.summary(ERROR, f"estimator failing: the last {self._consecutive_failures} frames failed "
                                f"({self.last_warning})")

    def destroy_node(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``depth_node`` executable."""
    apply_default_dds_profile()
    shm_warning = shared_memory_warning()  # e.g. Docker's 64 MB /dev/shm
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        if shm_warning:
            node.get_logger().warning(shm_warning)
        rclpy.spin(node)
    except (LingbotDepthError, rclpy.exceptions.ParameterException) as exc:
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
