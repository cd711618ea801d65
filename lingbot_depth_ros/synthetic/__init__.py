"""Procedural test scenes without ROS: analytic ray-cast RGB, ground-truth depth and simulated LiDAR."""

from lingbot_depth_ros.synthetic.generator import SceneFrame, SceneGenerator
from lingbot_depth_ros.synthetic.lidar import LidarConfig

__all__ = ["LidarConfig", "SceneFrame", "SceneGenerator"]
