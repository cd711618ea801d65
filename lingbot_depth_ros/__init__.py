"""lingbot_depth_ros: dense metric depth for ROS 2 from a camera and (optionally) a sparse LiDAR."""

__version__ = "0.3.0"
