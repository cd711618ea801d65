"""One camera of the depth node: its subscriptions, synchronizer, conversions, outputs and diagnostics.

The node owns the parameters, the one estimator and the worker thread; it serves one channel per
camera (``cameras: [front, left]`` -> channels in ``front/`` and ``left/``; no cameras -> one channel
with today's relative topic names). A channel never sees another camera's messages: its topics,
synchronizer, single-slot hand-off, counters and warnings are its own. It sees the node only through a
:class:`~lingbot_depth_ros.ros.channel_link.TopicScope` and a :class:`~lingbot_depth_ros.ros.channel_link.NodeLink`
(settings, estimator traits, hand-off, estimator diagnostics); the mode rules are
:mod:`lingbot_depth_ros.pipeline.modes`.

Hooks for new per-camera outputs: create publishers in :meth:`CameraChannel.__init__` through
``self.ros`` (names are put under the camera's namespace), publish in :meth:`CameraChannel.publish`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from lingbot_depth_ros.confidence.gating import ObstacleGates
from lingbot_depth_ros.deploy.dds import transport_hint
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.estimators import AUTO, COMPLETION
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.scale_alignment import AlignmentResult
from lingbot_depth_ros.pipeline.depth_pipeline import FrameResult
from lingbot_depth_ros.pipeline.frame_report import DROP_REASONS, alignment_diagnostic, drop_reason, focal_check_text
from lingbot_depth_ros.pipeline.lidar_guard import (
    GuardInput,
    GuardMonitor,
    GuardSettings,
    LidarAgreement,
    LidarDisagreement,
    not_guarded_reason,
    split_for_guard,
)
from lingbot_depth_ros.pipeline.modes import can_fall_back, estimator_gets_sparse, frame_mode, needs_sparse
from lingbot_depth_ros.pipeline.temporal_stage import (
    STANDING,
    TemporalConfig,
    TemporalStage,
    TemporalStep,
    filter_device,
)
from lingbot_depth_ros.ros.camera_info import CameraGeometry, camera_geometry, camera_info_for_output
from lingbot_depth_ros.ros.channel_link import NodeLink, TopicScope
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.compressed_codec import depth_m_from_message, rgb_from_message, transport_topic
from lingbot_depth_ros.ros.diagnostics import ERROR, OK, WARN, StatusWrapper
from lingbot_depth_ros.ros.image_codec import DEPTH_MM_SENTINEL, image_to_numpy, numpy_to_image
from lingbot_depth_ros.ros.obstacle_outputs import LidarInput, ObstacleOutputs
from lingbot_depth_ros.ros.surface_outputs import SurfaceOutputs
from lingbot_depth_ros.streams.input_timing import InputTiming
from lingbot_depth_ros.streams.stats import LatencyStats, RateMeter
from lingbot_depth_ros.streams.sync import ApproximateTimeSync, SyncedSet
from lingbot_depth_ros.streams.warning_limiter import WarningLimiter

IMAGE, CAMERA_INFO, SPARSE, LIDAR = "image", "camera_info", "sparse_depth", "lidar_points"
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
OUTPUT_RELIABLE_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


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


@dataclass
class PreparedFrame:
    """A synchronized set converted to numpy, ready for the estimator (one per camera in a batch).

    ``rgb``: (H, W, 3) uint8. ``sparse_m``: (H, W) float32 [m] or None; ``estimator_sparse_m`` is what the
    estimator gets (None in monocular mode, where ``sparse_m`` only feeds align_to_sparse).
    ``received``/``converted``: monotonic times [s] of the set's arrival and of the end of conversion.
    """

    channel: CameraChannel
    header: Any
    geometry: CameraGeometry
    intrinsics: CameraIntrinsics
    rgb: np.ndarray
    sparse_m: np.ndarray | None
    estimator_sparse_m: np.ndarray | None
    received: float
    converted: float
    convert_s: float
    guard: GuardInput | None = None  # the LiDAR samples the LiDAR agreement guard compares the output with
    temporal: TemporalStep | None = None  # the camera's temporal filter, pose and time (temporal.enabled only)


class CameraChannel:
    """Inputs, synchronization, outputs and per-camera diagnostics of one camera (see module docstring).

    ``ros``: the node's topics, logger and clock under this camera's prefix; ``link``: the rest of the node
    the channel uses. ``camera``: its name ("" for the single camera of a node without ``cameras``).
    """

    def __init__(self, ros: TopicScope, link: NodeLink, camera: str = "") -> None:
        self.ros = ros
        self.link = link
        self.camera = camera
        values = link.settings()
        self.sparse_stream = LIDAR if values["sparse_input"] == "pointcloud" else SPARSE
        self.sync = ApproximateTimeSync([IMAGE, CAMERA_INFO, SPARSE, LIDAR], IMAGE, values["queue_size"],
                                        values["slop_s"], required=self.required_streams(sparse_alive=False))
        self.drops: Counter[str] = Counter()
        self.frames_published = 0
        self.rates = {stream: RateMeter() for stream in (IMAGE, CAMERA_INFO, SPARSE, LIDAR, "synchronized", "output")}
        self.latency = {stage: LatencyStats() for stage in ("convert", "inference", "postprocess", "publish",
                                                            "obstacles", "total")}
        self.last_warning = ""
        self.last_alignment: AlignmentResult | None = None
        self.last_focal_px: tuple[float, float] | None = None  # (estimator's estimate, CameraInfo fx) [px]
        self.guard_monitor = GuardMonitor()  # the LiDAR agreement guard's record of this camera
        # this camera's LiDAR sweeps and temporal filter (temporal.*); the filter on the estimator's GPU if it has one
        self.temporal = TemporalStage(filter_device(link.estimator()))
        self.slot: tuple[SyncedSet, float] | None = None  # newest set and its monotonic receive time
        self.finishing = False  # a frame of this camera is being post-processed / published (finisher thread)
        self.consecutive_failures = 0
        self.consecutive_drops = 0  # synchronized sets lost in a row since the last published frame (not 'stale')
        self._last_sparse_rx = -1.0
        self.sparse_alive = False
        self._last_set_time = time.monotonic()
        self._last_input_time = -1.0
        self._fed_since = -1.0  # when inputs (re)started arriving after a pause of no_sync_warn_s or more
        self._frame_pairs_warned: set[tuple[str, str, str]] = set()
        self._sentinel_warned = False
        self.sync_warned = False
        self._sparse_needed_warned = False  # auto mode without a monocular fallback: said once per absence
        self.intrinsics_matrix = "none yet"  # which CameraInfo matrix the last frame's geometry came from
        self._warnings = WarningLimiter(interval_s=2.0)
        self.timing = InputTiming(transport_hint())  # arrival gaps, late inputs, stale drops from bursts

        input_qos = qos_profile_sensor_data if values["input_qos"] == "sensor_data" else RELIABLE_QOS
        output_qos = OUTPUT_RELIABLE_QOS if values["output_qos"] == "reliable" else qos_profile_sensor_data
        # image_transport naming: the transport's topic hangs off the *remapped* base name
        image_transport = values["image_transport"]
        ros.create_subscription(CompressedImage if image_transport == "compressed" else Image,
                                transport_topic(ros.resolve_topic_name("image"), image_transport),
                                lambda m: self.on_input(IMAGE, m), input_qos)
        ros.create_subscription(CameraInfo, "camera_info", lambda m: self.on_input(CAMERA_INFO, m), input_qos)
        if self.sparse_stream == SPARSE:
            sparse_transport = values["sparse_transport"]
            ros.create_subscription(CompressedImage if sparse_transport == "compressedDepth" else Image,
                                    transport_topic(ros.resolve_topic_name("sparse_depth"), sparse_transport),
                                    lambda m: self.on_sparse(SPARSE, m), input_qos)
            self.lidar = None
        else:
            ros.create_subscription(PointCloud2, "lidar_points", lambda m: self.on_sparse(LIDAR, m), input_qos)
            self.lidar = LidarInput(ros, values)
        self.pub_depth = ros.create_publisher(Image, "depth/image", output_qos)
        self.pub_info = ros.create_publisher(CameraInfo, "depth/camera_info", output_qos)
        self.pub_colorized = ros.create_publisher(Image, "depth/colorized", output_qos)
        self.pub_confidence = ros.create_publisher(Image, "depth/confidence", output_qos)
        self.pub_points = ros.create_publisher(PointCloud2, "points", output_qos)
        self.obstacles = ObstacleOutputs(ros, values, output_qos)
        self.surfaces = SurfaceOutputs(ros, values, output_qos, self.obstacles.transforms)  # own thread

    # -- configuration -----------------------------------------------------------------------
    def required_streams(self, sparse_alive: bool) -> tuple[str, ...]:
        """The streams a synchronized set needs (:func:`~lingbot_depth_ros.pipeline.modes.needs_sparse`)."""
        values = self.link.settings()
        if needs_sparse(values["mode"], self.link.estimator().supported_modes, sparse_alive,
                        values["align_to_sparse"]):
            return (IMAGE, CAMERA_INFO, self.sparse_stream)
        return (IMAGE, CAMERA_INFO)

    def reconfigure_outputs(self, proposed: dict[str, Any]) -> None:
        """New obstacles.* / lidar.* / surfaces.* values (raises ConfigError, then nothing changed for this camera)."""
        self.surfaces.reconfigure(proposed)
        self.obstacles.reconfigure(proposed)
        if self.lidar is not None:
            self.lidar.reconfigure(proposed)

    def apply(self, values: dict[str, Any]) -> None:
        """New synchronizer settings after a parameter change."""
        self.sync.configure(queue_size=values["queue_size"], slop_s=values["slop_s"])
        self.sync.set_required(self.required_streams(self.sparse_alive))

    # -- inputs ------------------------------------------------------------------------------
    def on_sparse(self, stream: str, msg: Any) -> None:
        self._last_sparse_rx = time.monotonic()
        self.timing.sparse_arrived(self._last_sparse_rx)
        if not self.sparse_alive:
            self.set_sparse_alive(True)
        self.on_input(stream, msg)

    def set_sparse_alive(self, alive: bool) -> None:
        self.sparse_alive = alive
        if self.link.settings()["mode"] == AUTO:
            self.sync.set_required(self.required_streams(alive))
            if alive:
                self._sparse_needed_warned = False
            if alive or can_fall_back(self.link.estimator().supported_modes):
                self.ros.get_logger().info("sparse depth arriving: auto mode runs completion" if alive else
                                           "sparse depth stopped: auto mode runs monocular until it resumes")
            else:
                self._sparse_needed_warned = True
                self.warn(f"{self.sparse_needed_reason()}; no depth until it resumes")

    def sparse_needed_reason(self) -> str | None:
        """Why nothing is published: auto mode, an estimator that cannot run monocular, no sparse depth arriving."""
        estimator = self.link.estimator()
        if frame_mode(self.link.settings()["mode"], estimator.supported_modes, self.sparse_alive) is not None:
            return None
        stream = self.sparse_stream
        state = f"no {stream} received" if self.rates[stream].count == 0 else f"{stream} stopped"
        return (f"estimator '{estimator.name}' needs sparse depth ({state}); for a camera-only robot use "
                f"estimator:=lingbot")

    def on_input(self, stream: str, msg: Any) -> None:
        now = time.monotonic()
        if self._last_input_time < 0 or now - self._last_input_time >= self.link.settings()["no_sync_warn_s"]:
            self._fed_since = now  # after a pause, "waiting" counts from here, not from the set before it
        self._last_input_time = now
        self.rates[stream].tick(now)
        self.timing.observe(stream, self.ros.get_clock().now().nanoseconds, stamp_ns(msg))
        if stream == IMAGE:
            self.timing.image_stamp(stamp_ns(msg))
        resets = self.sync.stats.resets
        matched = self.sync.add(stream, stamp_ns(msg), msg)
        if self.sync.stats.resets != resets:
            self.warn(f"{stream} stamp jumped backwards (bag loop or clock reset): synchronizer reset")
        if matched is None:
            return
        self._last_set_time = now
        self.sync_warned = False
        self.rates["synchronized"].tick(now)
        with self.link.hand_off:
            if self.slot is not None:
                self.drops["stale"] += 1
            self.slot = (matched, now)
            self.link.hand_off.notify()

    def warn(self, message: str) -> None:
        """Log a warning at most every 2 s per kind, and remember it for diagnostics.

        The kind is the text with its numbers masked, so malformed messages whose errors differ
        only in sizes or values log one line per 2 s (with how many were suppressed), not one each.
        """
        self.last_warning = message
        line = self._warnings.line(message, time.monotonic())
        if line is not None:
            self.ros.get_logger().warning(line)

    def warn_once(self, message: str) -> None:
        """Log a warning now (no per-kind rate limit) and remember it for diagnostics; callers log it once."""
        self.last_warning = message
        self.ros.get_logger().warning(message)

    def watchdog(self) -> None:
        now = time.monotonic()
        values = self.link.settings()
        timeout_s = self.timing.sparse_timeout_s(values["sparse_timeout_s"])  # longer after long arrival gaps
        if self.sparse_alive and now - self._last_sparse_rx > timeout_s:
            self.set_sparse_alive(False)
        self.timing.update_stale(now, self.rates[IMAGE].count, self.drops["stale"] + self.sync.stats.dropped_stale)
        for message in self.timing.check(now, self.input_streams(), values["diagnostics.input_delay_warn_s"],
                                         self.processing_p95_s()):
            self.warn(message)
        waiting = now - max(self._last_set_time, self._fed_since)
        recently_fed = self._last_input_time > 0 and now - self._last_input_time < values["no_sync_warn_s"]
        if waiting > values["no_sync_warn_s"] and recently_fed and not self.sync_warned:
            self.sync_warned = True
            self.drops["no_sync"] += 1
            reason = self.sparse_needed_reason()
            if reason is None:
                self.warn(f"no synchronized set for {waiting:.1f} s: {self.sync.explain()}")
            elif not self._sparse_needed_warned:
                self._sparse_needed_warned = True
                self.warn(reason)

    def input_streams(self) -> tuple[str, ...]:
        """The streams this camera subscribes to (for the arrival checks)."""
        return (IMAGE, CAMERA_INFO, self.sparse_stream)

    def processing_p95_s(self) -> float | None:
        """95th percentile of the time [s] from a set's arrival to its outputs (recent frames); None before any."""
        try:
            p95_ms = self.latency["total"].summary_ms()[1]  # written by the worker thread meanwhile
        except RuntimeError:
            return None
        return None if np.isnan(p95_ms) else p95_ms / 1e3

    # -- processing (worker thread) ----------------------------------------------------------
    def publishing(self, now: float) -> bool:
        """Images arrived within the last second (a camera worth waiting for when batching)."""
        age = self.rates[IMAGE].age_s(now)
        return age is not None and age < 1.0

    def wants_confidence(self) -> bool:
        """Whether this camera's frames use the confidence map: depth/confidence has a subscriber, or a
        confidence gate (confidence.points_min / scan_min / sectors_min) is set, or the temporal filter weights by it
        (temporal.enabled) (lazy, as image_pipeline's nodes: with confidence.enabled and nobody using it, it costs
        nothing)."""
        v = self.link.settings()
        gated = v["confidence.points_min"] > 0 or (v["obstacles.enabled"] and (
            v["confidence.scan_min"] > 0 or v["confidence.sectors_min"] > 0)) or v["temporal.enabled"]
        return gated or self.pub_confidence.get_subscription_count() > 0

    def ready(self) -> bool:
        """A set waits and no earlier frame of this camera is still being finished (``link.hand_off`` held)."""
        return self.slot is not None and not self.finishing

    def take(self) -> tuple[SyncedSet, float] | None:
        """The waiting set (call with ``link.hand_off`` held)."""
        taken, self.slot = self.slot, None
        return taken

    def drop(self, reason: str, message: str) -> None:
        self.drops[reason] += 1
        if reason not in ("stale", "no_sync"):  # superseded by a newer set / never a set: not this frame's fault
            self.consecutive_drops += 1
        if reason in ("estimator_error", "out_of_memory", "internal_error"):
            self.consecutive_failures += 1
        self.warn(f"dropped frame ({reason}): {message}")

    def fail(self, exc: BaseException) -> None:
        """Count and report a frame lost to ``exc``."""
        if isinstance(exc, LidarDisagreement):  # guard.action drop: the frame still counts for the guard
            self.observe_guard(exc.agreement, dropped=True)
        self.announce_temporal_reset()
        reason = drop_reason(exc)
        self.drop(reason, str(exc) if reason != "internal_error" else f"{type(exc).__name__}: {exc}")

    def prepare(self, synced: SyncedSet, received: float) -> PreparedFrame:
        """Convert a synchronized set (raises InputError for a malformed or unusable one)."""
        t0 = time.monotonic()
        values = self.link.settings()
        image: Image = synced.messages[IMAGE]
        info: CameraInfo = synced.messages[CAMERA_INFO]
        rgb = rgb_from_message(image)
        height, width = rgb.shape[:2]
        geometry = camera_geometry(info, width, height, values["camera.rectified"])
        self.intrinsics_matrix = geometry.matrix
        sparse = None
        if LIDAR in synced.messages:
            assert self.lidar is not None, "LiDAR clouds come only from the subscription made with self.lidar"
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
        temporal = TemporalConfig.from_params(values)
        pose = self.link.pose_at(self.camera, stamp_ns(image), image.header.frame_id) if temporal.needs_pose \
            else STANDING
        self.temporal.check_frames(image.header.frame_id, pose)
        t1 = time.monotonic()
        # monocular + align_to_sparse: the sparse depth is only used to fit the scale, not as input
        estimator_sparse = sparse if estimator_gets_sparse(values["mode"], self.link.estimator().supported_modes,
                                                           sparse is not None) else None
        # the LiDAR agreement guard's hold-out (seeded by the stamp, as the batch does) leaves estimator and fit
        split = split_for_guard(sparse, estimator_sparse, values["align_to_sparse"] != "off", self.link.estimator(),
                                GuardSettings.from_params(values), stamp_ns(image))
        stamp_s = stamp_ns(image) / 1e9
        estimator_sparse = split.estimator_sparse_m
        if estimator_sparse is not None:  # temporal.lidar_sweeps > 1: the older sweeps reprojected into this frame
            estimator_sparse = self.temporal.densify(estimator_sparse, geometry.intrinsics, pose, stamp_s, temporal)
        if not temporal.enabled and self.temporal.filter.has_history:
            self.temporal.filter.reset()  # turned off: turning it on again starts afresh
        step = TemporalStep(self.temporal, pose, stamp_s, temporal) if temporal.enabled else None
        return PreparedFrame(self, image.header, geometry, geometry.intrinsics, rgb, split.align_sparse_m,
                             estimator_sparse, received, t1, t1 - t0, split.guard, step)

    def publish(self, frame: PreparedFrame, result: FrameResult) -> None:
        """Publish one frame's products and record its timings."""
        if result.estimated_focal_px is not None:  # depth_pro: its focal estimate vs CameraInfo (calibration check)
            self.last_focal_px = (result.estimated_focal_px, frame.intrinsics.fx)
        if result.lidar_agreement is not None:
            self.observe_guard(result.lidar_agreement)
        self.announce_temporal_reset()
        if result.alignment is not None:
            self.last_alignment = result.alignment
        elif result.alignment_error:
            self.warn(f"align_to_sparse: no fit this frame ({result.alignment_error}); depth published unaligned")
        t2 = time.monotonic()
        header = frame.header
        self.pub_depth.publish(numpy_to_image(result.depth_m, "32FC1", header))  # already NaN where invalid
        self.pub_info.publish(camera_info_for_output(frame.geometry, header))
        if result.colorized is not None:
            self.pub_colorized.publish(numpy_to_image(result.colorized, "rgb8", header))
        if result.confidence is not None:  # 0..1, NaN exactly where the depth is NaN
            self.pub_confidence.publish(numpy_to_image(result.confidence, "32FC1", header))
        if result.cloud is not None:
            self.pub_points.publish(xyz_to_pointcloud2(result.cloud.xyz, header, result.cloud.rgb))
        t3 = time.monotonic()
        values = self.link.settings()
        if values["obstacles.enabled"]:  # gated by the confidence (confidence.scan_min / sectors_min) when made
            self.obstacles.process(result.depth_m, frame.intrinsics, header, confidence=result.confidence,
                                   gates=ObstacleGates.from_params(values))
        self.surfaces.submit(result.depth_m, frame.intrinsics, header)  # hands over to its thread, never waits
        t4 = time.monotonic()
        self.frames_published += 1
        self.consecutive_failures = 0
        self.consecutive_drops = 0
        self.rates["output"].tick(t4)
        for stage, seconds in (("convert", frame.convert_s), ("inference", result.timings_s["inference"]),
                               ("postprocess", result.timings_s["postprocess"]),
                               ("publish", t3 - t2), ("obstacles", t4 - t3), ("total", t4 - frame.received)):
            self.latency[stage].add(seconds)

    def observe_guard(self, agreement: LidarAgreement, dropped: bool = False) -> None:
        """Record a frame's LiDAR agreement; log when a run of disagreeing frames reaches guard.warn_after_frames
        (warning, once per run) or ends (info)."""
        line = self.guard_monitor.observe(agreement, GuardSettings.from_params(self.link.settings()), dropped)
        if line is None:
            return
        if self.guard_monitor.consecutive:
            self.warn_once(line)
        else:
            self.ros.get_logger().info(line)

    def announce_temporal_reset(self) -> None:
        """Log the temporal history's reset once per run of one reason (the stage says when)."""
        message = self.temporal.take_announcement()
        if message is not None:
            self.warn_once(message)

    def _check_sparse_sentinel(self, msg: Any) -> None:
        """Warn once when a 16-bit sparse image holds 0xFFFF pixels (read as no measurement, not 65.535 m)."""
        if self._sentinel_warned or not isinstance(msg, Image) or msg.encoding not in ("16UC1", "mono16"):
            return
        count = int(np.count_nonzero(image_to_numpy(msg) == DEPTH_MM_SENTINEL))
        if count:
            self._sentinel_warned = True
            self.warn_once(f"sparse depth: {count} of {msg.width * msg.height} {msg.encoding} pixels are 0xFFFF; "
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
                self.warn_once(f"{stream} frame '{frame}' differs from image frame '{image_frame}': {requirement}")

    # -- diagnostics -------------------------------------------------------------------------
    def diagnose(self, stat: StatusWrapper) -> None:
        """This camera's pipeline status (the estimator-wide values are added by the node)."""
        now = time.monotonic()
        v = self.link.settings()
        estimator = self.link.estimator()
        mode = v["mode"]
        active = frame_mode(mode, estimator.supported_modes, self.sparse_alive) or "waiting for sparse depth"
        if self.camera:
            stat.add("camera", self.camera)
        stat.add("estimator", estimator.describe())
        stat.add("intrinsics", self.intrinsics_matrix)
        stat.add("mode", mode if mode != AUTO else f"auto ({active})")
        for stream in (IMAGE, CAMERA_INFO, self.sparse_stream, "synchronized", "output"):
            stat.add(f"rate {stream} [Hz]", self.rates[stream].rate_hz(now))
        for stage, stats in self.latency.items():
            mean, p95 = stats.summary_ms()
            stat.add(f"latency {stage} mean [ms]", mean)
            stat.add(f"latency {stage} p95 [ms]", p95)
        stat.add("frames published", self.frames_published)
        for reason in DROP_REASONS:
            stat.add(f"frames dropped {reason}", self.drops[reason])
        stat.add("synchronizer resets", self.sync.stats.resets)
        timing_values, timing_problems = self.timing.diagnostics(
            self.input_streams(), v["diagnostics.input_delay_warn_s"], self.processing_p95_s(),
            v["sparse_timeout_s"] if mode == AUTO else None)
        for key, value in timing_values:
            stat.add(key, value)
        self.link.diagnose_estimator(stat)
        if v["align_to_sparse"] != "off" and self.last_alignment is not None:
            stat.add(*alignment_diagnostic(self.last_alignment))
        if self.last_focal_px is not None:
            stat.add("focal estimated / CameraInfo [px] / ratio", focal_check_text(*self.last_focal_px))
        guard = GuardSettings.from_params(v)
        unguarded = not_guarded_reason(estimator)
        if not guard.enabled or unguarded is not None:
            stat.add("lidar guard", "off (guard.enabled false)" if not guard.enabled else unguarded)
        else:
            for key, value in self.guard_monitor.values(guard):
                stat.add(key, value)
        temporal = TemporalConfig.from_params(v)
        for key, value in self.temporal.diagnostics(temporal):
            stat.add(key, value)
        if v["surfaces.enabled"]:
            for key, value in self.surfaces.diagnose().items():
                stat.add(key, value)
        stat.add("last warning", self.last_warning or "none")
        stat.summary(OK, f"{active} at {self.rates['output'].rate_hz(now):.1f} Hz")

        stale_s = v["diagnostics.stale_input_s"]
        needed = [IMAGE, CAMERA_INFO] + ([self.sparse_stream] if mode == COMPLETION else [])
        for stream in needed:
            age = self.rates[stream].age_s(now)
            if age is None:
                stat.summary(WARN, f"no {stream} received")
            elif age > stale_s:
                stat.summary(WARN, f"{stream} stopped {age:.1f} s ago")
        needs_sparse = self.sparse_needed_reason()
        if needs_sparse is not None and self.rates[IMAGE].count > 0:
            stat.summary(WARN, needs_sparse)
        elif mode == AUTO and not self.sparse_alive and self.rates[self.sparse_stream].count > 0:
            stat.summary(WARN, "sparse depth stopped: auto mode fell back to monocular")
        expected = v["diagnostics.expected_rate_hz"]
        rate = self.rates["output"].rate_hz(now)
        if expected > 0 and rate < expected * (1.0 - v["diagnostics.rate_tolerance"]):
            stat.summary(WARN, f"output rate {rate:.1f} Hz below expected {expected:.1f} Hz")
        for problem in timing_problems:
            stat.summary(WARN, problem)
        guard_problem = self.guard_monitor.problem(guard) if guard.enabled and unguarded is None else None
        if guard_problem is not None:
            stat.summary(WARN, guard_problem)
        resetting = self.temporal.resetting()
        if resetting is not None:
            stat.summary(WARN, f"temporal history reset: {resetting}")
        if self.sync_warned and needs_sparse is None:
            stat.summary(WARN, f"inputs do not synchronize: {self.sync.explain()}")
        if self.consecutive_drops >= 3 and self.consecutive_failures < 3:  # e.g. CameraInfo of another size
            stat.summary(WARN, f"no depth published: the last {self.consecutive_drops} frames were dropped "
                               f"({self.last_warning})")
        if self.consecutive_failures >= 3:
            stat.summary(ERROR, f"estimator failing: the last {self.consecutive_failures} frames failed "
                                f"({self.last_warning})")
