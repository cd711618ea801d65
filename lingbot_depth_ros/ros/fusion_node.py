"""``depth_fusion_node``: fuses the dense depth of one or more depth nodes into a TSDF map.

Subscribes, per camera namespace ``<ns>`` (parameter ``cameras``): ``<ns>/depth/image`` (32FC1 [m] or
16UC1 [mm]), ``<ns>/depth/camera_info`` and, for colour, ``<ns>/image`` (matched by stamp); with
``fusion.confidence_weighting`` also ``<ns>/depth/confidence`` (32FC1 0..1, matched by stamp), which weights
each pixel's TSDF update (:meth:`TsdfFusion.integrate`). The depth node publishes the confidence just after the
depth, so a depth frame whose confidence is not in yet waits for it (one frame per camera): it is fused weighted
when its confidence arrives, and unweighted when the next depth frame comes first (its confidence never came:
``frames_unweighted_no_confidence``); a confidence of another size or encoding fuses the frame unweighted too
(``frames_unweighted_confidence_size`` / ``_bad_confidence``), each reason warned once. Each frame's
pose T_map_camera at the image stamp comes from ``fusion.pose_source``:

* ``tf``: tf2_ros lookup ``fusion.map_frame`` <- image frame (needs tf2_ros, on every ROS robot);
* ``odometry``: nav_msgs/Odometry on ``fusion.odom_topic`` (T_map_base, interpolated) x the static mounting
  ``fusion.mount_*`` (T_base_camera, optical frame appended);
* ``pose``: geometry_msgs/PoseStamped of the optical frame on ``<ns>/<fusion.pose_topic>`` (interpolated);
* ``none``: every frame at identity, in the first image's frame (a static camera).

Publishes ``fused/points`` (PointCloud2 x y z rgb in the map frame) every 1/``fusion.publish_rate_hz`` s,
offers ``~/save_mesh`` (std_srvs/Trigger: writes ``mesh.ply`` and ``fused.ply`` into ``fusion.output_dir``)
and diagnostics (frames fused/refused, blocks against the memory bound). The geometry lives in
:mod:`lingbot_depth_ros.fusion` (no rclpy here beyond the wiring).

A depth frame that cannot be fused is dropped, counted under one of :data:`DROP_REASONS` (diagnostics
``frames_dropped_<reason>``) and reported by a warning at most every 2 s per reason and camera; no input
stops the node (an unexpected exception in any callback is logged and counted, ``internal_error`` for a
depth frame, ``callback_errors`` for the other callbacks).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from lingbot_depth_ros.deploy.process_memory import describe_change, release_freed_memory, sample
from lingbot_depth_ros.errors import ConfigError, InputError, LingbotDepthError
from lingbot_depth_ros.fusion.poses import PoseBuffer, PoseJumpError, check_pose_speed, mounting_matrix, pose_matrix
from lingbot_depth_ros.messages.camera_model import intrinsics_from_camera_info
from lingbot_depth_ros.messages.image import depth_m_from_image, rgb_from_image
from lingbot_depth_ros.params.fusion import FUSION_NODE_NAME, FUSION_PARAMS, PARAMS_BY_NAME, check_values
from lingbot_depth_ros.params.help import FUSION_NODE_TOPICS, usage_text
from lingbot_depth_ros.params.lifecycle import AUTOSTART, PROCESS_PARAMS
from lingbot_depth_ros.ros.channel_link import TopicScope
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2
from lingbot_depth_ros.ros.diagnostics import OK, WARN, StatusWrapper, Updater
from lingbot_depth_ros.ros.fused_surfaces import FusedSurfaces
from lingbot_depth_ros.ros.managed_node import ManagedNode
from lingbot_depth_ros.ros.node_main import run_node

#: Why a depth frame was fused without its confidence (fusion.confidence_weighting): none arrived before the next
#: depth frame; another size than the depth; not a readable 32FC1 image.
UNWEIGHTED_REASONS = ("no_confidence", "confidence_size", "bad_confidence")
#: Confidence images kept per camera, by stamp, waiting for their depth frame.
_CONFIDENCE_BUFFER = 30
#: Why a depth frame was not fused: no CameraInfo yet; a malformed image / CameraInfo / colour image or a pose
#: the volume refuses; no pose at the stamp; a pose jump faster than fusion.max_pose_speed_m_s; no pixel with
#: depth to fuse (all NaN / 0 / out of range, or too small an image); an unexpected exception (a bug).
DROP_REASONS = ("no_camera_info", "bad_input", "no_pose", "pose_jump", "empty_depth", "internal_error")
_WARN_INTERVAL_S = 2.0


class _Dropped(Exception):
    """A depth frame is not fused for ``reason`` (one of DROP_REASONS), explained by the message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _WarningLimiter:
    """Logs a warning per kind at most every ``interval_s`` [s], adding how many were suppressed since."""

    def __init__(self, log: Callable[[str], Any], interval_s: float = _WARN_INTERVAL_S) -> None:
        self._log, self._interval_s = log, interval_s
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def warn(self, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, float("-inf")) < self._interval_s:
            self._suppressed[kind] += 1
            return
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        self._log(text + (f" ({suppressed} similar suppressed)" if suppressed else ""))


