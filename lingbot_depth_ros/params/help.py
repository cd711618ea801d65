"""``--help`` of the node executables (``depth_node``, ``depth_fusion_node``), before any ROS start-up.

The usage text is generated from the parameter tables (names, types, defaults, ranges) and a list of
the node's topics; it is printed without ``rclpy.init``, so it works on a machine without a ROS graph.
Arguments inside ``--ros-args ... [--]`` belong to ROS (``-p``, ``-r``, ``--params-file`` ...) and are
left to rclpy; any other argument is the node's own, and the nodes take none but ``-h`` / ``--help``.
No rclpy import here.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from lingbot_depth_ros.param_spec import ParamSpec

ROS_ARGS, ROS_ARGS_END = "--ros-args", "--"
HELP_FLAGS = ("-h", "--help")
README = "README.md of the package (https://github.com/lingbot-depth-ros/lingbot_depth_ros)"
WIDTH = 100


@dataclass(frozen=True)
class Topic:
    """One topic of a node for the usage text."""

    name: str
    direction: str  # "in" or "out"
    msg_type: str
    note: str = ""


DEPTH_NODE_TOPICS: tuple[Topic, ...] = (
    Topic("image", "in", "sensor_msgs/Image", "colour image (image/compressed with image_transport: compressed)"),
    Topic("camera_info", "in", "sensor_msgs/CameraInfo", "intrinsics of image, same stamp"),
    Topic("sparse_depth", "in", "sensor_msgs/Image", "16UC1 [mm] or 32FC1 [m], registered to image "
          "(sparse_depth/compressedDepth with sparse_transport: compressedDepth)"),
    Topic("lidar_points", "in", "sensor_msgs/PointCloud2", "LiDAR cloud [m] (sparse_input: pointcloud)"),
    Topic("camera_pose", "in", "geometry_msgs/PoseStamped", "camera optical frame pose (temporal.pose_source pose; "
          "name: temporal.pose_topic)"),
    Topic("odom", "in", "nav_msgs/Odometry", "robot base pose (temporal.pose_source odometry; name: "
          "temporal.odom_topic)"),
    Topic("depth/image", "out", "sensor_msgs/Image", "32FC1 [m], NaN where invalid"),
    Topic("depth/camera_info", "out", "sensor_msgs/CameraInfo", "intrinsics of depth/image"),
    Topic("depth/colorized", "out", "sensor_msgs/Image", "rgb8 (colorized.enabled)"),
    Topic("depth/confidence", "out", "sensor_msgs/Image", "32FC1 0..1, NaN where depth/image is NaN "
          "(confidence.enabled)"),
    Topic("points", "out", "sensor_msgs/PointCloud2", "x y z [m] (+ rgb) (cloud.enabled)"),
    Topic("obstacles/scan", "out", "sensor_msgs/LaserScan", "obstacle ranges [m] (obstacles.enabled)"),
    Topic("obstacles/recommendation", "out", "std_msgs/String", "JSON (obstacles.enabled)"),
    Topic("obstacles/markers", "out", "visualization_msgs/MarkerArray", "sector wedges (obstacles.enabled)"),
    Topic("surfaces", "out", "std_msgs/String", "JSON of planar surfaces (surfaces.enabled)"),
    Topic("surfaces/markers", "out", "visualization_msgs/MarkerArray", "surface outlines (surfaces.enabled)"),
    Topic("/diagnostics", "out", "diagnostic_msgs/DiagnosticArray", "rates, latency, drops, warnings"),
)

FUSION_NODE_TOPICS: tuple[Topic, ...] = (
    Topic("<camera>/depth/image", "in", "sensor_msgs/Image", "32FC1 [m] or 16UC1 [mm], per namespace in cameras"),
    Topic("<camera>/depth/camera_info", "in", "sensor_msgs/CameraInfo", "intrinsics of the depth image"),
    Topic("<camera>/image", "in", "sensor_msgs/Image", "colour, matched by stamp"),
    Topic("<camera>/depth/confidence", "in", "sensor_msgs/Image", "32FC1 0..1, matched by stamp "
          "(fusion.confidence_weighting)"),
    Topic("<camera>/<fusion.pose_topic>", "in", "geometry_msgs/PoseStamped", "camera pose (pose_source pose)"),
    Topic("<fusion.odom_topic>", "in", "nav_msgs/Odometry", "base pose (pose_source odometry)"),
    Topic("fused/points", "out", "sensor_msgs/PointCloud2", "fused map x y z rgb [m] in the map frame"),
    Topic("fused/surfaces", "out", "std_msgs/String", "JSON of planar surfaces (fusion.surfaces.enabled)"),
    Topic("fused/surfaces/markers", "out", "visualization_msgs/MarkerArray", "(fusion.surfaces.enabled)"),
    Topic("~/save_mesh", "service", "std_srvs/Trigger", "writes mesh.ply and fused.ply to fusion.output_dir"),
    Topic("/diagnostics", "out", "diagnostic_msgs/DiagnosticArray", "frames fused, memory"),
)


def node_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments that are not ROS arguments: everything outside ``--ros-args ... [--]`` blocks.

    ``["--help", "--ros-args", "-p", "a:=1", "--", "-x"]`` -> ``["--help", "-x"]`` (as rcl splits them).
    """
    own, in_ros = [], False
    for arg in argv:
        if arg == ROS_ARGS:
            in_ros = True
        elif in_ros and arg == ROS_ARGS_END:
            in_ros = False
        elif not in_ros:
            own.append(arg)
    return own


