"""Two cameras, one lingbot_depth_node each, in their own namespaces (default /front and /rear).

Example:
  ros2 launch lingbot_depth_ros multi_camera.launch.py \
      front_image:=/front_camera/color/image_raw front_camera_info:=/front_camera/color/camera_info \
      front_sparse_depth:=/front_lidar/depth_image \
      rear_image:=/rear_camera/color/image_raw rear_camera_info:=/rear_camera/color/camera_info \
      rear_sparse_depth:=/rear_lidar/depth_image use_rviz:=true fixed_frame:=base_link

Outputs: /front/depth/image, /front/points, ... and /rear/depth/image, ... The parameter arguments
(estimator, mode, ...) apply to both nodes; per-camera parameters go into params_file under
/front/lingbot_depth_node and /rear/lingbot_depth_node (``/**`` applies to both).

single_process:=true starts one node instead (parameter cameras: [front, rear]): the same topics, one
estimator (one model in memory) for both cameras, frames ready together estimated as one batch; one
parameter set for both cameras (/lingbot_depth_node or /** in params_file).
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
    single_process_setup,
)
from lingbot_depth_ros.deploy.rviz_config import write_rviz_config

CAMERAS = ("front", "rear")


def _arguments(share: str) -> list:
    per_camera = []
    for camera in CAMERAS:
        per_camera.append(LaunchArgument(f"{camera}_namespace", camera, f"Namespace of the {camera} camera's node"))
        per_camera += [LaunchArgument(a.name, a.default, f"{camera} camera: {a.description}")
                       for a in camera_arguments(f"{camera}_")]
    return [
        LaunchArgument("params_file", os.path.join(share, "config", "lingbot_depth.yaml"),
                       "YAML parameter file for both nodes"),
        *per_camera,
        *parameter_arguments(),
        LaunchArgument("single_process", "false", "true: one node (one model) serves both cameras "
                       "(parameter cameras), same topics; false: one node per camera"),
        LaunchArgument("use_rviz", "false", "Start one RViz showing both cameras' topics"),
        LaunchArgument("fixed_frame", "base_link", "RViz fixed frame (needs TF from both cameras' optical frames)"),
        LaunchArgument("use_sim_time", "false", "Use /clock (bag replay)"),
        LaunchArgument("log_level", "info", "Node log level"),
    ]


def _launch_setup(context, names: list) -> list:
    values = {name: LaunchConfiguration(name).perform(context) for name in names}
    setups = [node_setup(values, namespace_arg=f"{camera}_namespace", prefix=f"{camera}_", label=camera)
              for camera in CAMERAS]
    if len({s.namespace for s in setups}) < len(setups):
        raise RuntimeError("the cameras need different namespaces (front_namespace, rear_namespace)")
    single = values["single_process"].strip().lower()
    if single not in ("true", "false"):
        raise RuntimeError(f"single_process must be true or false, got '{single}'")
    nodes = [single_process_setup(setups)] if single == "true" else setups
    actions = [Node(package=PACKAGE, executable=EXECUTABLE, name=NODE_NAME, namespace=s.namespace, output="screen",
                    parameters=s.parameters, remappings=s.remappings, arguments=s.arguments) for s in nodes]
    if values["use_rviz"].lower() == "true":
        config = str(write_rviz_config([s.view for s in setups], values["fixed_frame"]))
        missing = rviz_missing(get_package_share_directory, config)  # asked before any action is returned
        if missing:  # the depth node(s) still start: the robot gets depth
            get_logger("launch.user").warning(missing)
        else:
            actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", config],
                                parameters=[{"use_sim_time": setups[0].parameters[-1]["use_sim_time"]}],
                                output="screen"))
    return actions


def generate_launch_description() -> LaunchDescription:
    args = _arguments(get_package_share_directory(PACKAGE))
    before = dict(os.environ)
    apply_default_dds_profile()
    dds = [SetEnvironmentVariable(k, v) for k, v in os.environ.items() if before.get(k) != v]
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in args]
    return LaunchDescription(declared + dds + [OpaqueFunction(function=_launch_setup,
                                                              args=[[a.name for a in args]])])
