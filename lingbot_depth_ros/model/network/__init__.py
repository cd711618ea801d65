"""nn.Modules of the LingBot-Depth network (no I/O, no preprocessing, no ROS)."""

from lingbot_depth_ros.model.network.convstack import ConvStack
from lingbot_depth_ros.model.network.encoder import RGBDEncoder
from lingbot_depth_ros.model.network.mdm import MDMNetwork, uv_map
from lingbot_depth_ros.model.network.vit import RGBDViT

__all__ = ["ConvStack", "MDMNetwork", "RGBDEncoder", "RGBDViT", "uv_map"]
