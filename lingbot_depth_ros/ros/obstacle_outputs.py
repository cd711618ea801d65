"""The depth node's obstacle outputs (sectors, LaserScan, markers) and its LiDAR point-cloud input.

- :class:`ObstacleOutputs` analyses each output depth frame and publishes ``obstacles/scan``
  (sensor_msgs/LaserScan), ``obstacles/recommendation`` (std_msgs/String, JSON) and ``obstacles/markers``
  (visualization_msgs/MarkerArray), all stamped like the depth image, in ``obstacles.base_frame``.
- :class:`LidarInput` turns a ``sensor_msgs/PointCloud2`` into a sparse depth image for the estimator.
- :class:`TransformSource` resolves frames with tf2 when ``tf2_ros`` is importable (and enabled), else
  returns the fixed transform built from parameters. With tf2 in use, a failed lookup returns None (the
  caller skips that frame and warns); it never silently falls back to parameters.

All geometry lives in :mod:`lingbot_depth_ros.navigation` and :mod:`lingbot_depth_ros.geometry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import rclpy.time
from geometry_msgs.msg import Quaternion, Transform, Vector3
from rclpy.qos import QoSProfile
from sensor_msgs.msg import LaserScan, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from lingbot_depth_ros.confidence.gating import NO_GATES, ObstacleGates, gate_depth
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.lidar_projection import (
    ProjectionCounts,
    lidar_to_sparse_depth_counted,
    projection_model,
)
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.messages.camera_model import CameraInfoFields
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_xyz
from lingbot_depth_ros.navigation.scan import dense_scan, sector_scan
from lingbot_depth_ros.navigation.sectors import ObstacleSectorAnalyzer, SectorReport
from lingbot_depth_ros.params.navigation import (
    NAVIGATION_PARAMS_BY_NAME,
    camera_mounting_from_params,
    lidar_extrinsics_from_params,
    sector_config_from_params,
)
from lingbot_depth_ros.ros.channel_link import NodeScope
from lingbot_depth_ros.ros.navigation_msgs import laser_scan_msg, recommendation_msg, sector_markers_msg

SCAN_TOPIC = "obstacles/scan"
RECOMMENDATION_TOPIC = "obstacles/recommendation"
MARKERS_TOPIC = "obstacles/markers"


def rigid_transform_from_msg(transform: Transform) -> RigidTransform:
    """``geometry_msgs/Transform`` (as in a tf2 TransformStamped) -> :class:`RigidTransform`."""
    q, t = transform.rotation, transform.translation
    return RigidTransform.from_quaternion([q.x, q.y, q.z, q.w], translation=[t.x, t.y, t.z])


def transform_msg_from_rigid(transform: RigidTransform) -> Transform:
    """:class:`RigidTransform` -> ``geometry_msgs/Transform``."""
    x, y, z, w = (float(c) for c in transform.quaternion())
    tx, ty, tz = (float(c) for c in transform.translation)
    return Transform(translation=Vector3(x=tx, y=ty, z=tz), rotation=Quaternion(x=x, y=y, z=z, w=w))


#: Class names of the tf2 lookup errors (tf2_ros.TransformException and its subclasses).
TF2_ERROR_NAMES = frozenset({"TransformException", "LookupException", "ConnectivityException",
                             "ExtrapolationException", "InvalidArgumentException", "TimeoutException"})


def tf2_error_types() -> tuple[type[BaseException], ...]:
    """The tf2_ros lookup exception types when tf2_ros is importable, else ``()``."""
    try:
        import tf2_ros  # not a hard dependency: absent on pip-only installs
    except ImportError:
        return ()
    return (tf2_ros.LookupException, tf2_ros.ConnectivityException, tf2_ros.ExtrapolationException,
            tf2_ros.TransformException)


def is_tf2_error(exc: BaseException, tf2_types: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` is a tf2 lookup failure: by the tf2_ros types when given, else by class name."""
    if tf2_types:
        return isinstance(exc, tf2_types)
    return any(cls.__name__ in TF2_ERROR_NAMES for cls in type(exc).__mro__)


