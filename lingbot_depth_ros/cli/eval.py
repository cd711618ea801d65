"""``lingbot-depth-eval``: replay an evaluation bag into a running depth node over real ROS 2 topics,
record what it publishes, and score it against the bag's ground truth.

How a run works:

1. The bag (written by ``lingbot-depth-bag`` or any bag with the same streams) is read with
   ``rosbags``; its serialized CDR messages are published *unchanged* (header stamps kept) through
   rclpy on the node's input topics: per frame camera_info, sparse depth (and optionally the LiDAR
   cloud), the camera pose (see below), then the image (:mod:`lingbot_depth_ros.ros.replay_node`).
2. Pacing: ``--rate 1.0`` (default) replays at the recorded rate, ``--rate 2.0`` twice as fast,
   ``--rate max`` sends the next frame as soon as the previous frame's depth came back (or after
   ``--timeout-s``).
3. The node's ``depth/image`` (and with ``--record-points`` its ``points``) outputs are matched to the
   input frames by header stamp. Latency = image publish -> depth received; a frame that never got
   a depth is *dropped*; throughput = answered frames / (last receive - first send).
4. Each answered depth map is scored against the bag's ground truth twice: on the pixels the
   prediction covered, and on all valid ground-truth pixels (uncovered ones filled with the nearest
   predicted depth) (:mod:`lingbot_depth_ros.evaluation.metrics`); report.json, report.md,
   report.html and pictures are written (:mod:`lingbot_depth_ros.evaluation.report`).

LiDAR clouds (``--send-lidar``): the bag's ``/tf_static`` holds the LiDAR extrinsics. A node started
here (``--start-node``) gets them as its ``lidar.*`` parameters (with ``lidar.use_tf:=false``) unless
``--node-param`` sets any of them. For a node already running, the tool publishes ``/tf_static``
where tf2_msgs is installed and prints the equivalent ``-p lidar.*:=...`` parameters for a node
without tf2. The "sparse input" pictures then show the clouds projected as the node projects them.

Camera poses: a bag with poses (scene bags: geometry_msgs/PoseStamped of the camera optical frame on
``/camera/pose``, ``--bag-pose-topic``) has them sent, each before its frame's image, to the node's pose
input, for a node with ``temporal.pose_source pose`` (its temporal filter warps the history with them;
without them it resets the history every frame). A node started here gets them on ``<its
namespace>/<temporal.pose_topic>`` (default ``camera_pose``), and when its ``temporal.pose_source`` is pose
the replay waits for its pose subscription before the first frame (both read from ``--node-param``, else from
``--params-file``); a running node gets them on ``--pose-topic`` (default ``/camera/camera_pose``: a node in
namespace ``/camera``). Poses go out whether or not the node reads them; ``--no-poses`` sends none.

Transport: large images over Fast DDS on one host need shared-memory segments that fit them and
quick repair of lost fragments; the tool applies the package's profile (config/fastdds_localhost.xml,
see :mod:`lingbot_depth_ros.deploy.dds`) for itself and the nodes it starts, unless a profile is
already set.

Clock: the node synchronizes inputs by header stamp, so it needs no clock at all. With
``--clock`` the tool also publishes ``/clock`` (rosgraph_msgs/Clock) with the bag time of the frame
being sent (and repeats it at 20 Hz) for nodes started with ``use_sim_time:=true``; with
``--start-node --clock`` the node is started that way. Without ``--clock`` do not run the node with
``use_sim_time:=true``: its clock would never advance.

``--start-node`` starts ``python -m lingbot_depth_ros.ros.depth_node`` itself in a private namespace on
private topics (:mod:`lingbot_depth_ros.deploy.node_process`: none of its outputs is public) and
stops it at the end; ``--compare nearest`` then replays the same bag into a second node running the
``nearest`` baseline, and the report puts both side by side.

This module parses the command line; the run itself is :func:`lingbot_depth_ros.replay.evaluate.evaluate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.deploy.node_process import NodeLaunch
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.evaluation.alignment import ALIGNMENT_MODES
from lingbot_depth_ros.evaluation.replay import EvaluationResult, ReplayOptions
from lingbot_depth_ros.replay.evaluate import evaluate

EVAL_ALIGNMENTS = ALIGNMENT_MODES + ("sparse",)


def _rate(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate takes a positive number or 'max', got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--rate must be > 0, got {value}")
    return value


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--node-param takes NAME:=VALUE, got '{text}'")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lingbot-depth-eval", description=__doc__.split("\n\n")[0].replace("``", ""),
                                epilog="See the module documentation (docs/evaluation.md) for the clock "
                                       "handling and the report contents.")
    p.add_argument("bag", type=Path, help="evaluation bag (lingbot-depth-bag output): directory, .mcap or .db3")
    p.add_argument("--out", type=Path, default=Path("eval_output"), help="report folder (default ./eval_output)")
    p.add_argument("--rate", type=_rate, default=1.0,
                   help="multiple of the recorded rate (default 1.0), or 'max': next frame once the previous "
                        "answered or timed out")
    p.add_argument("--timeout-s", type=float, default=10.0,
                   help="wait this long [s] for a frame's depth before counting it dropped (default 10)")
    p.add_argument("--wait-s", type=float, default=30.0, help="wait this long [s] for the node to connect")
    p.add_argument("--max-frames", type=int, help="replay only the first N frames")
    p.add_argument("--max-depth", type=float, help="score only ground truth up to this depth [m]")
    p.add_argument("--pictures", type=int, default=8, help="frame pictures in the report (default 8)")
    p.add_argument("--label", help="name of the primary run in the report (default: the estimator)")
    p.add_argument("--save-depth", action="store_true",
                   help="keep every depth output: <out>/depth/<run>/frame_NNNN.png (16-bit mm) and .npy (float32 m)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = StreamTopics()
    source = p.add_argument_group("bag topics (defaults: what lingbot-depth-bag writes)")
    source.add_argument("--bag-image-topic", default=defaults.image)
    source.add_argument("--bag-camera-info-topic", default=defaults.camera_info)
    source.add_argument("--bag-sparse-topic", default=defaults.sparse_depth)
    source.add_argument("--bag-gt-topic", default=defaults.depth_gt, help="ground truth (Image 32FC1 m / 16UC1 mm)")
    source.add_argument("--bag-lidar-topic", default=defaults.lidar_points)
    source.add_argument("--bag-tf-topic", default=defaults.tf_static, help="the LiDAR extrinsics (tf2_msgs/TFMessage)")
    source.add_argument("--bag-pose-topic", default=defaults.pose,
                        help="camera poses (geometry_msgs/PoseStamped of the optical frame)")
    topics = p.add_argument_group("topics (where the bag streams are sent / outputs read; defaults: a node in "
                                  "namespace /camera)")
    topics.add_argument("--image-topic", default=defaults.image)
    topics.add_argument("--camera-info-topic", default=defaults.camera_info)
    topics.add_argument("--sparse-topic", default=defaults.sparse_depth)
    topics.add_argument("--lidar-topic", default=defaults.lidar_points)
    topics.add_argument("--depth-topic", default=defaults.depth, help="the node's depth output")
    topics.add_argument("--points-topic", default=defaults.points, help="the node's cloud output")
    topics.add_argument("--pose-topic", default=defaults.camera_pose,
                        help="the running node's camera pose input (temporal.pose_source pose); a started node "
                             "gets them on <its namespace>/<temporal.pose_topic>")
    topics.add_argument("--no-poses", action="store_true", help="do not send the bag's camera poses")
    topics.add_argument("--no-sparse", action="store_true", help="do not send the sparse depth (monocular runs)")
    p.add_argument("--align", choices=EVAL_ALIGNMENTS, default="none",
                   help="alignment before scoring: none; median / lstsq / lstsq_inverse = per frame to the ground "
                        "truth (oracle protocols for relative-depth models; lstsq_inverse for disparity outputs); "
                        "sparse = the node fits its output to the LiDAR itself (a started node gets "
                        "align_to_sparse:=scale_shift and the sparse depth, also in monocular mode). A relative "
                        "estimator (depth_anything relative, marigold) always needs the node-side fit: use sparse, "
                        "or --node-param align_to_sparse:=scale_shift with a ground-truth mode")
    topics.add_argument("--send-lidar", action="store_true",
                        help="also send the LiDAR clouds; the bag's /tf_static extrinsics go to a started node as "
                             "lidar.* parameters, and are published (tf2_msgs installed) and printed otherwise")
    topics.add_argument("--record-points", action="store_true",
                        help="record the node's clouds too (point counts in report.json, PLYs of the pictured "
                             "frames in <out>/clouds/<run>/)")
    topics.add_argument("--output-qos", choices=("reliable", "sensor_data"), default="reliable",
                        help="QoS to read the outputs with; sensor_data if the node runs output_qos:=sensor_data")
    topics.add_argument("--clock", action="store_true",
                        help="publish /clock from bag time (for nodes with use_sim_time:=true)")
    node = p.add_argument_group("starting the node")
    node.add_argument("--start-node", action="store_true", help="start the depth node as a subprocess")
    node.add_argument("--estimator", default=None, help="estimator of the started node (default classical, or "
                      "the params file's)")
    node.add_argument("--checkpoint", default=None,
                      help="checkpoint of the started node's learned estimator: sets <estimator>.checkpoint (a "
                           "Hugging Face folder or repo id, or a lingbot model.pt)")
    node.add_argument("--mode", default="completion", choices=("completion", "monocular", "auto"))
    node.add_argument("--params-file", type=Path, help="ROS 2 parameters YAML for the started node(s)")
    node.add_argument("--node-param", type=_param, action="append", default=[], metavar="NAME:=VALUE",
                      help="extra node parameter (repeatable)")
    node.add_argument("--compare", nargs="+", default=[], metavar="ESTIMATOR",
                      help="also replay into a fresh node per estimator (e.g. nearest) and compare")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-eval``: 0 = done, 2 = bad input, 3 = the node answered no frame."""
    args = build_parser().parse_args(argv)
    topics = StreamTopics(image=args.image_topic, camera_info=args.camera_info_topic, sparse_depth=args.sparse_topic,
                          lidar_points=args.lidar_topic, depth=args.depth_topic, points=args.points_topic,
                          camera_pose=args.pose_topic)
    options = ReplayOptions(rate=args.rate, timeout_s=args.timeout_s, wait_s=args.wait_s, topics=topics,
                            send_sparse=not args.no_sparse and (args.mode != "monocular" or args.align == "sparse"),
                            send_lidar=args.send_lidar, align=args.align,
                            record_points=args.record_points, output_qos=args.output_qos, clock=args.clock,
                            max_depth_m=args.max_depth, progress=not args.no_progress, send_poses=not args.no_poses)
    launch = None
    if args.start_node:
        estimator = args.estimator or (None if args.params_file else "classical")
        params = dict(args.node_param)
        if args.align == "sparse":
            params.setdefault("align_to_sparse", "scale_shift")
        if args.checkpoint is not None:
            if estimator is None:
                print("lingbot-depth-eval: error: --checkpoint needs --estimator", file=sys.stderr)
                return 2
            params.setdefault(f"{estimator}.checkpoint", args.checkpoint)
        launch = NodeLaunch(estimator=estimator, mode=args.mode, params_file=args.params_file, params=params)
    elif args.estimator or args.params_file or args.node_param or args.checkpoint:
        print("lingbot-depth-eval: error: --estimator/--checkpoint/--params-file/--node-param need --start-node",
              file=sys.stderr)
        return 2
    try:
        bag_topics = StreamTopics(image=args.bag_image_topic, camera_info=args.bag_camera_info_topic,
                                  sparse_depth=args.bag_sparse_topic, depth_gt=args.bag_gt_topic,
                                  lidar_points=args.bag_lidar_topic, tf_static=args.bag_tf_topic,
                                  pose=args.bag_pose_topic)
        result = evaluate(args.bag, args.out, options, launch=launch, compare=args.compare, label=args.label,
                          max_frames=args.max_frames, max_pictures=args.pictures, bag_topics=bag_topics,
                          save_depth_outputs=args.save_depth,
                          meta={"command": " ".join(["lingbot-depth-eval"] + (argv or sys.argv[1:]))})
    except (LingbotDepthError, FileNotFoundError) as exc:
        print(f"lingbot-depth-eval: error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0 if any(o.answered for run in result.runs for o in run.outcomes) else 3


def print_summary(result: EvaluationResult) -> None:
    """A few lines per run on stdout."""
    for run in result.runs:
        s = run.summary()
        lat, m, m_all = s["latency_ms"], s["metrics"], s["metrics_all"]
        line = (f"{s['label']}: {s['frames_answered']}/{s['frames_sent']} frames answered, "
                f"{s['frames_dropped']} dropped, throughput {s['throughput_hz']:.1f} Hz")
        if lat["mean"] is not None:
            line += f", latency mean {lat['mean']:.1f} ms (p95 {lat['p95']:.1f})"
        if m.get("rmse_mm") is not None:
            line += (f", covered px (coverage {m['coverage']:.3f}): RMSE {m['rmse_mm']:.0f} mm, "
                     f"MAE {m['mae_mm']:.0f} mm, δ1 {m['delta1']:.3f}")
        if m_all.get("rmse_mm") is not None:
            line += f"; all GT px: RMSE {m_all['rmse_mm']:.0f} mm, MAE {m_all['mae_mm']:.0f} mm"
        print(line)
    if result.report is not None:
        print(f"report: {result.report.markdown}")


if __name__ == "__main__":
    sys.exit(main())
