"""``lingbot-depth fuse``: options and entry point (the work is in :mod:`lingbot_depth_ros.fusion.offline`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lingbot_depth_ros.cli.arg_types import positive_float
from lingbot_depth_ros.cli.depth_scale import add_depth_scale_argument
from lingbot_depth_ros.errors import LingbotDepthError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``fuse`` options on ``parser``."""
    parser.add_argument("source", type=Path, help="rosbag2 folder, or a folder of RGB images (KITTI raw image_02 "
                        "layout recognised)")
    parser.add_argument("--out", type=Path, required=True, help="output folder: fused.ply, mesh.ply, fusion.json, "
                        "fused_top.png")
    parser.add_argument("--poses", type=Path, default=None, help="pose file T_map_camera per frame: 4x4, KITTI "
                        "3x4 per line, or TUM 't x y z qx qy qz qw' (default: the bag's pose topic, or "
                        "<folder>/poses.txt)")
    parser.add_argument("--estimator", default="classical", help="estimator run when there is no recorded depth "
                        "(default classical)")
    parser.add_argument("--depth-topic", default="/camera/depth/image", help="recorded depth in a bag (used when "
                        "present)")
    parser.add_argument("--sparse", type=Path, default=None, help="folder input: sparse depth files per image")
    parser.add_argument("--depth", type=Path, default=None, help="folder input: dense depth files per image")
    add_depth_scale_argument(parser, "--depth-scale", applies_to="folder input, the files of --sparse / --depth",
                             default_note="; the KITTI raw layout's own velodyne_raw: 1/256 by default")
    parser.add_argument("--intrinsics", default=None, help="folder input: fx,fy,cx,cy [px]")
    parser.add_argument("--calib", type=Path, default=None, help="folder input: KITTI calib_cam_to_cam.txt")
    parser.add_argument("--voxel", type=positive_float, default=0.05, help="TSDF voxel edge [m] (default 0.05)")
    parser.add_argument("--max-depth", type=positive_float, default=20.0, help="depth fused at most [m] (default 20)")
    parser.add_argument("--min-weight", type=float, default=0.5, help="points need more than this weight "
                        "(~frames seen; default 0.5)")
    parser.add_argument("--confidence-weighting", action="store_true", help="weight each pixel's TSDF update by its "
                        "confidence (0..1: made from the estimator's cues, or a bag's recorded <depth "
                        "namespace>/confidence); a frame without one is fused unweighted, counted in fusion.json")
    parser.add_argument("--confidence-min", type=float, default=None, help="with --confidence-weighting: pixels "
                        "whose confidence is below this (0..1) are not fused (default 0)")
    parser.add_argument("--no-picture", action="store_true", help="skip fused_top.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``fuse``: 0 = ok, 2 = bad input (one line on stderr)."""
    from lingbot_depth_ros.fusion.offline import fuse
    from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics

    try:
        intrinsics = None
        if args.intrinsics:
            try:
                fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
            except ValueError:
                raise LingbotDepthError(f"--intrinsics must be fx,fy,cx,cy, got {args.intrinsics!r}") from None
            if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
                raise LingbotDepthError(f"--intrinsics must be finite fx,fy,cx,cy [px] with fx, fy > 0, got "
                                        f"{args.intrinsics!r}")
            # width/height: placeholders, each frame takes its image's size (folder_frames)
            intrinsics = CameraIntrinsics(fx, fy, cx, cy, width=1, height=1)
        if args.confidence_min is not None and not args.confidence_weighting:
            raise LingbotDepthError("--confidence-min needs --confidence-weighting")
        summary = fuse(args.source, args.out, poses_file=args.poses, estimator=args.estimator,
                       depth_topic=args.depth_topic, sparse_dir=args.sparse, depth_dir=args.depth,
                       intrinsics=intrinsics, calib=args.calib, voxel_m=args.voxel, max_depth_m=args.max_depth,
                       weight_threshold=args.min_weight, picture=not args.no_picture,
                       progress=not args.quiet and sys.stderr.isatty(), sparse_scale=args.sparse_scale,
                       confidence_weighting=args.confidence_weighting,
                       confidence_min=0.0 if args.confidence_min is None else args.confidence_min)
    except (LingbotDepthError, OSError) as exc:
        print(f"lingbot-depth fuse: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
