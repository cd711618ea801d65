"""Procedural test scenes without ROS: analytic ray-cast RGB, ground-truth depth and simulated LiDAR."""

from lingbot_depth_ros.scene.generator import SceneFrame, SceneGenerator
from lingbot_depth_ros.scene.lidar import LidarConfig

__all__ = ["LidarConfig", "SceneFrame", "SceneGenerator"]
