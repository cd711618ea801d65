"""``lingbot-depth doctor``: the command line of the doctor (checks in :mod:`lingbot_depth_ros.doctor`, the live
graph observed by :mod:`lingbot_depth_ros.ros.graph_probe`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lingbot_depth_ros.cli.arg_types import positive_float
from lingbot_depth_ros.deploy.launch_config import NODE_NAME
from lingbot_depth_ros.doctor.config import node_config
from lingbot_depth_ros.doctor.report import GROUPS, exit_status, render_json, render_text
from lingbot_depth_ros.doctor.runner import Probe, run_doctor
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.estimators import estimator_names

DEFAULT_TIMEOUT_S = 5.0
DESCRIPTION = """Why is there no depth? Checks this machine and, with --ros, the running graph, each OK / WARN / FAIL
with one line of advice; exit status 1 on any FAIL.
  install  ROS 2 distribution, RMW, the Fast DDS profile variable vs the Fast DDS version, /dev/shm, optional extras
  gpu      torch + CUDA (device, memory), ONNX Runtime providers, TensorRT, the precision the model asks for
  model    the checkpoint loads strictly, an engine folder matches its checkpoint (sha256) and the camera size,
           the Hugging Face cache holds the repo id named
  graph    (--ros) the node's inputs: topics, publishers' QoS vs the node's, rates, arrival delay, lost images,
           encodings, sizes, CameraInfo vs image, stamps vs slop_s, frame ids, LiDAR units, TF; the node itself:
           running, lifecycle state, outputs, /diagnostics
Give the node's configuration as you launch it: --params-file, --namespace and the launch arguments below
(a running node's own parameter values win)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The doctor's options on ``parser`` (its own subcommand parser)."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--ros", action="store_true", help="also observe the live ROS graph (the node and its topics)")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds the live graph is observed at most (default {DEFAULT_TIMEOUT_S:g}; a healthy "
                             "graph ends sooner, a silent one costs exactly this)")
    parser.add_argument("--only", action="append", choices=GROUPS, metavar="GROUP",
                        help=f"run only this group ({', '.join(GROUPS)}); repeatable; graph implies --ros")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    node = parser.add_argument_group("the node, as launched")
    node.add_argument("--params-file", type=Path, help="the node's parameter file (launch argument params_file)")
    node.add_argument("--namespace", default="", help="the node's namespace (launch argument namespace)")
    node.add_argument("--node-name", default=NODE_NAME, help=f"the node's name (default {NODE_NAME})")
    node.add_argument("--estimator", choices=sorted(estimator_names()), help="launch argument estimator")
    node.add_argument("--mode", choices=("auto", "completion", "monocular"), help="launch argument mode")
    node.add_argument("--sparse-input", choices=("depth_image", "pointcloud"), help="launch argument sparse_input")
    node.add_argument("--image-transport", choices=("raw", "compressed"), help="launch argument image_transport")
    node.add_argument("--sparse-transport", choices=("raw", "compressedDepth"),
                      help="launch argument sparse_transport")
    node.add_argument("--checkpoint", help="launch argument checkpoint (<estimator>.checkpoint)")
    for role in ("image", "camera_info", "sparse_depth", "lidar_points"):
        node.add_argument(f"--{role.replace('_', '-')}", dest=role, metavar="TOPIC",
                          help=f"the node's {role} input remap (launch argument {role})")


def _probe() -> tuple[Probe | None, str]:
    try:
        from lingbot_depth_ros.ros.graph_probe import probe_graph
    except ImportError as exc:
        return None, f"rclpy or the ROS messages are not importable ({exc})"
    return probe_graph, ""


def run(args: argparse.Namespace) -> int:
    """Run the checks; print the report; 1 on any FAIL, 2 on a bad configuration, else 0."""
    arguments = {name: getattr(args, name) or "" for name in (
        "estimator", "mode", "sparse_input", "image_transport", "sparse_transport", "checkpoint", "image",
        "camera_info", "sparse_depth", "lidar_points")}
    try:
        config = node_config(params_file=args.params_file, namespace=args.namespace, node_name=args.node_name,
                             arguments=arguments)
    except LingbotDepthError as exc:
        print(f"lingbot-depth doctor: error: {exc}", file=sys.stderr)
        return 2
    groups = tuple(args.only) if args.only else tuple(g for g in GROUPS if g != "graph" or args.ros)
    probe, probe_error = _probe() if "graph" in groups else (None, "")
    checks = run_doctor(config, groups, probe=probe, probe_error=probe_error, timeout_s=args.timeout)
    print(render_json(checks) if args.json else render_text(checks))
    return exit_status(checks)
