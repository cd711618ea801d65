"""Confidence-weighted TSDF fusion on the scene bag's ground truth (issue 20, fusion).

Usage: python bench/bench_fusion_confidence.py [--frames 20] [--width 640 --height 480] [--voxel 0.03]
                                              [--estimators classical,nearest] [--out bench/results/...txt]

Writes a scene bag (procedural scene, simulated 32-beam LiDAR, exact poses on its pose topic), then runs the
offline fusion (``lingbot-depth fuse``'s :func:`~lingbot_depth_ros.fusion.offline.fuse`) on it per depth source
(the estimator completing the bag's LiDAR; its confidence made from the estimator's cues as in the depth node)
unweighted, confidence-weighted, and weighted with a confidence_min gate. Scores the fused cloud against the
scene's exact geometry:

* accuracy: distance of every fused point to the nearest true surface (analytic, from the scene layout):
  mean / median / p95 [mm];
* completeness: share of the true surface the frames saw (ground-truth depth within the max depth of every
  frame, one sample per voxel) with a fused point within 2 voxels.

Prints a Markdown table (the README "Fusion" figures come from here) and the integration time per frame.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lingbot_depth_ros.bags.datasets import scene_frames, write_scene_bag
from lingbot_depth_ros.fusion.ground_truth import distance_to_layout, nearest_distance, observed_surface
from lingbot_depth_ros.fusion.offline import fuse
from lingbot_depth_ros.io.ply import read_ply
from lingbot_depth_ros.synthetic import SceneGenerator

MAX_DEPTH_M = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voxel", type=float, default=0.03, help="TSDF voxel edge [m]")
    parser.add_argument("--min-weight", type=float, default=0.5, help="weight threshold of extracted points "
                        "(lingbot-depth fuse's --min-weight default)")
    parser.add_argument("--gate", type=float, default=0.5, help="confidence_min of the gated run")
    parser.add_argument("--estimators", default="classical,nearest")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    scene = {"width": args.width, "height": args.height, "seed": args.seed}
    frames = list(scene_frames(args.frames, **scene))
    gen = SceneGenerator(width=args.width, height=args.height, seed=args.seed, n_boxes=6)
    layout = gen.layout
    box_lo, box_hi = np.array([b.lo for b in layout.boxes]), np.array([b.hi for b in layout.boxes])
    gt_depths = [f.depth_gt_m for f in frames if f.depth_gt_m is not None]
    poses = [f.camera_pose for f in frames if f.camera_pose is not None]
    truth = observed_surface(gt_depths, frames[0].intrinsics, poses, args.voxel, MAX_DEPTH_M)
    runs = (("unweighted", False, 0.0), ("weighted", True, 0.0), (f"weighted, min {args.gate:g}", True, args.gate))
    lines = [f"scene bag seed {args.seed}: {args.frames} frames {args.width}x{args.height}, 32-beam LiDAR, "
             f"exact poses, voxel {args.voxel:g} m, max depth {MAX_DEPTH_M:g} m, "
             f"points need weight > {args.min_weight:g}; {len(truth)} true surface samples",
             "| depth | fusion | accuracy mean / median / p95 [mm] | completeness (2 voxels) | points | "
             "fuse() wall time [ms/frame: estimate, confidence, integrate; CPU] |", "|---|---|---|---|---|---|"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "scene_bag"
        write_scene_bag(bag, args.frames, **scene)
        for estimator in args.estimators.split(","):
            for label, weighting, gate in runs:
                out = Path(tmp) / f"{estimator}_{label.replace(' ', '_').replace(',', '')}"
                t0 = time.perf_counter()
                summary = fuse(bag, out, estimator=estimator, voxel_m=args.voxel, max_depth_m=MAX_DEPTH_M,
                               weight_threshold=args.min_weight, picture=False, progress=False,
                               confidence_weighting=weighting, confidence_min=gate)
                per_frame_ms = (time.perf_counter() - t0) / args.frames * 1000
                xyz, _ = read_ply(out / "fused.ply")
                dist_mm = distance_to_layout(xyz, layout.room_min, layout.room_max, box_lo, box_hi) * 1000
                near = nearest_distance(truth, xyz, 2 * args.voxel)
                lines.append(f"| {estimator} | {label} | {dist_mm.mean():.1f} / {np.median(dist_mm):.1f} / "
                             f"{np.percentile(dist_mm, 95):.1f} | {np.isfinite(near).mean():.3f} | {len(xyz)} | "
                             f"{per_frame_ms:.0f} |")
                print(lines[-1], flush=True)
                if weighting and summary.get("frames_unweighted"):
                    print(f"  ({json.dumps(summary['frames_unweighted'])} frames had no confidence)")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
