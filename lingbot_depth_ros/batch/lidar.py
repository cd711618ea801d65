"""LiDAR PointCloud2 in bags -> sparse depth [m], with the depth node's own projection (``sparse_input:
pointcloud``). No rclpy.

The same steps as the node's ``LidarInput.sparse_depth``: x, y, z read with NaN points kept (the
projection drops them), the camera model of the CameraInfo after binning / ROI (K and D, or P without
distortion when ``camera.rectified``), the fallback extrinsics from the ``lidar.*`` parameters and the
``lidar.min_depth_m`` / ``lidar.max_depth_m`` limits. Like a node without tf2_ros (or with
``lidar.use_tf: false``), the bag's /tf is not read: give the LiDAR pose with ``--param lidar.x_m=...``
(``lingbot-depth-eval --send-lidar`` prints the values of a bag's /tf_static).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.messages.pointcloud_fields import message_fields
from lingbot_depth_ros.geometry.intrinsics import SensorWindow, reduce_camera_matrix
from lingbot_depth_ros.geometry.lidar_projection import lidar_to_sparse_depth, projection_model
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
        roi = info.roi
        window = SensorWindow(binning_x=int(info.binning_x), binning_y=int(info.binning_y),
                              x_offset=int(roi.x_offset), y_offset=int(roi.y_offset), width=int(roi.width),
                              height=int(roi.height))
        if (int(info.width), int(info.height)) != (0, 0) and \
                window.image_size(int(info.width), int(info.height)) != (width, height):
            raise InputError(f"camera_info is for {info.width}x{info.height} but the image is {width}x{height}")
        k_full = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        p_full = np.asarray(info.p, dtype=np.float64).reshape(3, 4)
        k = reduce_camera_matrix(k_full, window)  # as camera_geometry's reduced CameraInfo, which the node projects
        if self.rectified and np.any(p_full[:, :3]):
            p = reduce_camera_matrix(p_full, window)
        else:
            p = np.zeros((3, 4))
            p[:, :3] = k
        intrinsics, distortion = projection_model(k.reshape(-1).tolist(), list(info.d), str(info.distortion_model),
                                                  p.reshape(-1).tolist(), width, height, self.rectified)
        xyz = message_fields(cloud, ("x", "y", "z")).astype(np.float32)
        return lidar_to_sparse_depth(xyz, self.optical_t_lidar, intrinsics, distortion,
                                     min_depth_m=self.min_depth_m, max_depth_m=self.max_depth_m)
