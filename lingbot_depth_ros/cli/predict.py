"""``lingbot-depth predict``: dense depth for image files, off the robot.

For each image it writes, into the output folder, ``<stem>_depth.npy`` ((H, W) float32 [m], NaN
invalid), ``<stem>_depth_mm.png`` (16-bit [mm], 0 invalid), ``<stem>_depth_color.png`` (turbo) and
``<stem>_points.ply`` (binary, xyz [m] in the camera optical frame + rgb); with ``--confidence`` also
``<stem>_confidence.npy`` ((H, W) float32 0..1, NaN where the depth is NaN) and ``<stem>_confidence.png`` (16-bit,
confidence x 65535, 0 where the depth is invalid); with ``--surfaces`` /
``--obstacles`` also ``<stem>_surfaces.json`` / ``<stem>_obstacles.json`` (:mod:`lingbot_depth_ros.pipeline.analysis`);
with sparse depth and a learned estimator also ``<stem>_lidar_agreement.json`` (the LiDAR agreement guard, ``--guard``).
A folder is one sequence in name order: ``--param temporal.*`` runs the node's temporal stage over it (multi-sweep
LiDAR, temporal filter; ``--poses FILE`` for a moving camera) and writes ``temporal.json``
(:mod:`lingbot_depth_ros.cli.predict_sequence`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from lingbot_depth_ros.cli.analysis_options import add_analysis_arguments, request_from_args
from lingbot_depth_ros.cli.arg_types import non_negative_int, share
from lingbot_depth_ros.cli.depth_scale import add_depth_scale_argument
from lingbot_depth_ros.cli.estimator_args import add_estimator_arguments, estimator_flag_options
from lingbot_depth_ros.cli.predict_sequence import PredictSequence
from lingbot_depth_ros.errors import InputError, LingbotDepthError
from lingbot_depth_ros.estimators import DepthEstimator, create_estimator, estimator_names
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.scale_alignment import DEFAULT_MIN_INLIER_RATIO, DEFAULT_MIN_INLIERS
from lingbot_depth_ros.io.camera_info_yaml import load_camera_info_yaml
from lingbot_depth_ros.io.depth_files import DEFAULT_MAX_PIXELS, load_depth_file, load_rgb_file, refuse_kitti_path_as_mm
from lingbot_depth_ros.io.image_jobs import Job, collect_jobs
from lingbot_depth_ros.io.output_folder import prepare_out_dir
from lingbot_depth_ros.params.guard import GUARD_ACTIONS
from lingbot_depth_ros.pipeline.analysis import analyse, write_analysis
from lingbot_depth_ros.pipeline.lidar_guard import GuardSettings
from lingbot_depth_ros.pipeline.prediction import (
    ALIGN_CHOICES,
    REQUEST_MODES,
    Prediction,
    assumed_intrinsics,
    predict_depth,
    resolve_align,
    resolve_mode,
)
from lingbot_depth_ros.pipeline.prediction_files import write_outputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``predict`` options on ``parser``."""
    parser.add_argument("image", type=Path, help="an image file, or a folder of images (batch)")
    parser.add_argument("--sparse-depth", type=Path, default=None,
                        help="sparse depth: 16-bit PNG [mm, or --sparse-scale] or float32 TIFF/NPY [m]; with an "
                             "image folder, a folder whose files share the images' stems")
    add_depth_scale_argument(parser, applies_to="--sparse-depth")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"), default=None,
                        help="pinhole intrinsics [px] of the image(s)")
    camera.add_argument("--camera-info", type=Path, default=None,
                        help="camera calibration YAML (ROS calibration file or a CameraInfo message)")
    parser.add_argument("--mode", choices=REQUEST_MODES, default=None,
                        help="default: completion when sparse depth is given, else monocular")
    parser.add_argument("--estimator", choices=sorted(estimator_names()), default="classical",
                        help="depth estimator (monocular needs 'lingbot' with a checkpoint)")
    add_estimator_arguments(parser)  # --checkpoint, --device, --precision ...: every estimator option
    parser.add_argument("--align", choices=ALIGN_CHOICES, default="auto",
                        help="robust fit of the prediction to --sparse-depth: scale or scale_shift (relative "
                             "estimators need it; their output is never written as metres unaligned); auto (default) = "
                             "scale_shift for relative estimators, off for metric ones")
    parser.add_argument("--align-min-inlier-ratio", type=share, default=DEFAULT_MIN_INLIER_RATIO,
                        help="smallest share of the sparse points within 5 %% of an accepted fit (default "
                             f"{DEFAULT_MIN_INLIER_RATIO}); a fit below it, or with a scale <= 0, is refused: "
                             "exit 2 (one image) with the reason")
    parser.add_argument("--align-min-inliers", type=non_negative_int, default=DEFAULT_MIN_INLIERS,
                        help=f"fewest sparse points within 5 %% of an accepted fit (default {DEFAULT_MIN_INLIERS})")
    parser.add_argument("--confidence", action="store_true",
                        help="also write the per-pixel confidence (the probability that the depth is within "
                             "max(0.10 m, 5 %%) of the truth): <stem>_confidence.npy (float32 0..1, NaN where the "
                             "depth is NaN) and <stem>_confidence.png (16-bit, x 65535, 0 where the depth is invalid)")
    parser.add_argument("--guard", choices=("off", *GUARD_ACTIONS), default="warn",
                        help="LiDAR agreement guard (README 'LiDAR agreement guard'), with --sparse-depth and a "
                             "learned estimator: 5 %% of the sparse samples are withheld from the model and the "
                             "depth is compared with them (<stem>_lidar_agreement.json and a line on stderr). warn "
                             "(default): reported only; rescale: a disagreeing depth is divided by its robust scale; "
                             "drop: a disagreeing image is an error; off: no guard")
    parser.add_argument("--out", type=Path, default=Path("lingbot_depth_out"),
                        help="output folder (created if missing; must be writable)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"largest accepted image or depth map, width x height (default {DEFAULT_MAX_PIXELS}); "
                             "sizes are read from file headers before decoding")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a temporal.* node parameter (README table), repeatable: a folder is one sequence in name "
                             "order; --param temporal.enabled=true filters the depth over time, --param "
                             "temporal.lidar_sweeps=3 gives the estimator the older sweeps too; writes temporal.json")
    parser.add_argument("--poses", type=Path, default=None, metavar="FILE",
                        help="camera poses, one per image in name order (4x4, KITTI 3x4 or TUM 't x y z qx qy qz qw'): "
                             "used by the temporal stage with --param temporal.pose_source=pose (else a standing "
                             "camera) and by the temporal metrics in temporal.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_analysis_arguments(parser)


def _intrinsics_for(args: argparse.Namespace, camera_info: CameraIntrinsics | None, width: int,
                    height: int) -> CameraIntrinsics | None:
    if args.intrinsics is not None:
        fx, fy, cx, cy = args.intrinsics
        return CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)
    if camera_info is not None:
        intrinsics = camera_info
        if (intrinsics.width, intrinsics.height) != (width, height):
            raise InputError(f"{args.camera_info} is for {intrinsics.width}x{intrinsics.height} images but the "
                             f"image is {width}x{height}")
        return intrinsics
    return None


