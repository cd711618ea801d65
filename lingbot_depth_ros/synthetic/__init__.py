"""Procedural scenes and simulated inputs without ROS: ray-cast RGB, ground-truth depth, simulated LiDAR and
sparse samples of ground truth."""

from lingbot_depth_ros.synthetic.generator import SceneFrame, SceneGenerator
from lingbot_depth_ros.synthetic.lidar import LidarConfig
from lingbot_depth_ros.synthetic.motion import MovingBox, crossing_box

__all__ = ["LidarConfig", "MovingBox", "SceneFrame", "SceneGenerator", "crossing_box"]
