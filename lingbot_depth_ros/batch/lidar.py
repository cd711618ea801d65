"""LiDAR PointCloud2 in bags -> sparse depth [m], with the depth node's own projection (``sparse_input:
pointcloud``). No rclpy.

The same steps as the node's ``LidarInput.sparse_depth``: x, y, z read with NaN points kept (the
projection drops them), the node's camera model of the CameraInfo (:mod:`lingbot_depth_ros.messages.camera_model`:
binning / ROI applied; K and D, or P without distortion when ``camera.rectified``), the fallback extrinsics from the
``lidar.*`` parameters and the
``lidar.min_depth_m`` / ``lidar.max_depth_m`` limits. Like a node without tf2_ros (or with
``lidar.use_tf: false``), the bag's /tf is not read: give the LiDAR pose with ``--param lidar.x_m=...``
(``lingbot-depth-eval --send-lidar`` prints the values of a bag's /tf_static).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lingbot_depth_ros.geometry.lidar_projection import lidar_to_sparse_depth, projection_model
from lingbot_depth_ros.messages.camera_model import camera_geometry
from lingbot_depth_ros.messages.pointcloud_fields import pointcloud_xyz
from lingbot_depth_ros.params.navigation import NAVIGATION_PARAMS_BY_NAME, lidar_extrinsics_from_params


class LidarProjector:
    """Projects bag PointCloud2 messages (rosbags) into the camera image of a CameraInfo (rosbags)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        v = {name: values.get(name, spec.default) for name, spec in NAVIGATION_PARAMS_BY_NAME.items()}
        self.optical_t_lidar = lidar_extrinsics_from_params(v)
        self.rectified = bool(values.get("camera.rectified", False))
        self.min_depth_m = float(v["lidar.min_depth_m"])
        self.max_depth_m = float(v["lidar.max_depth_m"])

    def sparse_depth(self, cloud: Any, info: Any, width: int, height: int) -> np.ndarray:
        """(height, width) float32 sparse depth [m] of ``cloud`` (0 = none).

        Raises:
            InputError / EncodingError: a CameraInfo for another image size, or a malformed cloud.
        """
        camera = camera_geometry(info, width, height, self.rectified).info  # what the node projects with
        intrinsics, distortion = projection_model(camera.k, camera.d, camera.distortion_model, camera.p, width,
                                                  height, self.rectified)
        return lidar_to_sparse_depth(pointcloud_xyz(cloud, skip_nans=False), self.optical_t_lidar, intrinsics,
                                     distortion, min_depth_m=self.min_depth_m, max_depth_m=self.max_depth_m)
