"""Camera geometry without ROS: intrinsics, back-projection, projection."""

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

__all__ = ["CameraIntrinsics"]
