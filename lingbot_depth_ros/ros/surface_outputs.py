"""The depth node's surface outputs: planar surfaces of the output depth, off the callback thread.

:class:`SurfaceOutputs` publishes ``surfaces`` (std_msgs/String, JSON schema ``lingbot_depth_ros/surfaces``
v1) and ``surfaces/markers`` (visualization_msgs/MarkerArray: outlines, normals, free squares, labels), both
stamped like the depth image and expressed in ``obstacles.base_frame`` (z up, gravity from TF or the
``obstacles.camera.*`` mounting; floor at ``obstacles.floor_z_m``).

The analysis runs on its own thread with a one-frame slot: :meth:`SurfaceOutputs.submit` (called where the
depth is published) only rate-limits (``surfaces.rate_hz``), looks the camera pose up and hands the frame
over; a frame arriving while the previous one is still analysed replaces the waiting one. Depth publishing
therefore never waits for surfaces. All geometry lives in :mod:`lingbot_depth_ros.surfaces`.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from rclpy.qos import QoSProfile
from std_msgs.msg import ColorRGBA, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.params.navigation import NAVIGATION_PARAMS_BY_NAME, camera_mounting_from_params
from lingbot_depth_ros.params.surfaces import SURFACE_PARAMS_BY_NAME, surface_config_from_params
from lingbot_depth_ros.ros.channel_link import NodeScope
from lingbot_depth_ros.ros.obstacle_outputs import TransformSource
from lingbot_depth_ros.surfaces import SurfaceConfig, SurfaceReport, find_surfaces_in_depth, report_to_json

SURFACES_TOPIC = "surfaces"
SURFACE_MARKERS_TOPIC = "surfaces/markers"
_COLORS = {"floor": (0.6, 0.6, 0.6), "horizontal": (0.1, 0.9, 0.2), "vertical": (0.2, 0.5, 1.0),
           "tilted": (1.0, 0.6, 0.1)}


def _point(p: np.ndarray) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def surface_markers_msg(report: SurfaceReport, header: Header, lifetime_s: float = 2.0) -> MarkerArray:
    """RViz markers: a DELETEALL, then per surface its outline (LINE_STRIP), normal (ARROW, 0.3 m), free square
    (LINE_STRIP, white) and a label (kind, height, area); namespaces surface_outline/normal/free/label, id =
    the surface's index in the report."""
    lifetime = Duration(sec=int(lifetime_s), nanosec=int(round((lifetime_s % 1) * 1e9)))
    markers = [Marker(header=Header(stamp=header.stamp, frame_id=header.frame_id), action=Marker.DELETEALL)]

    def marker(ns: str, i: int, kind: int, rgb: tuple[float, float, float]) -> Marker:
        m = Marker(header=Header(stamp=header.stamp, frame_id=header.frame_id), ns=ns, id=i, type=kind,
                   action=Marker.ADD, lifetime=lifetime, color=ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0))
        m.pose.orientation.w = 1.0
        return m

    for i, s in enumerate(report.surfaces):
        rgb = _COLORS[s.kind]
        lift = 0.005 * s.normal  # just above the surface so the lines are not hidden in its points
        outline = marker("surface_outline", i, Marker.LINE_STRIP, rgb)
        outline.scale.x = 0.02
        outline.points = [_point(c + lift) for c in list(s.extent.corners) + [s.extent.corners[0]]]
        arrow = marker("surface_normal", i, Marker.ARROW, rgb)
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.02, 0.04, 0.06
        arrow.points = [_point(s.centroid), _point(s.centroid + 0.3 * s.normal)]
        markers += [outline, arrow]
        if s.extent.free_center is not None:
            half = 0.5 * s.extent.free_side_m
            a, b = s.extent.axes
            square = [s.extent.free_center + lift + half * (su * a + sv * b)
                      for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))]
            free = marker("surface_free", i, Marker.LINE_STRIP, (1.0, 1.0, 1.0))
            free.scale.x = 0.015
            free.points = [_point(p) for p in square]
            markers.append(free)
        label = marker("surface_label", i, Marker.TEXT_VIEW_FACING, (1.0, 1.0, 1.0))
        label.pose.position = _point(s.centroid + 0.1 * s.normal + np.array([0.0, 0.0, 0.1]))
        label.scale.z = 0.1
        height = "" if s.height_m is None else f" h={s.height_m:.2f} m"
        label.text = f"{s.kind}{height} {s.extent.area_m2:.2f} m2"
        markers.append(label)
    return MarkerArray(markers=markers)