def _default_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f"'{v}'" for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


def _first_sentence(text: str) -> str:
    """``text`` up to its first full stop followed by a space (not the one of "e.g." / "i.e.")."""
    start = 0
    while True:
        end = text.find(". ", start)
        if end < 0:
            return text
        if not text[:end + 1].endswith(("e.g.", "i.e.")):
            return text[:end + 1]
        start = end + 2


def parameter_lines(specs: Sequence[ParamSpec]) -> list[str]:
    """Two lines or more per parameter: ``name (type) = default  range``, then its meaning's first sentence."""
    lines = []
    for spec in specs:
        range_text = spec.range_text().replace(" \\| ", " | ")
        extra = "" if range_text == "—" else f"  {range_text}"
        extra += "  read-only" if spec.read_only else ""
        head = f"  {spec.name} ({spec.type_name}) = {_default_text(spec.default)}"  # never split
        if len(head + extra) <= WIDTH:
            lines.append(head + extra)
        else:
            lines.append(head)
            lines += textwrap.wrap(extra.strip(), WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                   break_on_hyphens=False)
        lines += textwrap.wrap(_first_sentence(spec.description), WIDTH, initial_indent=" " * 6,
                               subsequent_indent=" " * 6, break_on_hyphens=False)
    return lines


def usage_text(executable: str, summary: str, specs: Sequence[ParamSpec], topics: Sequence[Topic],
               example: str, docs: str) -> str:
    """The full ``--help`` text of a node executable."""
    lines = [f"usage: {executable} [-h] [--ros-args [-p NAME:=VALUE] [--params-file FILE] [-r FROM:=TO] ...]",
             "", *textwrap.wrap(summary, WIDTH), "",
             "options:", "  -h, --help  show this help and exit (the node is not started)", "",
             *textwrap.wrap("ROS arguments (after --ros-args): -p NAME:=VALUE sets a parameter, --params-file FILE "
                            "reads a YAML file, -r FROM:=TO remaps a topic, -r __ns:=/NS sets the namespace. "
                            "Example:", WIDTH),
             f"  {example}", "",
             "topics (relative names resolve in the node's namespace):"]
    name_width = max(len(t.name) for t in topics)
    type_width = max(len(t.msg_type) for t in topics)
    note_column = 2 + name_width + 2 + 7 + 2 + type_width + 2
    for topic in topics:
        lines += textwrap.wrap(f"  {topic.name:<{name_width}}  {topic.direction:<7}  {topic.msg_type:<{type_width}}  "
                               f"{topic.note}", WIDTH + 20, subsequent_indent=" " * note_column,
                               break_on_hyphens=False, drop_whitespace=True)
    lines += ["", f"parameters ({len(specs)}; name (type) = default  range):"]
    lines += parameter_lines(specs)
    lines += ["", *textwrap.wrap(f"More: {docs}; {README}.", WIDTH, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


def handle_node_arguments(executable: str, argv: Sequence[str], usage: str, out: TextIO | None = None,
                          err: TextIO | None = None) -> int | None:
    """Act on the node's own command-line arguments (``argv`` without the program name).

    Returns:
        None: start the node (only ROS arguments were given); 0: ``-h`` / ``--help`` printed the usage;
        2: an argument the node does not take (one line on stderr: ROS arguments go after --ros-args).
    """
    own = node_arguments(argv)
    if any(arg in HELP_FLAGS for arg in own):
        (out or sys.stdout).write(usage)
        return 0
    if own:
        print(f"{executable}: error: unrecognized arguments: {' '.join(own)} (ROS arguments go after --ros-args, "
              f"e.g. {executable} --ros-args -p NAME:=VALUE; {executable} --help lists the parameters)",
              file=err or sys.stderr)
        return 2
    return None


__all__ = ["DEPTH_NODE_TOPICS", "FUSION_NODE_TOPICS", "Topic", "handle_node_arguments", "node_arguments",
           "parameter_lines", "usage_text"]
