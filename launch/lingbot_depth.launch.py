"""Launch lingbot_depth_node (and optionally RViz, rendered for the node's namespace and remaps).

Example:
  ros2 launch lingbot_depth_ros lingbot_depth.launch.py namespace:=front \
      image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \
      sparse_depth:=/lidar/depth_image estimator:=classical use_rviz:=true camera_frame:=camera_color_optical_frame

Every argument logic lives in lingbot_depth_ros.deploy.launch_config (tested without launch installed).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.deploy.launch_config import (
    EXECUTABLE,
    NODE_NAME,
    PACKAGE,
    LaunchArgument,
    camera_arguments,
    node_setup,
    parameter_arguments,
    rviz_missing,
)
from lingbot_depth_ros.deploy.rviz_config import DEFAULT_FIXED_FRAME, write_rviz_config
from lingbot_depth_ros.params.fusion import FUSION_EXECUTABLE, FUSION_NODE_NAME, launch_parameters


def _arguments(share: str) -> list:
    return [
        LaunchArgument("params_file", os.path.join(share, "config", "lingbot_depth.yaml"),
                       "YAML parameter file for lingbot_depth_node"),
        LaunchArgument("namespace", "", "Namespace of the node and its topics"),
        *camera_arguments(),
        *parameter_arguments(),
        LaunchArgument("use_rviz", "false", "Start RViz showing this node's topics"),
        LaunchArgument("camera_frame", DEFAULT_FIXED_FRAME, "RViz fixed frame (the camera's optical frame, or "
                       "base_link with TF)"),
        LaunchArgument("rviz_config", "", "Your own RViz config (empty: rendered for namespace and remaps)"),
        LaunchArgument("use_sim_time", "false", "Use /clock (bag replay)"),
        LaunchArgument("log_level", "info", "Node log level"),
        LaunchArgument("fusion", "false", "Also start depth_fusion_node on this node's depth (docs/fusion.md)"),
        LaunchArgument("fusion_pose_source", "", "tf | odometry | pose | none for the fusion node (empty: pose)"),
    ]


def _launch_setup(context, names: list) -> list:
    values = {name: LaunchConfiguration(name).perform(context) for name in names}
    setup = node_setup(values)
    actions = [Node(package=PACKAGE, executable=EXECUTABLE, name=NODE_NAME, namespace=setup.namespace,
                    output="screen", parameters=setup.parameters, remappings=setup.remappings,
                    arguments=setup.arguments)]
    if values["use_rviz"].lower() == "true":
        config = values["rviz_config"] or str(write_rviz_config([setup.view], values["camera_frame"]))
        missing = rviz_missing(get_package_share_directory, config)  # asked before any action is returned
        if missing:  # the depth node(s) still start: the robot gets depth
            get_logger("launch.user").warning(missing)
        else:
            actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", config],
                                parameters=[{"use_sim_time": setup.parameters[-1]["use_sim_time"]}], output="screen"))
    if values["fusion"].strip().lower() == "true":
        fusion = launch_parameters({"pose_source": values["fusion_pose_source"]}, ["/" + setup.namespace])
        fusion["use_sim_time"] = setup.parameters[-1]["use_sim_time"]
        actions.append(Node(package=PACKAGE, executable=FUSION_EXECUTABLE, name=FUSION_NODE_NAME,
                            namespace=setup.namespace, output="screen", parameters=[fusion]))
    return actions


def generate_launch_description() -> LaunchDescription:
    args = _arguments(get_package_share_directory(PACKAGE))
    # Large shared-memory segments for camera-sized messages (Fast DDS); a user's own profile wins.
    before = dict(os.environ)
    apply_default_dds_profile()
    dds = [SetEnvironmentVariable(k, v) for k, v in os.environ.items() if before.get(k) != v]
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in args]
    return LaunchDescription(declared + dds + [OpaqueFunction(function=_launch_setup,
                                                              args=[[a.name for a in args]])])
