"""Launch lingbot_depth_node (and optionally RViz).

Example:
  ros2 launch lingbot_depth_ros lingbot_depth.launch.py \
      image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \
      sparse_depth:=/lidar/depth_image params_file:=/path/to/my_params.yaml use_rviz:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "lingbot_depth_ros"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    default_params = os.path.join(share, "config", "lingbot_depth.yaml")
    default_rviz = os.path.join(share, "rviz", "lingbot_depth.rviz")
    dds_profile = os.path.join(share, "config", "fastdds_localhost.xml")

    args = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML parameter file for lingbot_depth_node"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("image", default_value="image", description="Input RGB image topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info", description="Input CameraInfo topic"),
        DeclareLaunchArgument("sparse_depth", default_value="sparse_depth",
                              description="Input sparse depth image topic (16UC1 mm or 32FC1 m)"),
        DeclareLaunchArgument("lidar_points", default_value="lidar_points",
                              description="Input LiDAR PointCloud2 topic (sparse_input:=pointcloud)"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="Start RViz with the package config"),
        DeclareLaunchArgument("rviz_config", default_value=default_rviz, description="RViz config file"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag replay)"),
        DeclareLaunchArgument("log_level", default_value="info", description="Node log level"),
    ]

    # Large shared-memory segments for camera-sized messages (Fast DDS); a user's own profile wins.
    dds = SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE",
                                 EnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", default_value=dds_profile))

    node = Node(
        package=PACKAGE,
        executable="depth_node",
        name="lingbot_depth_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("sparse_depth", LaunchConfiguration("sparse_depth")),
            ("lidar_points", LaunchConfiguration("lidar_points")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )

    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", LaunchConfiguration("rviz_config")],
        parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
        output="screen",
    )
    return LaunchDescription(args + [dds, node, rviz])
