"""The depth node's camera poses (``temporal.pose_source``) for the temporal filter and the LiDAR sweeps.

* ``none``: no pose (a standing camera); nothing is subscribed.
* ``tf``: tf2_ros lookup ``temporal.fixed_frame`` <- the image's frame at the image stamp (needs tf2_ros).
* ``odometry``: nav_msgs/Odometry on ``temporal.odom_topic`` (T_fixed_base, interpolated to the image stamp) x the
  mounting ``temporal.mount_*`` (T_base_camera, REP 103 optical frame appended).
* ``pose``: geometry_msgs/PoseStamped of the camera optical frame on ``<camera>/<temporal.pose_topic>``
  (interpolated).

A pose message that is not finite or whose quaternion is not unit (within 1e-3) is rejected (said once per
reason, remembered as the detail of the next missing pose); an image stamp with no pose within
``temporal.max_pose_age_s`` gets ``FramePose(None, why)``: the stage resets its history and says so once.
The geometry is ROS-free (:mod:`lingbot_depth_ros.fusion.poses`, :mod:`lingbot_depth_ros.pipeline.temporal_filter`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.fusion.poses import PoseBuffer, mounting_matrix
from lingbot_depth_ros.pipeline.temporal_filter import pose_matrix
from lingbot_depth_ros.pipeline.temporal_stage import NO_POSE_SOURCE, STANDING, FramePose
from lingbot_depth_ros.ros.channel_link import TopicScope

#: poses kept per buffer (a 100 Hz source: 20 s)
POSE_CAPACITY = 2000


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class _Poses:
    """Time-stamped poses of one source and the fixed frame they are in (written by callbacks, read by the worker)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buffer = PoseBuffer(capacity=POSE_CAPACITY, max_speed_m_s=0.0)
        self.frame_id = ""
        self.rejected = ""   # why the last rejected message was rejected ("" = none)


class PoseLookup:
    """Camera poses at image stamps from ``temporal.pose_source`` (see the module docstring).

    ``node``: the depth node; ``cameras``: its camera names ("" = the single camera); ``inputs_open``: subscribe
    now (else at :meth:`open_inputs`, the managed node's activate). Raises ConfigError for the tf source without
    tf2_ros.
    """

    def __init__(self, node: Node, values: Mapping[str, Any], cameras: list[str], *, inputs_open: bool) -> None:
        self.source: str = values["temporal.pose_source"]
        self._node = node
        self._scope = TopicScope(node, "", inputs_open=inputs_open)
        self._warned: set[str] = set()
        self._odometry: _Poses | None = None
        self._camera_poses: dict[str, _Poses] = {}
        self._tf_buffer: Any = None
        self._tf_listener: Any = None
        if self.source == "tf":
            try:
                import tf2_ros
            except ImportError:
                raise ConfigError("temporal.pose_source 'tf' needs tf2_ros (apt: ros-<distro>-tf2-ros-py); use "
                                  "odometry, pose or none without it") from None
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, node)
        elif self.source == "odometry":
            self._odometry = _Poses()
            self._scope.create_subscription(Odometry, values["temporal.odom_topic"], self._on_odometry, 50)
        elif self.source == "pose":
            for camera in cameras:
                poses = _Poses()
                self._camera_poses[camera] = poses
                topic = f"{camera}/{values['temporal.pose_topic']}" if camera else values["temporal.pose_topic"]
                self._scope.create_subscription(PoseStamped, topic,
                                                lambda m, p=poses: self._on_pose(p, m.header, m.pose), 50)

    # -- inputs ------------------------------------------------------------------------------
    def open_inputs(self) -> None:
        self._scope.open_inputs()

    def close_inputs(self) -> None:
        self._scope.close_inputs()

    def close(self) -> None:
        """Destroy the subscriptions (and tf2's listener)."""
        self._scope.close()
        if self._tf_listener is not None and hasattr(self._tf_listener, "unregister"):
            self._tf_listener.unregister()
        self._tf_listener = self._tf_buffer = None

    def _on_odometry(self, msg: Odometry) -> None:
        assert self._odometry is not None
        self._on_pose(self._odometry, msg.header, msg.pose.pose)

    def _on_pose(self, poses: _Poses, header: Any, pose: Any) -> None:
        p, q = pose.position, pose.orientation
        try:
            matrix = pose_matrix((q.x, q.y, q.z, q.w), (p.x, p.y, p.z))
        except InputError as exc:   # NaN, non-unit quaternion: rejected, said once per reason
            reason = str(exc)
            with poses.lock:
                poses.rejected = f"pose message rejected: {reason}"
            self._warn_once(reason.split(":")[0], f"temporal.pose_source {self.source}: {poses.rejected} (said "
                                                  "once; the frames without a pose reset the temporal history)")
            return
        with poses.lock:
            if poses.frame_id and header.frame_id != poses.frame_id:
                poses.buffer = PoseBuffer(capacity=POSE_CAPACITY, max_speed_m_s=0.0)   # another fixed frame
            poses.frame_id = header.frame_id
            poses.buffer.add(_stamp_ns(header), matrix)
            poses.rejected = ""

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._node.get_logger().warning(text)

    # -- lookups (worker thread) -------------------------------------------------------------
    def pose_at(self, camera: str, stamp_ns: int, frame_id: str, values: Mapping[str, Any]) -> FramePose:
        """The camera's pose (``world_T_camera``, optical frame) at ``stamp_ns`` (the image stamp), or why none."""
        if self.source == NO_POSE_SOURCE:
            return STANDING
        max_age_ns = int(values["temporal.max_pose_age_s"] * 1e9)
        if self.source == "tf":
            return self._tf_pose(stamp_ns, frame_id, values["temporal.fixed_frame"])
        poses = self._odometry if self.source == "odometry" else self._camera_poses.get(camera)
        if poses is None:
            return FramePose(None, f"no pose source for camera '{camera}'")
        with poses.lock:
            buffer = poses.buffer
            buffer.max_extrapolation_ns, buffer.max_gap_ns = max_age_ns, 2 * max_age_ns
            try:
                pose = buffer.lookup(stamp_ns)
            except InputError as exc:
                detail = f"{exc}; {poses.rejected}" if poses.rejected else str(exc)
                return FramePose(None, f"no pose ({self.source}) within {values['temporal.max_pose_age_s']:g} s of "
                                       f"the image stamp: {detail}", poses.frame_id)
            fixed_frame = poses.frame_id
        if self.source == "odometry":
            mount = mounting_matrix([values[f"temporal.mount_{a}"] for a in ("x", "y", "z")],
                                    [values[f"temporal.mount_{a}"] for a in ("roll", "pitch", "yaw")])
            pose = pose @ mount
        return FramePose(pose, None, fixed_frame)

    def _tf_pose(self, stamp_ns: int, frame_id: str, fixed_frame: str) -> FramePose:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            tf = self._tf_buffer.lookup_transform(fixed_frame, frame_id, Time(nanoseconds=stamp_ns),
                                                  timeout=Duration(seconds=0.0))
        except Exception as exc:  # noqa: BLE001 - tf2 raises several lookup exception types
            return FramePose(None, f"no transform {fixed_frame} <- {frame_id} at the image stamp: {exc}", fixed_frame)
        t, q = tf.transform.translation, tf.transform.rotation
        try:
            return FramePose(pose_matrix((q.x, q.y, q.z, q.w), (t.x, t.y, t.z)), None, fixed_frame)
        except InputError as exc:
            return FramePose(None, f"transform {fixed_frame} <- {frame_id} rejected: {exc}", fixed_frame)

