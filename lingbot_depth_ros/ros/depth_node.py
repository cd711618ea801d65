"""The depth node: synchronized camera (+ sparse depth) in, dense metric depth, cloud and colorized depth out.

One process serves one camera (relative topics ``image``, ``depth/image`` ...) or, with
``cameras: [front, left]``, several cameras (``front/image`` ... ``front/depth/image``) from one
estimator: each camera is a :class:`~lingbot_depth_ros.ros.camera_channel.CameraChannel`.

Threading: subscription callbacks only stamp-match messages (cheap); each camera's newest synchronized
set waits in that camera's single slot for one worker thread, which takes every set ready at that
moment and runs them through the estimator as one batch (``estimate_batch``). Inference never runs on
the callback thread, and a slow estimator drops frames (counted per camera) instead of queueing them.
With several cameras, each camera's post-processing and publishing of a batch run concurrently on a
thread pool (one thread per camera), so one camera's slow output never holds back another's; a camera
with a frame still being finished is not given its next set (its frames stay in order, its state has
one writer at a time), so its slot keeps only the newest set meanwhile.

Two nodes share this work (:class:`DepthNodeCore`): :class:`DepthNode`, working from construction (today's
node), and :class:`ManagedDepthNode` (parameter ``lifecycle: true``), a lifecycle node whose configure /
activate / deactivate / cleanup run the core's steps (:mod:`lingbot_depth_ros.ros.managed_node`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.timer import Timer

from lingbot_depth_ros.deploy.dds import shared_memory_warning
from lingbot_depth_ros.deploy.process_memory import describe_change, release_freed_memory, sample
from lingbot_depth_ros.errors import ConfigError, EstimatorOutOfMemory, LingbotDepthError
from lingbot_depth_ros.estimators import AUTO, DepthEstimator, check_output_alignment, create_estimator
from lingbot_depth_ros.estimators.base import DepthEstimate, EstimatorInput, has_resolution_level, makes_device_cloud
from lingbot_depth_ros.estimators.rate_governor import RateGovernor
from lingbot_depth_ros.params.help import DEPTH_NODE_TOPICS, usage_text
from lingbot_depth_ros.params.lifecycle import AUTOSTART, PROCESS_PARAMS
from lingbot_depth_ros.params.node import ALL_PARAMS, PARAMS_BY_NAME, ParamSpec, check_consistency, estimator_options
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings
from lingbot_depth_ros.pipeline.modes import can_fall_back, check_mode
from lingbot_depth_ros.ros.camera_channel import CameraChannel, PreparedFrame
from lingbot_depth_ros.ros.channel_link import NodeLink, TopicScope
from lingbot_depth_ros.ros.diagnostics import StatusWrapper, Updater
from lingbot_depth_ros.ros.managed_node import ManagedNode
from lingbot_depth_ros.ros.node_main import run_node
from lingbot_depth_ros.ros.pose_lookup import PoseLookup

NODE_NAME = "lingbot_depth_node"
#: Seconds deactivate waits for the frame in flight to be published (then it goes on, with a warning).
DEACTIVATE_WAIT_S = 60.0


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """rcl_interfaces descriptor of a parameter spec (description, range, read-only)."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    # Doubles accept integers (`depth.max_m:=5`, `ros2 param set ... depth.max_m 50`), as ROS users expect:
    # rclpy's static typing would refuse them, so the type is checked by ParamSpec.check instead.
    desc.dynamic_typing = isinstance(spec.default, float)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.min is None or spec.max is None:  # a ROS range has both ends (every bounded parameter has them)
        return desc
    if isinstance(spec.default, float):
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max),
                                                        step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
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


def _value(spec: ParamSpec, param: Parameter) -> Any:
    """A declared parameter's value; an unset string array (``cameras`` absent or ``[]`` in YAML) is []."""
    if isinstance(spec.default, list):
        return list(param.value) if param.value is not None else []
    return param.value


def _new_value(spec: ParamSpec, param: Parameter) -> Any:
    """The value a parameter set asks for, as the node keeps it (integers of double parameters as doubles)."""
    return float(param.value) if isinstance(spec.default, float) and isinstance(param.value, int) \
        else _value(spec, param)