def _stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _pose_msg_matrix(pose: Any) -> np.ndarray:
    p, q = pose.position, pose.orientation
    return pose_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


class _Camera:
    """Per-namespace state: latest CameraInfo, colour images by stamp, pose buffer, last fused time."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.info: CameraInfo | None = None
        self.colour: dict[int, Image] = {}
        self.confidence: dict[int, Image] = {}
        #: a depth frame waiting for its confidence (fusion.confidence_weighting)
        self.pending: Image | None = None
        self.poses: PoseBuffer | None = None
        self.last_fused_s = float("-inf")
        #: stamp [ns] and 4x4 pose of the last frame fused (or refused as a pose jump): the pose jump reference
        self.last_pose: tuple[int, np.ndarray] | None = None


class FusionNodeCore(Node):
    """The fusion node's work on an rclpy node, plain or managed (module docstring), in steps:
    :meth:`_declare_parameters` (construction), :meth:`_load` (the values checked, the TSDF volume made),
    :meth:`_open` (publishers, ``~/save_mesh``, the subscriptions made through a :class:`TopicScope`, open now
    or at :meth:`_start_inputs`), :meth:`_start_inputs` / :meth:`_stop_inputs` (subscriptions and timers),
    :meth:`_close` (the surface worker stopped; with ``release`` also every topic and the volume dropped)."""

    fusion: Any  # lingbot_depth_ros.fusion.tsdf.TsdfFusion (the fusion extra, imported at load)
    diagnostics: Updater

    def _declare_parameters(self, *, managed: bool = False) -> dict[str, str]:
        """Declare every parameter of FUSION_PARAMS and keep their values in ``self.values``. ``managed``: a value
        rclpy refuses (wrong type) is declared at its default instead, and returned (name -> reason) for
        configure to refuse; {} otherwise (rclpy raises)."""
        refused: dict[str, str] = {}
        for spec in FUSION_PARAMS:
            if not managed:
                self.declare_parameter(spec.name, spec.default)
                continue
            try:
                self.declare_parameter(spec.name, spec.default)
            except ParameterException as exc:
                refused[spec.name] = str(exc)
                self.declare_parameter(spec.name, spec.default, ignore_override=True)
        self.values = {spec.name: self.get_parameter(spec.name).value for spec in FUSION_PARAMS}
        return refused

    def _load(self) -> None:
        """Check the values, make the TSDF volume and the pose sources (raises ConfigError)."""
        check_values(self.values)
        v = self.values
        from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion  # needs the fusion extra

        self.fusion = TsdfFusion(FusionConfig(
            voxel_size_m=v["fusion.voxel_size_m"], truncation_voxels=v["fusion.truncation_voxels"],
            min_depth_m=v["fusion.min_depth_m"], max_depth_m=v["fusion.max_depth_m"],
            max_weight=v["fusion.max_weight"], weight_threshold=v["fusion.weight_threshold"],
            max_blocks=int(v["fusion.max_blocks"]), max_distance_m=v["fusion.max_distance_m"],
            device=v["fusion.device"], confidence_min=v["fusion.confidence_min"]))
        self.weighting = bool(v["fusion.confidence_weighting"])
        self.frames_weighted = 0
        self.unweighted: Counter[str] = Counter()
        self.source: str = v["fusion.pose_source"]
        self.map_frame: str = v["fusion.map_frame"]
        self.drops: Counter[str] = Counter()
        self.callback_errors = 0
        self.last_warning = ""
        self._warned: set[str] = set()
        self._limiter = _WarningLimiter(self.get_logger().warning)
        self.odometry: PoseBuffer | None = None
        self._tf_buffer: Any = None
        if self.source == "tf":
            try:
                import tf2_ros
            except ImportError:
                raise ConfigError("fusion.pose_source 'tf' needs tf2_ros (apt: ros-<distro>-tf2-ros-py); "
                                  "use odometry, pose or none without it") from None
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)

    def _open(self, *, inputs_open: bool) -> None:
        """Subscriptions (through a scope: made now if ``inputs_open``, else at :meth:`_start_inputs`), the
        fused/points publisher, the surface worker, ``~/save_mesh`` and the 'fusion' diagnostics task."""
        v = self.values
        gap_ns = int(v["fusion.max_pose_gap_s"] * 1e9)
        extrap_ns = int(v["fusion.max_pose_extrapolation_s"] * 1e9)
        self._scope = TopicScope(self, "", inputs_open=inputs_open)
        if self.source == "odometry":
            self.odometry = PoseBuffer(max_gap_ns=gap_ns, max_extrapolation_ns=extrap_ns)
            self._scope.create_subscription(Odometry, v["fusion.odom_topic"],
                                            self._guarded("odometry", self._on_odometry), 50)
        self.namespaces = [str(n) for n in v["cameras"]] or [""]
        self.cameras: list[_Camera] = []
        for ns in self.namespaces:
            cam = _Camera(ns)
            prefix = (ns.rstrip("/") + "/") if ns else ""
            self._scope.create_subscription(Image, prefix + "depth/image", partial(self._on_depth, cam),
                                            qos_profile_sensor_data)
            self._scope.create_subscription(CameraInfo, prefix + "depth/camera_info",
                                            partial(self._on_camera_info, cam), qos_profile_sensor_data)
            self._scope.create_subscription(Image, prefix + "image",
                                            self._guarded("colour", partial(self._on_colour, cam)),
                                            qos_profile_sensor_data)
            if self.weighting:
                self._scope.create_subscription(Image, prefix + "depth/confidence",
                                                self._guarded("confidence", partial(self._on_confidence, cam)),
                                                qos_profile_sensor_data)
            if self.source == "pose":
                cam.poses = PoseBuffer(max_gap_ns=gap_ns, max_extrapolation_ns=extrap_ns)
                self._scope.create_subscription(PoseStamped, prefix + v["fusion.pose_topic"],
                                                self._guarded("pose", lambda m, c=cam: self._on_pose(c, m)), 50)
            self.cameras.append(cam)
        self.points_pub = self._scope.create_publisher(PointCloud2, "fused/points", 1)
        self.surfaces: FusedSurfaces | None = FusedSurfaces(self._scope) if v["fusion.surfaces.enabled"] else None
        self._input_timers: list[Timer] = []
        self._save_service = self.create_service(Trigger, "~/save_mesh", self._on_save_mesh)
        self.diagnostics.hardware_id = v["fusion.device"]
        self.diagnostics.add("fusion", self._diagnose)  # the Updater reports a failing check itself

    def _start_inputs(self) -> None:
        """Subscribe, and start the publish / surfaces timers: frames are fused."""
        self._scope.open_inputs()
        v = self.values
        if v["fusion.publish_rate_hz"] > 0:
            self._input_timers.append(self.create_timer(1.0 / v["fusion.publish_rate_hz"],
                                                  self._guarded("publish", self.publish_cloud)))
        if self.surfaces is not None:
            self._input_timers.append(self.create_timer(1.0 / v["fusion.surfaces.rate_hz"],
                                                  self._guarded("surfaces", self.analyse_surfaces)))

    def _stop_inputs(self) -> None:
        """Unsubscribe and stop the timers: nothing more is fused or published (the volume stays)."""
        self._scope.close_inputs()
        for timer in self._input_timers:
            self.destroy_timer(timer)
        self._input_timers.clear()

    def _close(self, *, release: bool) -> None:
        """Stop the surface worker; with ``release`` also destroy every topic, the service, the diagnostics task
        and drop the volume (the managed node's cleanup; safe after a half-made configure)."""
        surfaces = self.__dict__.get("surfaces")
        if surfaces is not None:
            surfaces.close()
        if not release:
            return
        if "_scope" in self.__dict__:
            self._stop_inputs()
            self._scope.close()
            self.destroy_service(self._save_service)
            self.diagnostics.remove("fusion")
        listener = self.__dict__.get("_tf_listener")
        if listener is not None and hasattr(listener, "unregister"):
            listener.unregister()  # its /tf subscriptions
        for attribute in ("_scope", "_input_timers", "_save_service", "surfaces", "points_pub", "cameras", "odometry",
                          "_tf_listener", "_tf_buffer", "fusion"):
            self.__dict__.pop(attribute, None)

    def _ready_line(self) -> str:
        v = self.values
        return (f"fusing {', '.join(n or '(this namespace)' for n in self.namespaces)} with poses from "
                f"{self.source}, voxel {v['fusion.voxel_size_m']:g} m, at most {v['fusion.max_blocks']} blocks, "
                f"device {v['fusion.device']}")

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        """Live changes of the non-read-only parameters (rate, mounting, publish voxel); the rest need a restart."""
        changed = dict(self.values)
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None:
                continue
            if spec.read_only:
                return SetParametersResult(successful=False, reason=f"{param.name} is read-only: restart the node")
            changed[param.name] = float(param.value) if isinstance(spec.default, float) and isinstance(
                param.value, int) else param.value
        try:
            check_values(changed)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.values = changed
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ inputs
    def _guarded(self, what: str, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` that logs and counts (``callback_errors``) an unexpected exception instead of letting it
        end the spin (and the node): the last resort behind each callback's own handling."""

        def run(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:  # noqa: BLE001 - last resort: a bug must not stop the node
                self.callback_errors += 1
                self.last_warning = f"{what} callback failed: {type(exc).__name__}: {exc}"
                self._limiter.warn(f"callback {what}", self.last_warning)

        return run

    def _warn_once(self, key: str, text: str) -> None:
        self.last_warning = text
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text)

    def _on_odometry(self, msg: Odometry) -> None:
        if msg.header.frame_id and msg.header.frame_id != self.map_frame:
            self._warn_once("odom_frame", f"odometry is in '{msg.header.frame_id}', fusion.map_frame is "
                                          f"'{self.map_frame}': the map is built in '{msg.header.frame_id}'")
        try:
            self.odometry.add(_stamp_ns(msg.header), _pose_msg_matrix(msg.pose.pose))  # type: ignore[union-attr]
        except InputError as exc:
            self._warn_once("odom_bad", f"odometry message dropped: {exc}")

    def _on_pose(self, cam: _Camera, msg: PoseStamped) -> None:
        try:
            cam.poses.add(_stamp_ns(msg.header), _pose_msg_matrix(msg.pose))  # type: ignore[union-attr]
        except InputError as exc:
            self._warn_once("pose_bad", f"pose message dropped: {exc}")

    @staticmethod
    def _on_camera_info(cam: _Camera, msg: CameraInfo) -> None:
        cam.info = msg

    def _on_colour(self, cam: _Camera, msg: Image) -> None:
        cam.colour[_stamp_ns(msg.header)] = msg
        while len(cam.colour) > 30:
            cam.colour.pop(next(iter(cam.colour)))

    def _on_confidence(self, cam: _Camera, msg: Image) -> None:
        """Keep the confidence by stamp; fuse the depth frame waiting for it, if that is the one."""
        stamp = _stamp_ns(msg.header)
        pending = cam.pending
        if pending is not None and _stamp_ns(pending.header) == stamp:
            cam.pending = None
            self._fuse_counted(cam, pending, msg, None)
            return
        cam.confidence[stamp] = msg
        while len(cam.confidence) > _CONFIDENCE_BUFFER:
            cam.confidence.pop(next(iter(cam.confidence)))

    def _limited(self, buffer: PoseBuffer) -> PoseBuffer:
        """``buffer`` with the gap / extrapolation / speed limits of the current (live) parameter values."""
        v = self.values
        buffer.max_gap_ns = int(v["fusion.max_pose_gap_s"] * 1e9)
        buffer.max_extrapolation_ns = int(v["fusion.max_pose_extrapolation_s"] * 1e9)
        buffer.max_speed_m_s = float(v["fusion.max_pose_speed_m_s"])
        return buffer

    def camera_pose(self, cam: _Camera, stamp_ns: int, frame_id: str) -> np.ndarray:
        """T_map_camera at the image stamp (InputError when the pose source has none)."""
        if self.source == "none":
            if self.map_frame != frame_id and "none_frame" not in self._warned:
                self._warned.add("none_frame")
                self.map_frame = frame_id
            return np.eye(4)
        if self.source == "pose":
            return self._limited(cam.poses).lookup(stamp_ns)  # type: ignore[arg-type]
        if self.source == "odometry":
            v = self.values
            mount = mounting_matrix((v["fusion.mount_x"], v["fusion.mount_y"], v["fusion.mount_z"]),
                                    (v["fusion.mount_roll"], v["fusion.mount_pitch"], v["fusion.mount_yaw"]))
            return self._limited(self.odometry).lookup(stamp_ns) @ mount  # type: ignore[arg-type]
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            tf = self._tf_buffer.lookup_transform(self.map_frame, frame_id, Time(nanoseconds=stamp_ns),
                                                  timeout=Duration(seconds=0.0))
        except Exception as exc:  # noqa: BLE001 - tf2 raises several lookup exception types
            raise InputError(f"no transform {self.map_frame} <- {frame_id} at the image stamp: {exc}") from None
        t, q = tf.transform.translation, tf.transform.rotation
        return pose_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def _on_depth(self, cam: _Camera, msg: Image) -> None:
        """Fuse a depth frame, or drop it with a counted reason and a rate-limited warning (never raises)."""
        now = time.monotonic()
        rate = self.values["fusion.integration_rate_hz"]
        if rate > 0 and now - cam.last_fused_s < 1.0 / rate:
            return
        if not self.weighting:
            if self._fuse_counted(cam, msg, None, None):
                cam.last_fused_s = now
            return
        if cam.pending is not None:  # the next depth frame came first: that one's confidence never arrived
            pending, cam.pending = cam.pending, None
            self._fuse_counted(cam, pending, None, "no_confidence")
        confidence = cam.confidence.pop(_stamp_ns(msg.header), None)
        cam.last_fused_s = now  # taken: fused now or when its confidence arrives
        if confidence is None:
            cam.pending = msg
            return
        self._fuse_counted(cam, msg, confidence, None)

    def _fuse_counted(self, cam: _Camera, msg: Image, confidence: Image | None, missing: str | None) -> bool:
        """:meth:`_fuse`, a drop counted with its reason instead of an exception; True when fused."""
        try:
            self._fuse(cam, msg, confidence, missing)
        except _Dropped as drop:
            self._drop(cam, drop.reason, str(drop))
            return False
        except Exception as exc:  # noqa: BLE001 - last resort: a bug must not stop the node
            self._drop(cam, "internal_error", f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _confidence_weights(self, cam: _Camera, msg: Image, confidence: Image | None,
                            missing: str | None) -> tuple[np.ndarray | None, str | None]:
        """(H, W) float32 confidence of the depth frame ``msg`` for the weighted integration, or (None, reason
        of UNWEIGHTED_REASONS) when the frame is fused unweighted (warned once per reason and camera)."""
        from lingbot_depth_ros.messages.image import image_pixels

        if confidence is None:
            reason, why = missing or "no_confidence", "no depth/confidence with the depth frame's stamp arrived"
        elif (confidence.width, confidence.height) != (msg.width, msg.height):
            reason, why = "confidence_size", (f"depth/confidence is {confidence.width}x{confidence.height}, "
                                              f"depth/image {msg.width}x{msg.height}")
        elif confidence.encoding != "32FC1":
            reason, why = "bad_confidence", f"depth/confidence encoding '{confidence.encoding}' is not 32FC1"
        else:
            try:
                return np.asarray(image_pixels(confidence), dtype=np.float32), None
            except LingbotDepthError as exc:
                reason, why = "bad_confidence", f"depth/confidence unreadable: {exc}"
        self._warn_once(f"unweighted {reason} {cam.namespace}", f"depth frames from '{cam.namespace or '/'}' are "
                        f"fused unweighted ({reason}): {why} (fusion.confidence_weighting; counted in diagnostics "
                        f"frames_unweighted_{reason}, warned once)")
        return None, reason

    def _drop(self, cam: _Camera, reason: str, message: str) -> None:
        self.drops[reason] += 1
        self.last_warning = f"depth frame from '{cam.namespace or '/'}' dropped ({reason}): {message}"
        self._limiter.warn(f"{reason} {cam.namespace}", self.last_warning)

    def _fuse(self, cam: _Camera, msg: Image, confidence_msg: Image | None = None, missing: str | None = None) -> None:
        """Integrate ``msg`` into the volume, weighted by ``confidence_msg`` with fusion.confidence_weighting
        (``missing``: why there is none); raises _Dropped with the reason when it cannot be fused."""
        from lingbot_depth_ros.fusion.tsdf import NothingToFuseError

        if cam.info is None:
            raise _Dropped("no_camera_info", "no depth/camera_info received yet")
        stamp = _stamp_ns(msg.header)
        try:
            depth = depth_m_from_image(msg)
            intrinsics = intrinsics_from_camera_info(cam.info, msg.width, msg.height, rectified=True)
        except LingbotDepthError as exc:
            raise _Dropped("bad_input", str(exc)) from None
        try:
            pose = self.camera_pose(cam, stamp, msg.header.frame_id)
        except PoseJumpError as exc:
            raise _Dropped("pose_jump", str(exc)) from None
        except LingbotDepthError as exc:
            raise _Dropped("no_pose", str(exc)) from None
        if cam.last_pose is not None:
            try:
                check_pose_speed(*cam.last_pose, stamp, pose, self.values["fusion.max_pose_speed_m_s"])
            except PoseJumpError as exc:
                cam.last_pose = (stamp, pose)  # the frames after the jump fuse from the new pose
                raise _Dropped("pose_jump", f"camera {exc} since its last fused frame: not fused (the map is "
                                            "kept; the next frames fuse from the new pose)") from None
        try:
            colour_msg = cam.colour.get(stamp)
            rgb = None
            if colour_msg is not None and (colour_msg.width, colour_msg.height) == (msg.width, msg.height):
                rgb = rgb_from_image(colour_msg)
            weights, unweighted = (self._confidence_weights(cam, msg, confidence_msg, missing) if self.weighting
                                   else (None, None))
            if self.fusion.config.confidence_min != self.values["fusion.confidence_min"]:
                self.fusion.set_confidence_min(self.values["fusion.confidence_min"])  # set at run time
            self.fusion.integrate(depth, intrinsics, pose, rgb=rgb, confidence=weights)
        except NothingToFuseError as exc:
            raise _Dropped("empty_depth", str(exc)) from None
        except LingbotDepthError as exc:
            raise _Dropped("bad_input", str(exc)) from None
        cam.last_pose = (stamp, pose)
        if unweighted is not None:
            self.unweighted[unweighted] += 1
        elif weights is not None:
            self.frames_weighted += 1
        if self.surfaces is not None:
            self.surfaces.saw_from(pose)  # fused/surfaces normals point towards the cameras that saw them

    # ------------------------------------------------------------------ outputs
    def publish_cloud(self) -> None:
        """Publish the fused cloud (skipped while nothing is fused)."""
        if self.fusion.stats.frames_integrated == 0:
            return
        xyz, rgb = self.fusion.point_cloud(downsample_m=self.values["fusion.publish_voxel_m"])
        header = Header(frame_id=self.map_frame, stamp=self.get_clock().now().to_msg())
        self.points_pub.publish(xyz_to_pointcloud2(xyz, header, rgb=rgb))

    def analyse_surfaces(self) -> None:
        """Hand the fused cloud to the surface worker (skipped while nothing is fused or it is still busy)."""
        if self.surfaces is None or self.fusion.stats.frames_integrated == 0 or not self.surfaces.idle():
            return
        xyz, _ = self.fusion.point_cloud()
        voxel = self.values["fusion.surfaces.voxel_m"] or self.fusion.config.voxel_size_m
        self.surfaces.submit(xyz, self.get_clock().now().to_msg(), self.values, self.source, self.map_frame, voxel)

    def destroy_node(self) -> None:
        self._close(release=False)
        super().destroy_node()

    def save(self, out_dir: Path) -> tuple[Path, Path, int, int]:
        """Write mesh.ply and fused.ply into ``out_dir``: (mesh path, cloud path, triangles, points)."""
        from lingbot_depth_ros.io.ply import write_ply

        out_dir.mkdir(parents=True, exist_ok=True)
        mesh_path, triangles = self.fusion.save_mesh(out_dir / "mesh.ply")
        xyz, rgb = self.fusion.point_cloud()
        cloud_path = write_ply(out_dir / "fused.ply", xyz, rgb)
        return mesh_path, cloud_path, triangles, len(xyz)

    def _on_save_mesh(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            mesh, cloud, triangles, points = self.save(Path(self.values["fusion.output_dir"]))
        except (LingbotDepthError, OSError) as exc:
            response.success, response.message = False, f"save failed: {exc}"
            return response
        except Exception as exc:  # noqa: BLE001 - last resort: a bug must not stop the node
            self.callback_errors += 1
            response.success, response.message = False, f"save failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
            return response
        response.success = True
        response.message = f"{mesh} ({triangles} triangles), {cloud} ({points} points)"
        self.get_logger().info(f"saved {response.message}")
        return response

    def _diagnose(self, status: StatusWrapper) -> None:
        diag = self.fusion.diagnostics()
        for key, value in diag.items():
            status.add(key, value)
        status.add("pose_source", self.source)
        status.add("frames_dropped", sum(self.drops.values()))
        for reason in DROP_REASONS:
            status.add(f"frames_dropped_{reason}", self.drops[reason])
        status.add("callback_errors", self.callback_errors)
        status.add("confidence_weighting", str(self.weighting).lower())
        if self.weighting:
            status.add("confidence_min", f"{self.values['fusion.confidence_min']:g}")
            status.add("frames_weighted", self.frames_weighted)
            for reason in UNWEIGHTED_REASONS:
                status.add(f"frames_unweighted_{reason}", self.unweighted[reason])
        if self.surfaces is not None:
            for key, value in self.surfaces.diagnose().items():
                status.add(key, value)
        status.add("last_warning", self.last_warning or "-")
        full = self.fusion.stats.blocks / max(self.fusion.config.max_blocks, 1)
        if full >= 0.9:
            status.summary(WARN, f"memory bound {full:.0%} full: the farthest blocks are being dropped")
        elif self.fusion.stats.frames_integrated == 0:
            dropped = sum(self.drops.values())
            status.summary(WARN, "nothing fused yet" + (f": {dropped} frames dropped, last: {self.last_warning}"
                                                        if dropped else ""))
        else:
            status.summary(OK, f"{self.fusion.stats.frames_integrated} frames fused, {diag['memory_mb']} of "
                               f"{diag['memory_bound_mb']} MB")


class DepthFusionNode(FusionNodeCore):
    """TSDF fusion of depth images at known poses (see the module docstring): works from construction (raises
    ConfigError for what it refuses)."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(FUSION_NODE_NAME, **node_kwargs)
        self._declare_parameters()
        self._load()
        self.diagnostics = Updater(self, period_s=1.0, hardware_id=self.values["fusion.device"])
        self._open(inputs_open=True)
        self._start_inputs()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(f"ready: {self._ready_line()}")


class ManagedFusionNode(FusionNodeCore, ManagedNode):
    """The fusion node as a managed (lifecycle) node (``lifecycle: true``): configure checks the parameters and
    makes the TSDF volume and the outputs, activate subscribes and starts publishing, deactivate stops fusing
    (the map stays: ``~/save_mesh`` still saves it), cleanup drops the map. Unconfigured, every parameter can be
    set (checked at configure)."""

    def __init__(self, **node_kwargs: Any) -> None:
        ManagedNode.__init__(self, FUSION_NODE_NAME, **node_kwargs)
        self._refused = self._declare_parameters(managed=True)
        self.configured = False
        self.diagnostics = Updater(self, period_s=1.0, hardware_id="unconfigured")
        self.diagnostics.add("lifecycle", self.diagnose_lifecycle)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.start(autostart=self.values[AUTOSTART] is True)

    def _configure(self) -> None:
        if self._refused:
            name, reason = next(iter(self._refused.items()))
            raise ConfigError(f"parameter {name}: {reason}")
        before, t0 = sample(), time.perf_counter()
        self._load()
        load_s, after = time.perf_counter() - t0, sample()
        self._open(inputs_open=False)
        self.configured = True
        self.get_logger().info(f"configured: TSDF volume made in {load_s:.2f} s, memory "
                               f"{describe_change(before, after)}; {self._ready_line()}; inputs subscribed at "
                               "activate")

    def _activate(self) -> None:
        self._start_inputs()
        self.get_logger().info("active: fusing")

    def _deactivate(self) -> None:
        self._stop_inputs()
        self.get_logger().info("inactive: inputs unsubscribed, the map stays (~/save_mesh still saves it)")

    def _cleanup(self) -> None:
        if "fusion" not in self.__dict__:  # nothing made (a configure refused before the volume)
            self._close(release=True)
            self.configured = False
            return
        before = sample()
        self._close(release=True)
        self.configured = False
        release_freed_memory()
        self.diagnostics.hardware_id = "unconfigured"
        self.get_logger().info(f"cleaned up: map released, memory {describe_change(before, sample())}")

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        """Unconfigured: any value (kept for configure, each checked); configured: as the plain node, the
        read-only parameters refused until cleanup."""
        for param in params:
            spec = PARAMS_BY_NAME.get(param.name)
            if spec is None or not spec.read_only or param.value == self.values[param.name]:
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
            if spec is not None:
                proposed[param.name] = float(param.value) if isinstance(spec.default, float) and isinstance(
                    param.value, int) else param.value
        try:
            check_values(proposed)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.values = proposed
        for param in params:
            self._refused.pop(param.name, None)
        return SetParametersResult(successful=True)


def usage() -> str:
    """``depth_fusion_node --help``: topics and every parameter with its default (from the parameter table)."""
    return usage_text("depth_fusion_node", "TSDF fusion of the dense depth of one or more depth nodes into a map "
                      "(needs the fusion extra, open3d).", FUSION_PARAMS, FUSION_NODE_TOPICS,
                      "depth_fusion_node --ros-args -p \"cameras:=[/front]\" -p fusion.pose_source:=tf",
                      "docs/fusion.md; ros2 launch lingbot_depth_ros fusion.launch.py --show-args")


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``depth_fusion_node`` executable."""
    return run_node(DepthFusionNode, FUSION_NODE_NAME, args, usage=usage, make_managed=ManagedFusionNode)


if __name__ == "__main__":
    sys.exit(main())