def _guard_settings(args: argparse.Namespace) -> GuardSettings:
    """The guard of ``--guard`` (the node's other defaults; the hold-out draw seeded with 0: no frame stamp)."""
    guard = getattr(args, "guard", "warn")
    return GuardSettings(enabled=guard != "off", action="warn" if guard == "off" else guard)


def focal_text(prediction: Prediction) -> str:
    """One line saying which focal length [px] the depth scale used and whether it was estimated."""
    text = f"focal {prediction.focal_px:.1f} px ({prediction.focal_source.replace('_', ' ')})"
    if prediction.estimated_focal_px is not None and prediction.focal_source != "estimated":
        ratio = prediction.estimated_focal_px / prediction.focal_px
        text += f", estimated {prediction.estimated_focal_px:.1f} px (ratio {ratio:.3f})"
    return text


def run_job(estimator: DepthEstimator, job: Job, args: argparse.Namespace,
            camera_info: CameraIntrinsics | None = None, sequence: PredictSequence | None = None,
            index: int = 0) -> list[Path]:
    """Predict one image and write its outputs (``camera_info``: intrinsics from ``--camera-info``; ``sequence``:
    the run's temporal stage, ``index``: the image's place in it)."""
    rgb = load_rgb_file(job.image, args.max_pixels)
    sparse = load_depth_file(job.sparse, args.max_pixels, getattr(args, "sparse_scale", None)) \
        if job.sparse is not None else None
    if sparse is not None and sparse.shape != rgb.shape[:2]:
        raise InputError(f"{job.sparse} is {sparse.shape[1]}x{sparse.shape[0]} but {job.image} is "
                         f"{rgb.shape[1]}x{rgb.shape[0]}")
    align = resolve_align(estimator, args.align)
    mode = resolve_mode(args.mode, sparse is not None, align=align, supported=estimator.supported_modes)
    intrinsics = _intrinsics_for(args, camera_info, rgb.shape[1], rgb.shape[0])
    if sequence is not None:
        sparse = sequence.densify(index, sparse, intrinsics or assumed_intrinsics(rgb.shape[1], rgb.shape[0]))
    prediction = predict_depth(estimator, rgb, sparse, intrinsics, mode, align,
                               align_min_inlier_ratio=args.align_min_inlier_ratio,
                               align_min_inliers=args.align_min_inliers,
                               confidence=args.confidence, guard=_guard_settings(args))
    if sequence is not None:
        prediction = sequence.smooth(index, prediction, rgb)
    # tqdm.write: a line of its own above the progress bar of a folder run (a plain print when there is none)
    if prediction.alignment is not None:
        a = prediction.alignment
        tqdm.write(f"{job.image.name}: {prediction.output_kind} output aligned to the sparse depth in {a.space} "
                   f"(scale {a.scale:.4g}, shift {a.shift:.4g}, inliers {a.inlier_ratio:.2f} of {a.n_points})",
                   file=sys.stderr)
    if prediction.lidar_agreement is not None:
        tqdm.write(f"{job.image.name}: LiDAR guard: {prediction.lidar_agreement.summary()}", file=sys.stderr)
    if prediction.focal_source != "assumed" or prediction.estimated_focal_px is not None:
        tqdm.write(f"{job.image.name}: {focal_text(prediction)}", file=sys.stderr)
    try:
        written = write_outputs(prediction, args.out, job.image.stem)
        request = getattr(args, "analysis", None)
        if request is not None and request.wanted:  # --surfaces / --obstacles: JSON next to the depth
            written += write_analysis(analyse(prediction.depth_m, prediction.intrinsics, request), args.out,
                                      job.image.stem)
        return written
    except OSError as exc:
        raise InputError(f"cannot write into {args.out} ({exc.strerror or type(exc).__name__})") from None


