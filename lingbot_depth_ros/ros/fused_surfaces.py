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
The node reports each fused frame's camera pose (:meth:`FusedSurfaces.saw_from`): the surfaces' normals point
towards the cameras that saw them (``find_surfaces_in_cloud(viewpoint=...)``; without any, up).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
from rclpy.qos import QoSProfile
from std_msgs.msg import Header

from lingbot_depth_ros.geometry.transforms import RigidTransform, camera_pose_from_mounting
from lingbot_depth_ros.params.surfaces import surface_config_from_params
from lingbot_depth_ros.ros.channel_link import NodeScope
from lingbot_depth_ros.ros.surface_outputs import SurfaceWorker
from lingbot_depth_ros.surfaces import SurfaceConfig, SurfaceReport, find_surfaces_in_cloud

FUSED_SURFACES_TOPIC = "fused/surfaces"
FUSED_SURFACE_MARKERS_TOPIC = "fused/surfaces/markers"
PREFIX = "fusion.surfaces."
CAMERA_CELL_M = 0.25  # camera centres closer than this (same grid cell) are kept once
MAX_CAMERAS = 512  # camera centres kept (the most recently seen cells)


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


class FusedSurfaces(SurfaceWorker):
    """Worker thread analysing fused clouds; two publishers relative to ``node``."""

    label = "fused surfaces"
    marker_lifetime_s = 0.0

    def __init__(self, node: NodeScope, qos: QoSProfile | int = 1) -> None:
        self._cameras: dict[tuple[int, int, int], np.ndarray] = {}  # grid cell -> camera centre in the map [m]
        self._cameras_lock = threading.Lock()  # fusion callbacks and the surfaces timer may run concurrently
        self._start_worker(node, FUSED_SURFACES_TOPIC, FUSED_SURFACE_MARKERS_TOPIC, qos)

    def saw_from(self, map_from_camera: np.ndarray) -> None:
        """Record the centre of a camera whose frame was fused (4x4 ``map_from_camera``): one per
        :data:`CAMERA_CELL_M` cell, the :data:`MAX_CAMERAS` most recently seen cells."""
        centre = np.asarray(map_from_camera, dtype=np.float64)[:3, 3].copy()
        cell = (int(np.floor(centre[0] / CAMERA_CELL_M)), int(np.floor(centre[1] / CAMERA_CELL_M)),
                int(np.floor(centre[2] / CAMERA_CELL_M)))
        with self._cameras_lock:
            self._cameras.pop(cell, None)
            self._cameras[cell] = centre  # newest last
            if len(self._cameras) > MAX_CAMERAS:
                del self._cameras[next(iter(self._cameras))]

    def idle(self) -> bool:
        """True when no cloud waits or is being analysed (the caller then extracts a new one)."""
        with self._cond:
            return self._slot is None and not self._busy

    def submit(self, xyz_map: np.ndarray, stamp: Any, values: Mapping[str, Any], pose_source: str,
               map_frame: str, voxel_m: float) -> None:
        """Hand an (N, 3) float32 cloud [m] in the map frame to the worker (replaces a waiting one); never blocks
        on the analysis."""
        frame_id, frame_t_map = gravity_frame(values, pose_source, map_frame)
        with self._cameras_lock:
            cameras = np.array(list(self._cameras.values())) if self._cameras else None
        settings = {"config": fused_surface_config(values), "frame_t_map": frame_t_map, "voxel_m": voxel_m,
                    "floor_z_m": None if frame_t_map is None else 0.0,
                    "markers": bool(values[PREFIX + "markers"]), "cameras": cameras}
        with self._cond:
            self._slot = (xyz_map, Header(stamp=stamp, frame_id=frame_id), settings)
            self._cond.notify()

    def _analyse(self, job: Any) -> tuple[SurfaceReport, SurfaceConfig, Header, bool]:
        xyz, header, settings = job
        pts = np.asarray(xyz, dtype=np.float64)
        cameras = settings["cameras"]
        if settings["frame_t_map"] is not None:
            to_frame = settings["frame_t_map"]
            pts = pts @ to_frame.rotation.T + to_frame.translation
            cameras = None if cameras is None else cameras @ to_frame.rotation.T + to_frame.translation
        config = settings["config"]
        report = find_surfaces_in_cloud(pts, config, voxel_m=settings["voxel_m"], floor_z_m=settings["floor_z_m"],
                                        viewpoint=cameras)
        return report, config, header, settings["markers"]

    def diagnose(self) -> dict[str, str]:
        """Key/values for the node's diagnostics."""
        return {"fused surfaces analysed": str(self.analyses), "fused surfaces found": str(self.last_count),
                "fused surfaces last duration [s]": f"{self.last_duration_s:.3f}",
                "fused surfaces failures": str(self.failures)}