class TransformSource:
    """``target_T_source`` from tf2 (when installed and ``use_tf``) or a fixed fallback transform.

    ``buffer``: an object with tf2_ros.Buffer's ``lookup_transform(target, source, time)`` returning a
    ``geometry_msgs/TransformStamped`` (default: a tf2_ros.Buffer fed by a TransformListener on ``node``).
    """

    def __init__(self, node: NodeScope, use_tf: bool, buffer: Any = None) -> None:
        self._node = node
        self._buffer: Any = None
        self._listener: Any = None
        self._errors = tf2_error_types()
        self.last_error = ""
        if use_tf and buffer is not None:
            self._buffer = buffer
        elif use_tf:
            try:
                import tf2_ros  # not a hard dependency: absent on pip-only installs
            except ImportError:
                node.get_logger().info("tf2_ros is not installed: using the mounting parameters for frames")
            else:
                self._buffer = tf2_ros.Buffer()
                self._listener = tf2_ros.TransformListener(self._buffer, node)

    @property
    def uses_tf(self) -> bool:
        return self._buffer is not None

    def lookup(self, target: str, source: str, stamp: Any, fallback: RigidTransform) -> RigidTransform | None:
        """``target_T_source`` at ``stamp`` (builtin_interfaces/Time); the latest transform if that time is not
        available (yet); None when tf2 has neither (``last_error`` says why). Without tf2 returns ``fallback``.
        Errors other than tf2 lookup failures propagate."""
        if self._buffer is None:
            return fallback
        for when in (rclpy.time.Time.from_msg(stamp), rclpy.time.Time()):
            try:
                return rigid_transform_from_msg(self._buffer.lookup_transform(target, source, when).transform)
            except Exception as exc:
                if not is_tf2_error(exc, self._errors):
                    raise
                self.last_error = f"{type(exc).__name__}: {exc}"
        return None


class ObstacleOutputs:
    """Obstacle sectors on every depth frame, published on three topics (relative to the node's namespace)."""

    def __init__(self, node: NodeScope, values: Mapping[str, Any], qos: QoSProfile) -> None:
        self._node = node
        self.reconfigure(values)
        self.transforms = TransformSource(node, bool(values.get("obstacles.use_tf", True)))
        self.pub_scan = node.create_publisher(LaserScan, SCAN_TOPIC, qos)
        self.pub_recommendation = node.create_publisher(String, RECOMMENDATION_TOPIC, qos)
        self.pub_markers = node.create_publisher(MarkerArray, MARKERS_TOPIC, qos)
        self.skipped_no_tf = 0

    def reconfigure(self, values: Mapping[str, Any]) -> None:
        """Apply new obstacles.* values (missing names take defaults); resets the hysteresis state.

        Raises ConfigError (nothing changed) when the values are inconsistent. ``obstacles.use_tf`` and the
        topics are fixed at construction.
        """
        v = {name: values.get(name, spec.default) for name, spec in NAVIGATION_PARAMS_BY_NAME.items()}
        config = sector_config_from_params(v)
        fallback_pose = camera_mounting_from_params(v)
        self.config = config
        self.analyzer = ObstacleSectorAnalyzer(config)
        self.scan_analyzer = ObstacleSectorAnalyzer(config)  # the scan's own analysis when its gate differs
        self.fallback_pose = fallback_pose
        self.base_frame: str = v["obstacles.base_frame"]
        self.scan_mode: str = v["obstacles.scan_mode"]
        self.dense_rays: int = v["obstacles.dense_rays"]
        self.dense_min_points: int = v["obstacles.dense_min_points"]
        self.markers_enabled: bool = v["obstacles.markers"]

    def process(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics, image_header: Header,
                scan_time_s: float = 0.0, confidence: np.ndarray | None = None,
                gates: ObstacleGates = NO_GATES) -> SectorReport | None:
        """Analyse (H, W) float32 depth [m] (NaN invalid) of the image ``image_header`` and publish.

        ``confidence``: the depth's (H, W) confidence (0..1, NaN where the depth is NaN) or None; ``gates``: the
        minimum confidence of the pixels the sectors and the scan use (``lingbot_depth_ros.confidence.gating``:
        gated pixels count as invalid, so they never make a sector "clear" or a ray +Inf).

        Returns the (sectors') report, or None when the camera pose is unknown (tf2 in use but no transform yet).
        """
        base_t_optical = self.transforms.lookup(self.base_frame, image_header.frame_id, image_header.stamp,
                                                self.fallback_pose)
        if base_t_optical is None:
            self.skipped_no_tf += 1
            self._node.get_logger().warning(
                f"obstacles: no transform {self.base_frame} <- {image_header.frame_id} yet "
                f"({self.transforms.last_error}); frame skipped",
                throttle_duration_sec=5.0)
            return None
        report = self.analyzer.analyze_depth(gate_depth(depth_m, confidence, gates.sectors_min), intrinsics,
                                             base_t_optical)
        scan_report = report
        if confidence is not None and gates.scan_min != gates.sectors_min:
            scan_report = self.scan_analyzer.analyze_depth(gate_depth(depth_m, confidence, gates.scan_min),
                                                           intrinsics, base_t_optical)
        header = Header(stamp=image_header.stamp, frame_id=self.base_frame)
        if self.scan_mode == "dense":
            scan = dense_scan(scan_report.ground, self.config, self.dense_rays, self.dense_min_points)
        else:
            scan = sector_scan(scan_report, self.config)
        self.pub_scan.publish(laser_scan_msg(scan, header, scan_time_s))
        self.pub_recommendation.publish(recommendation_msg(report, self.config, header))
        if self.markers_enabled:
            self.pub_markers.publish(sector_markers_msg(report, self.config, header))
        return report


