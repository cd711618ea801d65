"""``lingbot-depth batch``: depth (and metrics) for many recordings on Ray. Options and entry point.

Example::

    lingbot-depth batch drive_01/ drive_02/ ../shared/data/nyu --out batch_out --workers 2 \\
        --param classical.smoothing=0.3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lingbot_depth_ros.bags.topics import StreamTopics
from lingbot_depth_ros.cli.arg_types import non_negative_float, positive_int
from lingbot_depth_ros.cli.depth_scale import add_depth_scale_argument
from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.estimators import estimator_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``batch`` options on ``parser``."""
    parser.add_argument("inputs", nargs="+", type=Path,
                        help="rosbag2 folders, KITTI/NYU dataset folders, KITTI raw drives (image_0N beside "
                             "velodyne_raw/ and calib/, as lingbot-depth fuse reads them) or image folders")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder: <input>/depth_npy, <input>/depth_png, report.*, manifest (resume)")
    parser.add_argument("--estimator", choices=sorted(estimator_names()), default=None,
                        help="the node's estimator parameter (default: the node's default)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a depth-node parameter (README table), repeatable: --param depth.max_m=80")
    parser.add_argument("--address", default=None,
                        help="Ray cluster: auto, or ray://HEAD:10001 (default: a local Ray in this process)")
    parser.add_argument("--workers", type=positive_int, default=1, help="actor workers, one model each")
    parser.add_argument("--gpus-per-worker", type=non_negative_float, default=0.0,
                        help="GPUs per worker (Ray num_gpus; 1 for estimator lingbot on a GPU cluster)")
    parser.add_argument("--cpus-per-worker", type=non_negative_float, default=1.0,
                        help="CPUs per worker (Ray num_cpus)")
    parser.add_argument("--unit-frames", type=positive_int, default=16,
                        help="frames per unit of work (resume and retry granularity)")
    parser.add_argument("--write", choices=("files", "bag"), default="files",
                        help="files: 16-bit PNG [mm] + float32 NPY [m] per frame; bag: also a rosbag2 per bag "
                             "input with depth/image, depth/camera_info and points added")
    parser.add_argument("--read", choices=("worker", "data"), default="worker",
                        help="worker: each actor reads its unit from the input file (default, no frame copies); "
                             "data: Ray Data read tasks (a datasource, one read task per unit) read the units in "
                             "parallel and hand the frames to the actors through the object store")
    parser.add_argument("--temporal-metrics", choices=("auto", "on", "off"), default="auto",
                        help="temporal consistency error and flicker per input in the report (two depth warps per "
                             "frame, ~30-60 ms per 640x480 frame): auto (default) = on with the temporal filter or "
                             "LiDAR sweeps, on = also for an unfiltered baseline")
    topics = parser.add_argument_group("bag topics (defaults: a node in /camera, as lingbot-depth-bag writes)")
    topics.add_argument("--image-topic", default=StreamTopics.image,
                        help="colour image; <topic>/compressed is read when the bag has only that")
    topics.add_argument("--camera-info-topic", default=StreamTopics.camera_info)
    topics.add_argument("--sparse-topic", default=StreamTopics.sparse_depth,
                        help="sparse depth image; <topic>/compressedDepth is read when the bag has only that")
    topics.add_argument("--lidar-topic", default=StreamTopics.lidar_points,
                        help="LiDAR PointCloud2, read instead of --sparse-topic with --param sparse_input=pointcloud "
                             "(projected as the node does, extrinsics from the lidar.* parameters)")
    topics.add_argument("--gt-topic", default=StreamTopics.depth_gt, help="ground-truth depth (metrics when present)")
    topics.add_argument("--pose-topic", default=StreamTopics.pose,
                        help="the camera optical frame's poses (geometry_msgs/PoseStamped): temporal.pose_source pose, "
                             "and the temporal metrics whenever the bag has it")
    topics.add_argument("--odom-topic", default=StreamTopics.odom,
                        help="nav_msgs/Odometry for temporal.pose_source odometry (x the temporal.mount_* mounting)")
    data = parser.add_argument_group("dataset and image folders")
    data.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"), default=None,
                      help="pinhole intrinsics [px] for image folders and datasets")
    add_depth_scale_argument(data, applies_to="image folders' sparse/ files and KITTI raw velodyne_raw/",
                             default_note="; KITTI raw velodyne_raw/: 1/256 by default")
    data.add_argument("--kitti-calib", default=None, help="calib_cam_to_cam.txt (default: in the KITTI folder)")
    data.add_argument("--kitti-camera", default="02", choices=("00", "01", "02", "03"),
                      help="camera of a KITTI raw drive given as the drive folder (default 02; an image_0N input "
                           "names its own)")
    data.add_argument("--kitti-scanlines", type=positive_int, default=64,
                      help="KITTI without velodyne_raw_*.png: scan lines simulated from the ground truth")
    data.add_argument("--poses", type=Path, default=None, metavar="FILE",
                      help="camera poses of a folder input (one input), one per frame in order: 4x4, KITTI 3x4 or TUM "
                           "'t x y z qx qy qz qw' (default: poses.txt beside the images when there is one); used by "
                           "the temporal filter / LiDAR sweeps (--param temporal.pose_source=pose) and the temporal "
                           "metrics")
    data.add_argument("--nyu-sparse-points", type=positive_int, default=500,
                      help="NYU: random ground-truth pixels as the sparse input")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def batch_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`~lingbot_depth_ros.batch.api.batch` with the ``lingbot-depth batch`` options."""
    from lingbot_depth_ros.batch.api import batch
    from lingbot_depth_ros.batch.sources import BagTopics, DatasetOptions

    topics = BagTopics(image=args.image_topic, camera_info=args.camera_info_topic, sparse_depth=args.sparse_topic,
                       depth_gt=args.gt_topic, lidar_points=args.lidar_topic, pose=args.pose_topic,
                       odom=args.odom_topic)
    dataset = DatasetOptions(intrinsics=tuple(args.intrinsics) if args.intrinsics else None,
                             kitti_calib=args.kitti_calib, kitti_scanlines=args.kitti_scanlines,
                             nyu_sparse_points=args.nyu_sparse_points, sparse_scale=args.sparse_scale,
                             kitti_camera=args.kitti_camera,
                             poses_file=str(args.poses) if args.poses is not None else None)
    return batch(args.inputs, args.out, params=args.param, estimator=args.estimator, topics=topics, dataset=dataset,
                 workers=args.workers, gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                 unit_frames=args.unit_frames, address=args.address, write=args.write, read=args.read,
                 temporal_metrics=args.temporal_metrics,
                 progress=not args.quiet and sys.stderr.isatty())


def run(args: argparse.Namespace) -> int:
    """Run a batch; 0 when every input finished, 1 when some failed (see the report), 2 on bad options."""
    try:
        summary = batch_from_args(args)
    except LingbotDepthError as exc:
        print(f"lingbot-depth batch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nlingbot-depth batch: interrupted; finished units are kept in {args.out}: run the same command "
              "again to resume", file=sys.stderr)
        return 130
    o = summary["overall"]
    print(f"{o['frames']} frames ({o['frames_ok']} estimated, {o['frames_dropped']} dropped), "
          f"{o['throughput_fps']:.2f} frames/s this run; report: {args.out / 'report.md'}")
    t = o.get("temporal") or {}
    if t.get("consistency_pairs"):
        flicker = "—" if t.get("flicker_m") is None else f"{t['flicker_m'] * 1000:.1f} mm"
        resets = ", ".join(f"{k}: {n}" for k, n in t.get("resets", {}).items()) or "none"
        print(f"temporal: consistency error {t['consistency_error_m'] * 1000:.1f} mm over {t['consistency_pairs']} "
              f"frame pairs, flicker {flicker}; history resets: {resets}")
    bad = [i for i in summary["inputs"] if i["status"] in ("failed", "incomplete")]
    for item in bad:
        print(f"lingbot-depth batch: {item['label']}: {item['error'] or '; '.join(item['failed_units'])}",
              file=sys.stderr)
    return 1 if bad else 0