def run(args: argparse.Namespace) -> int:
    """Execute ``predict``; returns the process exit code (0 ok, 1 some images failed, 2 bad usage)."""
    try:
        jobs = collect_jobs(args.image, args.sparse_depth)
        if args.mode is not None:  # fail before loading a model when the mode cannot work at all
            resolve_mode(args.mode, jobs[0].sparse is not None, align="scale" if args.align != "off" else "off")
        if args.max_pixels <= 0:
            raise InputError(f"--max-pixels must be > 0, got {args.max_pixels}")
        if getattr(args, "sparse_scale", None) is None:  # KITTI PNGs read as mm: refused before the model loads
            for job in jobs:
                if job.sparse is not None and job.sparse.suffix.lower() == ".png":
                    refuse_kitti_path_as_mm(job.sparse)
        camera_info = load_camera_info_yaml(args.camera_info) if args.camera_info is not None else None
        args.analysis = request_from_args(args)
        sequence = None
        if getattr(args, "param", None) or getattr(args, "poses", None) is not None:
            sequence = PredictSequence.from_options(args.param, args.poses, [job.image.name for job in jobs])
        prepare_out_dir(args.out)
        estimator = create_estimator(args.estimator, **estimator_flag_options(args))
        if sequence is not None:
            sequence.use_estimator(estimator)
    except LingbotDepthError as exc:
        print(f"lingbot-depth predict: error: {exc}", file=sys.stderr)
        return 2
    show_progress = len(jobs) > 1 and not args.quiet
    # disable=None: no bar (no \r in logs) when stderr is not a terminal
    progress = tqdm(total=len(jobs), desc="predict", unit="image", disable=None if show_progress else True)
    failures = 0
    for index, job in enumerate(jobs):
        try:
            written = run_job(estimator, job, args, camera_info, sequence, index)
        except LingbotDepthError as exc:
            failures += 1
            progress.write(f"lingbot-depth predict: {job.image.name}: error: {exc}", file=sys.stderr)
            if len(jobs) == 1:
                return 2
        else:
            if not show_progress:
                for path in written:
                    print(path)
        for line in sequence.take_announcements() if sequence is not None else []:
            progress.write(f"lingbot-depth predict: {job.image.name}: {line}", file=sys.stderr)
        progress.set_postfix_str(job.image.name[:40], refresh=False)
        progress.update()
    progress.close()
    if sequence is not None:
        path, line = sequence.write_summary(args.out)
        print(f"lingbot-depth predict: {line} ({path})", file=sys.stderr)
    if len(jobs) > 1:
        print(f"{len(jobs) - failures}/{len(jobs)} images written to {args.out}", file=sys.stderr)
    return 1 if failures else 0
