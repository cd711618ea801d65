"""TSDF fusion accuracy, completeness and integration time on the demo scene (issue 13 section 1).

Usage: python bench/bench_fusion.py [--frames 20] [--width 640 --height 480] [--out bench/results/bench_fusion.txt]
For each depth source (ground truth; classical completion of the simulated 32-beam LiDAR) and voxel size,
fuses the frames at the scene's exact poses (CPU Open3D VoxelBlockGrid) and prints accuracy (mean / p95
distance of the fused points to the true surfaces), completeness (fraction of the observed true surface
within 2 voxels of a fused point; "covered" = where the depth source gave depth, "seen" = every pixel), the
median integration time per frame [ms] (process CPU time of this machine) and the memory of the blocks.
The figures of docs/fusion.md come from here. GPU (CUDA:0) timings were not measured.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.fusion.ground_truth import distance_to_layout, observed_surface, score_fusion
from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion
from lingbot_depth_ros.synthetic import SceneGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--voxels", default="0.02,0.03,0.05", help="comma-separated voxel sizes [m]")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    gen = SceneGenerator(width=args.width, height=args.height, seed=0)
    classical = create_estimator("classical")
    frames = list(gen.frames(args.frames))
    sources = {"ground truth": [f.depth_gt_m for f in frames], "classical": []}
    for f in frames:
        est = classical.estimate(f.rgb, f.sparse_depth_m, f.intrinsics)
        sources["classical"].append(np.where(est.valid, est.depth_m, 0.0).astype(np.float32))
    layout = gen.layout
    lo, hi = np.array([b.lo for b in layout.boxes]), np.array([b.hi for b in layout.boxes])
    lines = [f"demo scene seed 0, {args.frames} frames {args.width}x{args.height}, exact poses, max depth 5 m, "
             "CPU (Open3D 0.20 VoxelBlockGrid)",
             "| depth | voxel [m] | accuracy mean / p95 [mm] | p95 [voxels] | completeness covered / seen | "
             "integrate [ms/frame, CPU] | blocks [MB] |", "|---|---|---|---|---|---|---|"]
    seen_all = {}
    for name, depths in sources.items():
        for voxel in (float(v) for v in args.voxels.split(",")):
            fusion = TsdfFusion(FusionConfig(voxel_size_m=voxel, max_depth_m=5.0))
            times = []
            for f, depth in zip(frames, depths):
                t0 = time.process_time()
                fusion.integrate(depth, f.intrinsics, f.camera_pose, rgb=f.rgb)
                times.append(time.process_time() - t0)
            xyz, _ = fusion.point_cloud()
            dist = distance_to_layout(xyz, layout.room_min, layout.room_max, lo, hi)
            covered = observed_surface([np.where(d > 0, f.depth_gt_m, 0.0) for f, d in zip(frames, depths)],
                                       gen.intrinsics, [f.camera_pose for f in frames], voxel, 5.0)
            if voxel not in seen_all:
                seen_all[voxel] = observed_surface([f.depth_gt_m for f in frames], gen.intrinsics,
                                                   [f.camera_pose for f in frames], voxel, 5.0)
            s_cov = score_fusion(xyz, dist, covered, voxel)
            s_all = score_fusion(xyz, dist, seen_all[voxel], voxel)
            lines.append(f"| {name} | {voxel:g} | {s_cov.accuracy_mean_m * 1000:.1f} / "
                         f"{s_cov.accuracy_p95_m * 1000:.1f} | {s_cov.accuracy_p95_m / voxel:.2f} | "
                         f"{s_cov.completeness:.3f} / {s_all.completeness:.3f} | "
                         f"{statistics.median(times) * 1000:.0f} | {fusion.stats.memory_mb(fusion.config):.0f} |")
            print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
