"""Launch lingbot_depth_node as a managed (lifecycle) node, brought up by Nav2's lifecycle manager.

Example:
  ros2 launch lingbot_depth_ros managed_depth.launch.py namespace:=front estimator:=classical \
      image:=/camera/color/image_raw camera_info:=/camera/color/camera_info sparse_depth:=/lidar/depth_image

The manager (nav2_lifecycle_manager, node lifecycle_manager_depth in the same namespace) configures and
activates the node at start (autostart:=false: it waits for ``ros2 service call
<namespace>/lifecycle_manager_depth/manage_nodes nav2_msgs/srv/ManageLifecycleNodes "{command: 0}"``). Bonds are
disabled (bond_timeout 0.0): rclpy has no bond library. Without nav2_lifecycle_manager installed the node
configures and activates itself (autostart), with a warning.

Argument logic: lingbot_depth_ros.deploy.lifecycle_launch (tested without launch installed).
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
    PARAMETER_ARGUMENTS,
    LaunchArgument,
    camera_arguments,
    parameter_arguments,
)
from lingbot_depth_ros.deploy.lifecycle_launch import MANAGER_EXECUTABLE, MANAGER_NAME, MANAGER_PACKAGE, managed_launch


def _arguments(share: str) -> list:
    return [
        LaunchArgument("params_file", os.path.join(share, "config", "lingbot_depth.yaml"),
                       "YAML parameter file for lingbot_depth_node"),
        LaunchArgument("namespace", "", "Namespace of the node, its topics and its lifecycle manager"),
        *camera_arguments(),
        *[a for a in parameter_arguments() if a.name not in ("lifecycle", "autostart")],
        LaunchArgument("autostart", "true", "The lifecycle manager configures and activates the node at start"),
        LaunchArgument("use_sim_time", "false", "Use /clock (bag replay)"),
        LaunchArgument("log_level", "info", "Node log level"),
    ]


def _launch_setup(context, names: list) -> list:
    values = {name: LaunchConfiguration(name).perform(context) for name in names}
    launch = managed_launch(values, get_package_share_directory)
    setup = launch.node
    actions = [Node(package=PACKAGE, executable=EXECUTABLE, name=NODE_NAME, namespace=setup.namespace,
                    output="screen", parameters=setup.parameters, remappings=setup.remappings,
                    arguments=setup.arguments)]
    if launch.warning:
        get_logger("launch.user").warning(launch.warning)
    if launch.manager_parameters is not None:
        actions.append(Node(package=MANAGER_PACKAGE, executable=MANAGER_EXECUTABLE, name=MANAGER_NAME,
                            namespace=setup.namespace, output="screen", parameters=[launch.manager_parameters]))
    return actions


def generate_launch_description() -> LaunchDescription:
    assert {"lifecycle", "autostart"} <= set(PARAMETER_ARGUMENTS)
    args = _arguments(get_package_share_directory(PACKAGE))
    before = dict(os.environ)
    apply_default_dds_profile()
    dds = [SetEnvironmentVariable(k, v) for k, v in os.environ.items() if before.get(k) != v]
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in args]
    return LaunchDescription(declared + dds + [OpaqueFunction(function=_launch_setup,
                                                              args=[[a.name for a in args]])])