def rejection_summary(counts: ProjectionCounts, min_depth_m: float, max_depth_m: float) -> str:
    """One line: how many LiDAR points were usable and, largest first, why the others were dropped."""
    reasons: list[tuple[int, str]] = []
    if counts.too_far:
        far = f"{counts.too_far} beyond lidar.max_depth_m ({max_depth_m:g} m)"
        if counts.median_far_z_m >= 200.0:  # a real LiDAR in metres has no bulk of returns that far
            far += f", median {counts.median_far_z_m:.0f} m - is the cloud in millimetres? (points must be in metres)"
        reasons.append((counts.too_far, far))
    if counts.behind:
        reasons.append((counts.behind, f"{counts.behind} behind the camera"))
    if counts.too_close:
        reasons.append((counts.too_close, f"{counts.too_close} closer than lidar.min_depth_m ({min_depth_m:g} m)"))
    if counts.outside_image:
        reasons.append((counts.outside_image, f"{counts.outside_image} outside the camera image"))
    if counts.non_finite:
        reasons.append((counts.non_finite, f"{counts.non_finite} non-finite (NaN/inf)"))
    text = f"LiDAR cloud: {counts.in_image} of {counts.total} points usable"
    if reasons:
        text += ": " + ", ".join(r for _, r in sorted(reasons, key=lambda item: -item[0]))
    # A spinning LiDAR always has points behind the camera; wrong extrinsics show as the points in front
    # missing the image (or none in front at all).
    in_front = counts.too_close + counts.too_far + counts.outside_image
    if counts.outside_image > counts.too_close + counts.too_far or (in_front == 0 and counts.behind > 0):
        text += " (check the lidar.* extrinsics or the TF between the frames)"
    return text


class LidarInput:
    """PointCloud2 -> sparse depth [m] in the camera image (nearest point per pixel, 0 = none)."""

    def __init__(self, node: NodeScope, values: Mapping[str, Any]) -> None:
        self._node = node
        self.reconfigure(values)
        self.transforms = TransformSource(node, bool(values.get("lidar.use_tf", True)))
        self.skipped_no_tf = 0
        self.last_counts = ProjectionCounts(total=0)

    def reconfigure(self, values: Mapping[str, Any]) -> None:
        """Apply new lidar.* values (extrinsics fallback, depth limits) and ``camera.rectified`` (project with P,
        no distortion, when true; K and D otherwise); use_tf is fixed."""
        v = {name: values.get(name, spec.default) for name, spec in NAVIGATION_PARAMS_BY_NAME.items()}
        self.fallback_extrinsics = lidar_extrinsics_from_params(v)
        self.rectified = bool(values.get("camera.rectified", False))
        self.min_depth_m: float = v["lidar.min_depth_m"]
        self.max_depth_m: float = v["lidar.max_depth_m"]

    def sparse_depth(self, cloud: PointCloud2, camera_info: CameraInfoFields, camera_frame: str, width: int,
                     height: int) -> np.ndarray | None:
        """(height, width) float32 sparse depth of ``cloud`` seen by the camera of ``camera_info``
        (optical frame ``camera_frame``); None when tf2 is in use and the transform is not available."""
        optical_t_lidar = self.transforms.lookup(camera_frame, cloud.header.frame_id, cloud.header.stamp,
                                                 self.fallback_extrinsics)
        if optical_t_lidar is None:
            self.skipped_no_tf += 1
            self._node.get_logger().warning(
                f"lidar: no transform {camera_frame} <- {cloud.header.frame_id} yet ({self.transforms.last_error}); "
                "cloud skipped",
                throttle_duration_sec=5.0)
            return None
        if (camera_info.width, camera_info.height) not in ((0, 0), (width, height)):
            raise InputError(f"camera_info is for {camera_info.width}x{camera_info.height} but the image is "
                             f"{width}x{height}")
        intrinsics, distortion = projection_model(camera_info.k, camera_info.d, camera_info.distortion_model,
                                                  camera_info.p, width, height, self.rectified)
        depth, self.last_counts = lidar_to_sparse_depth_counted(
            pointcloud_xyz(cloud, skip_nans=False), optical_t_lidar, intrinsics, distortion,
            min_depth_m=self.min_depth_m, max_depth_m=self.max_depth_m)
        return depth

    def rejection_summary(self) -> str:
        """Why the last cloud's points were not used, e.g. ``LiDAR cloud: 0 of 12000 points usable: 11800 beyond
        lidar.max_depth_m (80 m) - is the cloud in millimetres?, 200 behind the camera``."""
        return rejection_summary(self.last_counts, self.min_depth_m, self.max_depth_m)
