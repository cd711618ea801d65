"""Launch depth_fusion_node: TSDF fusion of the depth of one or more depth nodes (docs/fusion.md).

Example (the depth node runs in namespace /camera, poses from a PoseStamped topic /camera/pose):
  ros2 launch lingbot_depth_ros fusion.launch.py cameras:=/camera pose_source:=pose voxel_size_m:=0.04

Argument logic: lingbot_depth_ros.params.fusion.launch_parameters (tested without launch installed).
"""

import os

from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.deploy.launch_config import PACKAGE
from lingbot_depth_ros.params.fusion import FUSION_EXECUTABLE, FUSION_NODE_NAME, LAUNCH_ARGUMENTS, launch_parameters

ARGUMENTS = [
    ("cameras", "/camera", "comma-separated namespaces of the depth nodes to fuse"),
    ("pose_source", "", "tf | odometry | pose | none (empty: the parameter default, pose)"),
    ("map_frame", "", "fixed frame of the map (empty: map)"),
    ("voxel_size_m", "", "TSDF voxel edge [m] (empty: 0.04)"),
    ("device", "", "Open3D device CPU:0 | CUDA:0 (empty: CPU:0)"),
    ("output_dir", "", "where ~/save_mesh writes mesh.ply and fused.ply (empty: the working directory)"),
    ("lifecycle", "", "true: a managed (lifecycle) node, unconfigured until configured (empty: false)"),
    ("autostart", "", "with lifecycle: configure and activate at start (empty: false)"),
    ("params_file", "", "YAML parameter file for depth_fusion_node (optional)"),
    ("use_sim_time", "false", "Use /clock (bag replay)"),
]


def _launch_setup(context, names: list) -> list:
    values = {name: LaunchConfiguration(name).perform(context) for name in names}
    overrides = launch_parameters(values, [c for c in values["cameras"].split(",") if c.strip()])
    overrides["use_sim_time"] = values["use_sim_time"].strip().lower() == "true"
    parameters = ([values["params_file"]] if values["params_file"] else []) + [overrides]
    return [Node(package=PACKAGE, executable=FUSION_EXECUTABLE, name=FUSION_NODE_NAME, output="screen",
                 parameters=parameters)]


def generate_launch_description() -> LaunchDescription:
    assert set(LAUNCH_ARGUMENTS) <= {a[0] for a in ARGUMENTS}
    before = dict(os.environ)
    apply_default_dds_profile()
    dds = [SetEnvironmentVariable(k, v) for k, v in os.environ.items() if before.get(k) != v]
    declared = [DeclareLaunchArgument(n, default_value=d, description=t) for n, d, t in ARGUMENTS]
    return LaunchDescription(declared + dds + [OpaqueFunction(function=_launch_setup,
                                                              args=[[a[0] for a in ARGUMENTS]])])
