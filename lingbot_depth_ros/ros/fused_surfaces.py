"""Planar surfaces of the fused map for ``depth_fusion_node`` (``fusion.surfaces.*``), off the integration path.

:class:`FusedSurfaces` publishes ``fused/surfaces`` (std_msgs/String, JSON schema ``lingbot_depth_ros/surfaces``
v1, the same as the depth node's ``surfaces``) and ``fused/surfaces/markers`` (MarkerArray, the depth node's
marker builder). Frame and gravity:

* pose sources ``tf`` / ``odometry`` / ``pose``: the map frame, taken as z up (gravity = -z, as for REP 105
  ``map``/``odom``); the floor is the lowest horizontal surface (``floor_source`` "estimated");
* ``none``: the map is the first camera's optical frame, so the cloud is turned into
  ``fusion.surfaces.base_frame`` with the mounting ``fusion.surfaces.camera_*`` (like the depth node's
  ``obstacles.camera.*`` fallback) and the floor is z = 0 there ("given").

The node's timer calls :meth:`FusedSurfaces.due` / :meth:`FusedSurfaces.submit` with a freshly extracted
cloud (a copy); the analysis runs on a worker thread with a one-cloud slot, so integration never waits for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import numpy as np
from rclpy.qos import QoSProfile
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from lingbot_depth_ros.geometry.transforms import RigidTransform, camera_pose_from_mounting
from lingbot_depth_ros.ros.surface_outputs import surface_markers_msg
from lingbot_depth_ros.ros.surface_params import surface_config_from_params
from lingbot_depth_ros.surfaces import SurfaceConfig, find_surfaces_in_cloud, report_to_json

FUSED_SURFACES_TOPIC = "fused/surfaces"
FUSED_SURFACE_MARKERS_TOPIC = "fused/surfaces/markers"
PREFIX = "fusion.surfaces."


def fused_surface_config(values: Mapping[str, Any]) -> SurfaceConfig:
    """:class:`SurfaceConfig` from the fusion.surfaces.* values (ConfigError if invalid)."""
    return surface_config_from_params({"surfaces." + k[len(PREFIX):]: v for k, v in values.items()
                                       if k.startswith(PREFIX)})


def gravity_frame(values: Mapping[str, Any], pose_source: str, map_frame: str) -> tuple[str, RigidTransform | None]:
    """(frame_id of the report, frame_T_map or None when the map is already z up)."""
    if pose_source != "none":
        return map_frame, None
    mount = camera_pose_from_mounting(height_m=float(values[PREFIX + "camera_height_m"]),
                                      pitch_rad=float(values[PREFIX + "camera_pitch_rad"]),
                                      roll_rad=float(values[PREFIX + "camera_roll_rad"]))
    return str(values[PREFIX + "base_frame"]), mount


class FusedSurfaces:
    """Worker thread analysing fused clouds; two publishers relative to ``node``."""

    def __init__(self, node: Any, qos: QoSProfile | int = 1) -> None:
        self._node = node
        self.pub_json = node.create_publisher(String, FUSED_SURFACES_TOPIC, qos)
        self.pub_markers = node.create_publisher(MarkerArray, FUSED_SURFACE_MARKERS_TOPIC, qos)
        self.analyses = 0
        self.failures = 0
        self.last_duration_s = 0.0
        self.last_count = 0
        self._slot: tuple[np.ndarray, Header, dict[str, Any]] | None = None
        self._busy = False
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="fused_surfaces_worker", daemon=True)
        self._thread.start()

    def idle(self) -> bool:
        """True when no cloud waits or is being analysed (the caller then extracts a new one)."""
        with self._cond:
            return self._slot is None and not self._busy

    def submit(self, xyz_map: np.ndarray, stamp: Any, values: Mapping[str, Any], pose_source: str,
               map_frame: str, voxel_m: float) -> None:
        """Hand an (N, 3) float32 cloud [m] in the map frame to the worker (replaces a waiting one); never blocks
        on the analysis."""
        frame_id, frame_t_map = gravity_frame(values, pose_source, map_frame)
        settings = {"config": fused_surface_config(values), "frame_t_map": frame_t_map, "voxel_m": voxel_m,
                    "floor_z_m": None if frame_t_map is None else 0.0,
                    "markers": bool(values[PREFIX + "markers"])}
        with self._cond:
            self._slot = (xyz_map, Header(stamp=stamp, frame_id=frame_id), settings)
            self._cond.notify()

    def close(self) -> None:
        """Stop the worker (waits for the analysis in progress, at most 5 s)."""
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
                xyz, header, settings = self._slot
                self._slot = None
                self._busy = True
            t0 = time.monotonic()
            try:
                pts = np.asarray(xyz, dtype=np.float64)
                if settings["frame_t_map"] is not None:
                    pts = pts @ settings["frame_t_map"].rotation.T + settings["frame_t_map"].translation
                config = settings["config"]
                report = find_surfaces_in_cloud(pts, config, voxel_m=settings["voxel_m"],
                                                floor_z_m=settings["floor_z_m"])
                text = report_to_json(report, config, stamp_sec=header.stamp.sec,
                                      stamp_nanosec=header.stamp.nanosec, frame_id=header.frame_id)
                if self._stopping:
                    return
                self.pub_json.publish(String(data=text))
                if settings["markers"]:
                    self.pub_markers.publish(surface_markers_msg(report, header, lifetime_s=0.0))
                self.analyses += 1
                self.last_count = len(report.surfaces)
            except Exception as exc:  # noqa: BLE001 - a bad map must not kill the worker
                self.failures += 1
                try:
                    self._node.get_logger().warning(f"fused surfaces: analysis failed ({type(exc).__name__}: "
                                                    f"{exc})", throttle_duration_sec=5.0)
                except Exception:  # noqa: BLE001 - node already destroyed
                    return
            finally:
                with self._cond:
                    self._busy = False
            self.last_duration_s = time.monotonic() - t0

    def diagnose(self) -> dict[str, str]:
        """Key/values for the node's diagnostics."""
        return {"fused surfaces analysed": str(self.analyses), "fused surfaces found": str(self.last_count),
                "fused surfaces last duration [s]": f"{self.last_duration_s:.3f}",
                "fused surfaces failures": str(self.failures)}
