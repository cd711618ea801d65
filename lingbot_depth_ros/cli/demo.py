"""``lingbot-depth-demo`` (``make demo``): the whole chain on a procedural scene, in about half a minute.

1. renders a short procedural room scene (RGB, ground-truth depth, simulated 32-beam LiDAR) into a
   rosbag2 (``<out>/bag``);
2. starts the real depth node as a separate process (classical completion by default);
3. replays the bag into it over real ROS 2 topics (private ones, under
   ``/lingbot_eval/p<pid>/<run>``) and records its depth and point-cloud outputs;
4. writes into ``<out>`` (default ``./demo_output``): ``depth/frame_NNNN.png`` (16-bit, mm) and
   ``.npy`` (float32 m, NaN = invalid) per frame, ``cloud_NNNN.ply`` (the last frame's cloud, with
   colour), and ``report/`` (report.md, report.json, frame pictures, error-vs-distance plot), with
   the nearest-neighbour baseline replayed into a second node for comparison;
5. prints a short summary: latency, throughput, dropped frames and accuracy against ground truth.

Needs no GPU, no model weights and no dataset. ROS discovery stays on this host
(``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless set).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import InputError, LingbotDepthError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lingbot-depth-demo", description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default ./demo_output)")
    p.add_argument("--frames", type=int, default=20, help="frames of the scene (default 20)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--lidar-beams", type=int, default=32, help="simulated LiDAR beams (default 32)")
    p.add_argument("--estimator", default="classical", help="estimator of the node (default classical)")
    p.add_argument("--rate", default="1.0", help="replay rate: multiple of the recorded 10 Hz, or 'max' "
                   "(default 1.0)")
    p.add_argument("--no-compare", action="store_true", help="skip the nearest-neighbour baseline run")
    p.add_argument("--storage", choices=("mcap", "db3"), default="mcap")
    p.add_argument("--timeout-s", type=float, default=10.0, help="per-frame answer timeout [s]")
    p.add_argument("--fusion", action="store_true", help="also fuse the node's depth at the scene's exact poses "
                   "(TSDF, needs the fusion extra): fused.ply, mesh.ply, surfaces.json, fused_map.png, accuracy")
    p.add_argument("--fusion-voxel", type=float, default=0.03, help="TSDF voxel edge for --fusion [m] (default 0.03)")
    return p


def write_outputs(out: Path, predictions: dict[int, np.ndarray],
                  clouds: dict[int, tuple[np.ndarray, np.ndarray | None]]) -> dict[str, Path | int | None]:
    """Depth PNG [mm] + NPY [m] per answered frame, and a PLY of the last recorded cloud."""
    from lingbot_depth_ros.io.depth_files import save_depth_png_mm
    from lingbot_depth_ros.io.ply import write_ply

    depth_dir = out / "depth"
    if depth_dir.exists():
        shutil.rmtree(depth_dir)
    depth_dir.mkdir(parents=True)
    for index, depth in sorted(predictions.items()):
        save_depth_png_mm(depth_dir / f"frame_{index:04d}.png", depth)
        np.save(depth_dir / f"frame_{index:04d}.npy", depth.astype(np.float32))
    for old in out.glob("cloud_*.ply"):
        old.unlink()
    ply = None
    if clouds:
        last = max(clouds)
        xyz, rgb = clouds[last]
        ply = write_ply(out / f"cloud_{last:04d}.ply", xyz, rgb)
    return {"depth_dir": depth_dir, "depth_frames": len(predictions), "ply": ply}


def run_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from lingbot_depth_ros.bags.datasets import write_scene_bag
    from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
    from lingbot_depth_ros.deploy.node_process import NodeLaunch
    from lingbot_depth_ros.evaluation.replay import ReplayOptions
    from lingbot_depth_ros.cli.eval import evaluate

    apply_default_dds_profile()
    if args.frames < 1:
        raise InputError(f"--frames must be >= 1, got {args.frames}")
    rate = None if args.rate == "max" else float(args.rate)
    if rate is not None and not rate > 0:
        raise InputError(f"--rate must be > 0 or 'max', got {args.rate}")
    t0 = time.monotonic()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    bag_path = out / "bag"
    if bag_path.exists():
        shutil.rmtree(bag_path)
    print(f"[1/4] rendering {args.frames} frames {args.width}x{args.height} of the procedural scene -> {bag_path}")
    summary = write_scene_bag(bag_path, args.frames, storage=args.storage, width=args.width, height=args.height,
                              seed=args.seed, lidar_beams=args.lidar_beams)
    t_bag = time.monotonic() - t0

    print(f"[2/4] starting the depth node (estimator {args.estimator}, completion) and replaying the bag "
          f"({'as fast as it answers' if rate is None else f'{rate:g}x recorded rate'})")
    options = ReplayOptions(rate=rate, timeout_s=args.timeout_s, record_points=True, progress=True)
    launch = NodeLaunch(estimator=args.estimator, mode="completion")
    result = evaluate(bag_path, out / "report", options, launch=launch,
                      compare=[] if args.no_compare else ["nearest"], max_pictures=6,
                      meta={"scene": f"procedural room, seed {args.seed}, {args.lidar_beams}-beam LiDAR",
                            "bag": f"{bag_path} ({summary.storage}, {summary.n_frames} frames)"})
    primary = result.runs[0]
    print("[3/4] writing depth PNG/NPY per frame and the last point cloud")
    written = write_outputs(out, primary.predictions, result.clouds.get(primary.label, {}))
    fused = None
    if args.fusion:
        from lingbot_depth_ros.fusion.demo_scene import fuse_scene_predictions

        print(f"[3b/4] fusing {len(primary.predictions)} depth frames at the scene's exact poses "
              f"(voxel {args.fusion_voxel:g} m)")
        fused = fuse_scene_predictions(primary.predictions, out, width=args.width, height=args.height,
                                       seed=args.seed, voxel_m=args.fusion_voxel)
    total = time.monotonic() - t0
    print("[4/4] done\n")
    print(f"lingbot_depth_ros demo — {total:.1f} s in all (scene + bag {t_bag:.1f} s)")
    for run in result.runs:
        s = run.summary()
        lat, m = s["latency_ms"], s["metrics"]
        line = f"  {s['label']:>10}: {s['frames_answered']}/{s['frames_sent']} frames, {s['frames_dropped']} dropped"
        if lat["mean"] is not None:
            line += (f", latency mean {lat['mean']:.0f} ms / p95 {lat['p95']:.0f} ms, "
                     f"{s['throughput_hz']:.1f} Hz")
        if m.get("rmse_mm") is not None:
            line += (f" | vs ground truth: RMSE {m['rmse_mm']:.0f} mm, MAE {m['mae_mm']:.0f} mm, "
                     f"AbsRel {m['abs_rel']:.3f}, δ1 {m['delta1']:.3f}, coverage {m['coverage']:.2f}")
        print(line)
    print(f"  outputs: {written['depth_dir']}/ ({written['depth_frames']} frames, PNG mm + NPY m), "
          f"{written['ply'] or 'no cloud received'}, {result.report.markdown if result.report else '-'}")
    if fused is not None:
        score = fused["score"]
        print(f"  fusion: {fused['points']} points, {fused['triangles']} triangles | vs true surfaces: accuracy "
              f"mean {score['accuracy_mean_m'] * 1000:.0f} mm / p95 {score['accuracy_p95_m'] * 1000:.0f} mm "
              f"({score['accuracy_p95_voxels']:.2f} voxels), completeness {score['completeness']:.3f} | "
              f"{fused['surfaces']} surfaces -> {out}/fused.ply, mesh.ply, surfaces.json, fused_map.png")
    return 0 if primary.predictions else 3


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-demo``: 0 = ok, 2 = error, 3 = the node answered no frame."""
    args = _parser().parse_args(argv)
    try:
        return run_demo(args)
    except (LingbotDepthError, OSError) as exc:
        print(f"lingbot-depth-demo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