class SurfaceWorker(abc.ABC):
    """A worker thread that analyses the latest submitted job into a surfaces report and publishes it as JSON
    (``pub_json``) and, when the job's settings ask, markers (``pub_markers``). A newer job replaces one still
    waiting; nothing blocks on the analysis. Subclasses set ``_slot`` under ``_cond`` (then notify) and
    implement :meth:`_analyse`."""

    label = "surfaces"  # in log lines
    failure_note = ""  # appended to the analysis-failed warning
    marker_lifetime_s = 2.0

    def _start_worker(self, node: NodeScope, json_topic: str, markers_topic: str, qos: QoSProfile | int) -> None:
        self._node = node
        self.pub_json = node.create_publisher(String, json_topic, qos)
        self.pub_markers = node.create_publisher(MarkerArray, markers_topic, qos)
        self.analyses = 0
        self.failures = 0
        self.last_duration_s = 0.0
        self.last_count = 0
        self._slot: Any = None
        self._busy = False
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name=self.label.replace(" ", "_") + "_worker",
                                        daemon=True)
        self._thread.start()

    @abc.abstractmethod
    def _analyse(self, job: Any) -> tuple[SurfaceReport, SurfaceConfig, Header, bool]:
        """``(report, config, header, markers?)`` of one job from the slot."""

    def close(self) -> None:
        """Stop the worker thread (waits for the analysis in progress, at most 5 s)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=5.0)

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._slot
                self._slot = None
                self._busy = True
            t0 = time.monotonic()
            try:
                report, config, header, markers = self._analyse(job)
                text = report_to_json(report, config, stamp_sec=header.stamp.sec,
                                      stamp_nanosec=header.stamp.nanosec, frame_id=header.frame_id)
                if self._stopping:
                    return
                self.pub_json.publish(String(data=text))
                if markers:
                    self.pub_markers.publish(surface_markers_msg(report, header, lifetime_s=self.marker_lifetime_s))
                self.analyses += 1
                self.last_count = len(report.surfaces)
            except Exception as exc:  # noqa: BLE001 - a bad frame or map must not kill the worker
                self.failures += 1
                try:
                    self._node.get_logger().warning(f"{self.label}: analysis failed ({type(exc).__name__}: {exc})"
                                                    f"{self.failure_note}", throttle_duration_sec=5.0)
                except Exception:  # noqa: BLE001 - node already destroyed
                    return
            finally:
                with self._cond:
                    self._busy = False
            self.last_duration_s = time.monotonic() - t0


class SurfaceOutputs(SurfaceWorker):
    """Surfaces of the output depth on a worker thread, published on two topics (relative to the node)."""

    failure_note = "; frame skipped"

    def __init__(self, node: NodeScope, values: Mapping[str, Any], qos: QoSProfile,
                 transforms: TransformSource | None = None) -> None:
        self.reconfigure(values)
        self.transforms = transforms or TransformSource(node, bool(values.get("obstacles.use_tf", True)))
        self.skipped_rate = 0
        self.skipped_busy = 0
        self.skipped_no_tf = 0
        self._last_submit = -1.0e9
        self._start_worker(node, SURFACES_TOPIC, SURFACE_MARKERS_TOPIC, qos)

    def reconfigure(self, values: Mapping[str, Any]) -> None:
        """Apply surfaces.* and obstacles.* (frame, mounting, floor) values; raises ConfigError (nothing changed)
        when they are invalid. The frame waiting in the slot keeps the settings it was submitted with."""
        v = {name: values.get(name, spec.default)
             for name, spec in {**NAVIGATION_PARAMS_BY_NAME, **SURFACE_PARAMS_BY_NAME}.items()}
        config = surface_config_from_params(v)
        fallback_pose = camera_mounting_from_params(v)
        self.settings = {"config": config, "fallback_pose": fallback_pose, "base_frame": v["obstacles.base_frame"],
                         "floor_z_m": float(v["obstacles.floor_z_m"]), "enabled": bool(v["surfaces.enabled"]),
                         "rate_hz": float(v["surfaces.rate_hz"]), "decimation": int(v["surfaces.decimation"]),
                         "markers": bool(v["surfaces.markers"])}

    def submit(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics, image_header: Header) -> bool:
        """Hand one (H, W) float32 depth [m] frame to the worker unless disabled or rate-limited; never blocks
        on the analysis. Returns whether the frame was taken."""
        settings = self.settings
        if not settings["enabled"]:
            return False
        now = time.monotonic()
        if now - self._last_submit < 1.0 / settings["rate_hz"]:
            self.skipped_rate += 1
            return False
        base_t_optical = self.transforms.lookup(settings["base_frame"], image_header.frame_id, image_header.stamp,
                                                settings["fallback_pose"])
        if base_t_optical is None:
            self.skipped_no_tf += 1
            self._node.get_logger().warning(
                f"surfaces: no transform {settings['base_frame']} <- {image_header.frame_id} yet "
                f"({self.transforms.last_error}); frame skipped", throttle_duration_sec=5.0)
            return False
        self._last_submit = now
        header = Header(stamp=image_header.stamp, frame_id=settings["base_frame"])
        with self._cond:
            if self._slot is not None:
                self.skipped_busy += 1
            self._slot = (np.array(depth_m, dtype=np.float32, copy=True), intrinsics, base_t_optical, header,
                          settings["config"], settings)
            self._cond.notify()
        return True

    def _analyse(self, job: Any) -> tuple[SurfaceReport, SurfaceConfig, Header, bool]:
        depth, intrinsics, pose, header, config, settings = job
        report = find_surfaces_in_depth(depth, intrinsics, pose, config, stride=settings["decimation"],
                                        floor_z_m=settings["floor_z_m"])
        return report, config, header, settings["markers"]

    def diagnose(self) -> dict[str, str]:
        """Key/values for the node's diagnostics."""
        return {"surfaces analysed": str(self.analyses), "surfaces last duration [s]": f"{self.last_duration_s:.3f}",
                "surfaces skipped (rate/busy/no tf)": f"{self.skipped_rate}/{self.skipped_busy}/{self.skipped_no_tf}",
                "surfaces failures": str(self.failures)}
