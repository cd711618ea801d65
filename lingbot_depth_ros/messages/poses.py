"""geometry_msgs poses and tf2_msgs transforms of any origin (rclpy or rosbags) -> 4x4 matrices."""

from __future__ import annotations

from typing import Any

import numpy as np

from lingbot_depth_ros.geometry.transforms import RigidTransform


def matrix_from_pose(msg: Any) -> np.ndarray:
    """4x4 float64 pose of a geometry_msgs/PoseStamped or nav_msgs/Odometry message."""
    pose = msg.pose.pose if hasattr(msg.pose, "covariance") else msg.pose
    p, q = pose.position, pose.orientation
    return RigidTransform.from_quaternion((q.x, q.y, q.z, q.w), (p.x, p.y, p.z)).matrix()


def matrix_from_tf(msg: Any) -> np.ndarray:
    """4x4 float64 T_parent_child of the first transform in a tf2_msgs/TFMessage."""
    t = msg.transforms[0].transform
    q = t.rotation
    return RigidTransform.from_quaternion((q.x, q.y, q.z, q.w), (t.translation.x, t.translation.y,
                                                                 t.translation.z)).matrix()