class DepthNodeCore(Node):
    """The depth node's work on an rclpy node, plain or managed: parameters, estimator, cameras, worker.

    Its steps, in the order the plain node runs them at construction and the managed node in its transitions:
    :meth:`_declare_parameters` (construction), :meth:`_check_values` and :meth:`_load` (configure: the values
    checked, the estimator built), :meth:`_open` (configure: each camera's channel with its publishers, the
    worker, the diagnostics tasks), :meth:`_start_inputs` (activate: subscriptions, watchdog);
    :meth:`_stop_inputs` (deactivate) and :meth:`_close` (cleanup: worker, channels, the estimator released).
    """

    estimator: DepthEstimator
    pipeline: DepthPipeline
    governor: RateGovernor | None

    def _declare_parameters(self, *, managed: bool = False) -> dict[str, str]:
        """Declare every parameter of the table and keep their values in ``self.values``.

        ``managed``: a value rclpy refuses (wrong type, out of range) is declared at its default instead of
        raising, and returned (name -> reason) for configure to refuse; the parameters read-only at run time
        are declared settable (the managed node allows them while unconfigured). Returns {} otherwise.
        """
        refused: dict[str, str] = {}
        declared = []
        for spec in ALL_PARAMS:
            # an empty list has no ROS type: string arrays are declared by type (unset = [])
            default = Parameter.Type.STRING_ARRAY if isinstance(spec.default, list) else spec.default
            desc = descriptor(spec)
            if not managed:
                declared.append(self.declare_parameter(spec.name, default, desc))
                continue
            desc.read_only = spec.name in PROCESS_PARAMS
            try:
                declared.append(self.declare_parameter(spec.name, default, desc))
            except ParameterException as exc:
                refused[spec.name] = str(exc)
                declared.append(self.declare_parameter(spec.name, default, desc, ignore_override=True))
        converted = doubles_from_integers(declared)
        self.set_parameters([new for old, new in zip(declared, converted) if new is not old])
        self.add_pre_set_parameters_callback(doubles_from_integers)
        # (read-only ones stay integers in rclpy; their values here are doubles)
        self.values: dict[str, Any] = {spec.name: _value(spec, p) for spec, p in zip(ALL_PARAMS, converted)}
        return refused

    def _check_values(self) -> None:
        """Raise ConfigError for the first value outside its parameter's range or choices, or inconsistent."""
        for spec in ALL_PARAMS:
            reason = spec.check(self.values[spec.name])
            if reason:
                raise ConfigError(reason)
        reason = check_consistency(self.values)
        if reason:
            raise ConfigError(reason)

    def _load(self, estimator: DepthEstimator | None) -> None:
        """The estimator (``estimator``, else the one the parameters name), checked against the mode; the pipeline
        and the rate governor around it (raises ConfigError / CheckpointError)."""
        name = self.values["estimator"]
        self.estimator = estimator or create_estimator(name, **estimator_options(name, self.values))
        check_mode(self.estimator, self.values["mode"])
        check_output_alignment(self.estimator, self.values["align_to_sparse"])  # relative output: never unaligned
        self.pipeline = DepthPipeline(self.estimator, OutputSettings.from_params(self.values))
        self.governor = self._governor(self.values)

    def _open(self, *, inputs_open: bool, diagnostics: Updater | None = None) -> None:
        """One channel per camera (publishers; subscriptions now if ``inputs_open``, else at
        :meth:`_start_inputs`), the finisher pool, the diagnostics tasks (on ``diagnostics``, else a new
        Updater), the worker thread."""
        self.oom_events = 0
        self.work_ready = threading.Condition()  # guards every channel's slot, the settings and the estimator
        self._stopping = False
        self._busy = False  # the worker is processing a batch (work_ready held to read or write)
        self.poses = PoseLookup(self, self.values, list(self.values["cameras"] or [""]), inputs_open=inputs_open)
        link = NodeLink(settings=lambda: self.values, estimator=lambda: self.estimator, hand_off=self.work_ready,
                        diagnose_estimator=self.diagnose_estimator,
                        pose_at=lambda camera, stamp, frame: self.poses.pose_at(camera, stamp, frame, self.values))
        self._scopes: list[TopicScope] = []
        self.channels: list[CameraChannel] = []
        for camera in self.values["cameras"] or [""]:
            self._scopes.append(TopicScope(self, camera, inputs_open=inputs_open))
            self.channels.append(CameraChannel(self._scopes[-1], link, camera))
        # several cameras: each camera's finish + publish of a batch on its own thread (one camera in flight each)
        self._finishers = ThreadPoolExecutor(len(self.channels), thread_name_prefix="depth_finish") \
            if len(self.channels) > 1 else None
        if diagnostics is None:
            diagnostics = Updater(self, self.values["diagnostics.period_s"], hardware_id=self.estimator.describe())
        diagnostics.hardware_id = self.estimator.describe()
        self.diagnostics = diagnostics
        for channel in self.channels:
            self.diagnostics.add(self._task_name(channel), channel.diagnose)
        self._watchdog_timer: Timer | None = None
        self._worker = threading.Thread(target=self._work, name="depth_worker", daemon=True)
        self._worker.start()

    @staticmethod
    def _task_name(channel: CameraChannel) -> str:
        return f"{channel.camera}/pipeline" if channel.camera else "pipeline"

    def _start_inputs(self) -> None:
        """Subscribe every camera's inputs and start the watchdog: frames flow."""
        for scope in self._scopes:
            scope.open_inputs()
        self.poses.open_inputs()
        self._watchdog_timer = self.create_timer(0.25, self._watchdog)
        if self.values["mode"] == AUTO and not can_fall_back(self.estimator.supported_modes):
            self.get_logger().info(f"auto mode: estimator '{self.estimator.name}' cannot run monocular, so depth is "
                                   f"published only while {self.channels[0].sparse_stream} arrives")

    def _stop_inputs(self) -> None:
        """Unsubscribe every camera's inputs, drop the sets waiting, and wait (up to DEACTIVATE_WAIT_S) for the
        frames in flight to be published: no output after this returns."""
        for scope in self._scopes:
            scope.close_inputs()
        self.poses.close_inputs()
        if self._watchdog_timer is not None:
            self.destroy_timer(self._watchdog_timer)
            self._watchdog_timer = None
        deadline = time.monotonic() + DEACTIVATE_WAIT_S
        with self.work_ready:
            for channel in self.channels:
                channel.slot = None
                channel.sync.reset()  # no half-matched set from before waits for the inputs after activate
                channel.temporal.reset()  # activate starts the temporal history afresh
            while self._busy or any(c.finishing for c in self.channels):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.get_logger().warning(f"the frame in flight is still being processed after "
                                              f"{DEACTIVATE_WAIT_S:.0f} s; its outputs may still appear")
                    break
                self.work_ready.wait(left)

    def _close(self, *, release: bool) -> None:
        """Stop the worker, the finishers and the surface threads; with ``release`` also destroy every camera's
        topics and drop every reference to the estimator (the managed node's cleanup; safe after a half-made
        configure). Without: what the plain node's destroy_node always did."""
        opened = "_worker" in self.__dict__  # _open ran to its end
        if opened:
            with self.work_ready:
                self._stopping = True
                self.work_ready.notify_all()
            self._worker.join(timeout=5.0)
            if self._finishers is not None:
                self._finishers.shutdown(wait=True)
        channels: list[CameraChannel] = self.__dict__.get("channels", [])
        if opened or release:
            for channel in channels:
                channel.surfaces.close()
        if not release:
            return
        timer: Timer | None = self.__dict__.get("_watchdog_timer")
        if timer is not None:
            self.destroy_timer(timer)
        for scope in self.__dict__.get("_scopes", []):
            scope.close()
        poses: PoseLookup | None = self.__dict__.get("poses")
        if poses is not None:
            poses.close()
        if opened:
            for channel in channels:
                self.diagnostics.remove(self._task_name(channel))
        # every reference the node holds to the channels, the worker and the estimator
        for attribute in ("_worker", "_finishers", "_watchdog_timer", "_scopes", "channels", "poses", "pipeline",
                          "governor", "estimator"):
            self.__dict__.pop(attribute, None)

    # -- parameters --------------------------------------------------------------------------
    def _governor(self, values: dict[str, Any]) -> RateGovernor | None:
        """The resolution-level governor of lingbot.target_hz (None: off, or an estimator without levels)."""
        if values["lingbot.target_hz"] <= 0 or getattr(self.estimator, "resolution_level", None) is None:
            return None
        return RateGovernor(values["lingbot.target_hz"], window=values["lingbot.rate_window"],
                            up_fraction=values["lingbot.rate_up_fraction"])

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        proposed = dict(self.values)
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None:
                continue  # not ours (e.g. use_sim_time)
            value = _new_value(spec, param)
            reason = spec.check(value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            if spec.read_only and value != self.values[param.name]:
                return SetParametersResult(successful=False, reason=f"{param.name} is read-only: restart the node")
            proposed[param.name] = value
        reason = check_consistency(proposed)
        if reason is None and proposed["mode"] != self.values["mode"]:
            try:
                check_mode(self.estimator, proposed["mode"])
            except ConfigError as exc:
                reason = str(exc)
        if reason is None and proposed["align_to_sparse"] != self.values["align_to_sparse"]:
            try:
                check_output_alignment(self.estimator, proposed["align_to_sparse"])
            except ConfigError as exc:
                reason = str(exc)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        estimator = self._rebuilt_estimator(proposed)
        if isinstance(estimator, str):
            return SetParametersResult(successful=False, reason=estimator)
        if any(proposed[k] != self.values[k] for k in proposed if k.startswith(("obstacles.", "lidar.", "surfaces."))):
            try:
                with self.work_ready:
                    for channel in self.channels:
                        channel.reconfigure_outputs(proposed)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        previous = self.values
        with self.work_ready:
            self.values = proposed
            self.pipeline.settings = OutputSettings.from_params(self.values)
            if estimator is not None:
                self.estimator = self.pipeline.estimator = estimator
            if any(proposed[k] != previous[k] for k in ("lingbot.target_hz", "lingbot.rate_window",
                                                        "lingbot.rate_up_fraction")) or estimator is not None:
                self.governor = self._governor(proposed)
        for channel in self.channels:
            channel.apply(proposed)
        if proposed["diagnostics.period_s"] != previous["diagnostics.period_s"]:
            self.diagnostics.set_period(proposed["diagnostics.period_s"])
        return SetParametersResult(successful=True)

    def _rebuilt_estimator(self, proposed: dict[str, Any]) -> Any:
        """A new estimator if its options changed (None if not; the reason string if they are invalid).

        Options the running estimator declares live (``live_options``, e.g. LingBot-Depth's resolution level)
        are set on it; any other change rebuilds it (weight-free estimators: microseconds; a learned estimator's
        other options are read-only, refused before this).
        """
        name = proposed["estimator"]
        options = estimator_options(name, proposed)
        previous = estimator_options(name, self.values)
        changed = {option: value for option, value in options.items() if previous.get(option) != value}
        if not changed:
            return None
        if changed.keys() <= self.estimator.live_options:
            try:
                for option, value in changed.items():
                    setattr(self.estimator, option, value)
            except (LingbotDepthError, ValueError) as exc:
                return str(exc)
            return None
        try:
            return create_estimator(name, **options)
        except LingbotDepthError as exc:
            return str(exc)

    def _watchdog(self) -> None:
        for channel in self.channels:
            channel.watchdog()

    # -- processing --------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self.work_ready:
                while not self._stopping and not any(c.ready() for c in self.channels):
                    self.work_ready.wait()
                self._gather_batch()
                if self._stopping:
                    return
                taken = [(c, c.take()) for c in self.channels if c.ready()]
                settings = self._batch_settings()
                self._busy = True
            try:
                self._process(taken, settings)
            except Exception as exc:  # noqa: BLE001 - a frame must never take the node down
                for channel, _ in taken:
                    channel.fail(exc)
            finally:
                with self.work_ready:
                    self._busy = False
                    self.work_ready.notify_all()  # a deactivate waits for the batch in flight

    def _batch_settings(self) -> OutputSettings:
        """The settings snapshot of the next batch: confidence.enabled makes the confidence map (and asks the
        estimator for its costly cues) only while a camera uses it (:meth:`CameraChannel.wants_confidence`)."""
        settings = self.pipeline.settings
        if settings.confidence and not any(c.wants_confidence() for c in self.channels):
            settings = replace(settings, confidence=False)
        self.estimator.confidence_cues = settings.confidence  # the worker's batch only: set before it estimates
        return settings

    def _gather_batch(self) -> None:
        """Several cameras: wait up to batch_wait_s (``work_ready`` held) for the sets of the other cameras that
        are publishing, so frames of one instant share one forward instead of queueing behind each other."""
        if len(self.channels) < 2 or self._stopping:
            return
        deadline = time.monotonic() + self.values["batch_wait_s"]
        while not self._stopping:
            now = time.monotonic()
            if now >= deadline or not any(not c.ready() and c.publishing(now) for c in self.channels):
                return
            self.work_ready.wait(deadline - now)

    def _process(self, taken: list, settings: OutputSettings) -> None:
        """Convert each camera's set, estimate them as one batch, publish each camera's products."""
        frames: list[PreparedFrame] = []
        for channel, (synced, received) in taken:
            try:
                frames.append(channel.prepare(synced, received))
            except Exception as exc:  # noqa: BLE001 - this camera's frame only
                channel.fail(exc)
        if not frames:
            return
        level = getattr(self.estimator, "resolution_level", None)
        t0 = time.perf_counter()
        estimates = self._estimate(frames, self.pipeline.device_cloud_request(settings))
        inference_s = time.perf_counter() - t0
        governor, estimator = self.governor, self.estimator
        if governor is not None and level is not None and has_resolution_level(estimator) \
                and estimator.resolution_level == level:
            new = governor.observe(level, inference_s)
            if new != level:
                estimator.resolution_level = new
                self.get_logger().info(f"lingbot.target_hz: resolution level {level} -> {new} ({governor.describe()})")
        for frame, estimate in zip(frames, estimates):
            if self._finishers is None:
                self._finish(frame, estimate, settings, inference_s)
                continue
            with self.work_ready:
                frame.channel.finishing = True  # not given its next set until this one is published
            self._finishers.submit(self._finish_concurrently, frame, estimate, settings, inference_s)

    def _finish(self, frame: PreparedFrame, estimate: DepthEstimate | BaseException, settings: OutputSettings,
                inference_s: float) -> None:
        """Post-process and publish one camera's frame of a batch (its error counts on that camera only)."""
        try:
            if isinstance(estimate, BaseException):
                raise estimate
            result = self.pipeline.finish(estimate, frame.rgb, frame.intrinsics, settings, frame.sparse_m,
                                          inference_s, frame.guard, frame.temporal)
            frame.channel.publish(frame, result)
        except Exception as exc:  # noqa: BLE001 - this camera's frame only
            frame.channel.fail(exc)

    def _finish_concurrently(self, frame: PreparedFrame, estimate: DepthEstimate | BaseException,
                             settings: OutputSettings, inference_s: float) -> None:
        """:meth:`_finish` on a finisher thread; then the camera may take its next set."""
        try:
            self._finish(frame, estimate, settings, inference_s)
        finally:
            with self.work_ready:
                frame.channel.finishing = False
                self.work_ready.notify_all()

    def _estimate(self, frames: list[PreparedFrame], cloud: Any = None) -> list[DepthEstimate | BaseException]:
        """One estimate (or the error that stopped it) per frame: one batch; frame by frame if the batch fails.
        ``cloud``: the pipeline's device-cloud request (the estimator then makes each frame's cloud), or None."""
        inputs = [EstimatorInput(f.rgb, f.estimator_sparse_m, f.intrinsics) for f in frames]
        try:
            return self._with_oom_retry(partial(self._estimate_batch, inputs, cloud), frames[0].channel)
        except Exception as exc:  # noqa: BLE001 - attributed to its frame below
            if len(frames) == 1:
                return [exc]
        results: list[DepthEstimate | BaseException] = []
        for frame, one in zip(frames, inputs):
            try:
                results.append(self._with_oom_retry(partial(self._estimate_one, one, cloud), frame.channel))
            except Exception as exc:  # noqa: BLE001 - this frame's error
                results.append(exc)
        return results

    def _estimate_batch(self, inputs: list[EstimatorInput], cloud: Any) -> list[DepthEstimate]:
        """The estimator's ``estimate_batch``, asked to make the clouds on its device when ``cloud`` is a request."""
        estimator = self.estimator
        if cloud is None:
            return estimator.estimate_batch(inputs)
        if not makes_device_cloud(estimator):  # the pipeline asks only an estimator that makes them
            raise ConfigError(f"estimator '{estimator.name}' cannot make the point cloud on its device")
        return estimator.estimate_batch(inputs, cloud=cloud)

    def _estimate_one(self, one: EstimatorInput, cloud: Any) -> DepthEstimate:
        """One frame alone (after its batch failed): ``estimate``, or a batch of one when clouds are asked for."""
        if cloud is None:
            return self.estimator.estimate(one.rgb, one.sparse_depth_m, one.intrinsics)
        return self._estimate_batch([one], cloud)[0]

    def _with_oom_retry(self, run: Callable[[], Any], channel: CameraChannel) -> Any:
        """``run()``; on out-of-memory optionally step the resolution level down (and keep it) and retry once."""
        try:
            return run()
        except EstimatorOutOfMemory as exc:
            self.oom_events += 1
            estimator = self.estimator
            if not (self.values["oom_retry"] and has_resolution_level(estimator) and estimator.resolution_level > 0):
                raise
            level = estimator.resolution_level
            lower = max(0, level - self.values["oom_retry_level_step"])
            estimator.resolution_level = lower
            channel.warn(f"estimator out of memory at resolution level {level} ({exc}); retrying at level {lower}")
            return run()

    # -- diagnostics -------------------------------------------------------------------------
    def diagnose_estimator(self, stat: StatusWrapper) -> None:
        """Values of the one estimator shared by every camera (added to each camera's status)."""
        stat.add("out-of-memory events", self.oom_events)
        level = getattr(self.estimator, "resolution_level", None)
        if level is not None:
            stat.add("resolution level", level)
        governor = self.governor
        if governor is not None:
            stat.add("rate governor", governor.describe())

    def destroy_node(self) -> None:
        self._close(release=False)
        super().destroy_node()


class DepthNode(DepthNodeCore):
    """LingBot-Depth / classical completion node (see README for every topic and parameter): works from
    construction (raises ConfigError / CheckpointError / rclpy's ParameterException for what it refuses)."""

    def __init__(self, estimator: DepthEstimator | None = None, **kwargs: Any) -> None:
        """``estimator``: use this instance instead of building the one the parameters name (tests, embedding)."""
        super().__init__(NODE_NAME, **kwargs)
        self._declare_parameters()
        self._check_values()
        self._load(estimator)
        self._open(inputs_open=True)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._start_inputs()
        cameras = f", cameras {', '.join(self.values['cameras'])}" if self.values["cameras"] else ""
        # "ready:" is the last start-up line: whoever waits for it (launch, tests) sees every line before it
        self.get_logger().info(f"ready: estimator {self.estimator.describe()}, mode {self.values['mode']}, "
                               f"input QoS {self.values['input_qos']}{cameras}")


class ManagedDepthNode(DepthNodeCore, ManagedNode):
    """The depth node as a managed (lifecycle) node (``lifecycle: true``): the same work as :class:`DepthNode`,
    run by the transitions (see :mod:`lingbot_depth_ros.ros.managed_node`).

    Unconfigured: parameters only (any of them settable, checked one by one as they are set); configure checks
    them all, loads the estimator (logs the time and the memory it took) and creates the publishers; activate
    subscribes; deactivate unsubscribes, the estimator stays loaded (parameters set meanwhile apply to the next
    frames, after activate); cleanup releases the estimator (logs the memory given back).
    """

    def __init__(self, estimator: DepthEstimator | None = None, **kwargs: Any) -> None:
        """``estimator``: configure uses this instance instead of building one (tests; cleanup cannot free it)."""
        ManagedNode.__init__(self, NODE_NAME, **kwargs)
        self._given_estimator = estimator
        self._refused = self._declare_parameters(managed=True)
        self.configured = False
        period = self.values["diagnostics.period_s"]
        if PARAMS_BY_NAME["diagnostics.period_s"].check(period):
            period = PARAMS_BY_NAME["diagnostics.period_s"].default  # refused at configure; diagnostics still run
        self.diagnostics = Updater(self, period, hardware_id="unconfigured")
        self.diagnostics.add("lifecycle", self.diagnose_lifecycle)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.start(autostart=self.values[AUTOSTART] is True)

    def _configure(self) -> None:
        if self._refused:
            name, reason = next(iter(self._refused.items()))
            raise ConfigError(f"parameter {name}: {reason}")
        self._check_values()
        before, t0 = sample(), time.perf_counter()
        self._load(self._given_estimator)
        load_s, after = time.perf_counter() - t0, sample()
        self._open(inputs_open=False, diagnostics=self.diagnostics)
        self.configured = True
        self.get_logger().info(f"configured: estimator {self.estimator.describe()} loaded in {load_s:.2f} s, "
                               f"memory {describe_change(before, after)}; outputs created, inputs subscribed at "
                               "activate")

    def _activate(self) -> None:
        self._start_inputs()
        cameras = f", cameras {', '.join(self.values['cameras'])}" if self.values["cameras"] else ""
        self.get_logger().info(f"active: estimator {self.estimator.describe()}, mode {self.values['mode']}, "
                               f"input QoS {self.values['input_qos']}{cameras}")

    def _deactivate(self) -> None:
        self._stop_inputs()
        self.get_logger().info("inactive: inputs unsubscribed, the estimator stays loaded")

    def _cleanup(self) -> None:
        if not hasattr(self, "estimator"):  # nothing loaded (a configure refused before the estimator)
            self._close(release=True)
            self.configured = False
            return
        before = sample()
        self._close(release=True)
        self.configured = False
        release_freed_memory()
        self.diagnostics.hardware_id = "unconfigured"
        self.get_logger().info(f"cleaned up: estimator released, memory {describe_change(before, sample())}")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Unconfigured: each value checked and kept (configure uses them); configured: as the plain node, the
        parameters read-only at run time refused until cleanup."""
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None or not spec.read_only or _new_value(spec, param) == self.values[param.name]:
                continue
            if spec.name in PROCESS_PARAMS:
                return SetParametersResult(successful=False, reason=f"{param.name} is read-only: restart the node")
            if self.configured:
                return SetParametersResult(successful=False, reason=f"{param.name} can only be set while "
                                           "unconfigured (deactivate, cleanup, set it, configure)")
        if self.configured:
            return super()._on_set_parameters(params)
        proposed = dict(self.values)
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None:
                continue  # not ours (e.g. use_sim_time)
            proposed[param.name] = _new_value(spec, param)
            reason = spec.check(proposed[param.name])
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        reason = check_consistency(proposed)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        if proposed["diagnostics.period_s"] != self.values["diagnostics.period_s"]:
            self.diagnostics.set_period(proposed["diagnostics.period_s"])
        self.values = proposed
        for param in params:
            self._refused.pop(param.name, None)
        return SetParametersResult(successful=True)


def usage() -> str:
    """``depth_node --help``: topics and every parameter with its default (from the parameter table)."""
    return usage_text("depth_node", "Dense metric depth (LingBot-Depth, classical completion, ...) from a camera "
                      "and sparse depth / LiDAR; ROS node lingbot_depth_node.", ALL_PARAMS, DEPTH_NODE_TOPICS,
                      "depth_node --ros-args -p estimator:=classical -r image:=/camera/color/image_raw "
                      "--params-file my.yaml",
                      "config/lingbot_depth.yaml (every parameter with its meaning); ros2 launch lingbot_depth_ros "
                      "lingbot_depth.launch.py --show-args")


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``depth_node`` executable (the managed node with parameter ``lifecycle: true``)."""
    return run_node(DepthNode, NODE_NAME, args, usage=usage, program="depth_node", make_managed=ManagedDepthNode,
                    startup_warning=shared_memory_warning)  # e.g. Docker's 64 MB /dev/shm


if __name__ == "__main__":
    sys.exit(main())
