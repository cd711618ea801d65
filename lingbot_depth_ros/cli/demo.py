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

This module parses the command line and prints the summary; the run is
:func:`lingbot_depth_ros.replay.demo.run_demo`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lingbot_depth_ros.errors import InputError, LingbotDepthError

if TYPE_CHECKING:
    from lingbot_depth_ros.replay.demo import DemoResult


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


def _rate(text: str) -> float | None:
    """``--rate``: a multiple of the recorded rate, or None for ``max``.

    Raises:
        InputError: not a number > 0 and not ``max``.
    """
    if text == "max":
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not rate > 0:
        raise InputError(f"--rate must be > 0 or 'max', got {text}")
    return rate


def print_summary(result: DemoResult, out: Path) -> None:
    """The runs' latency, throughput, drops and accuracy, the files written and the fusion score."""
    evaluation, written, fused = result.evaluation, result.written, result.fused
    print(f"lingbot_depth_ros demo — {result.total_s:.1f} s in all (scene + bag {result.bag_s:.1f} s)")
    for run in evaluation.runs:
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
          f"{written['ply'] or 'no cloud received'}, {evaluation.report.markdown if evaluation.report else '-'}")
    if fused is not None:
        score: Any = fused["score"]
        print(f"  fusion: {fused['points']} points, {fused['triangles']} triangles | vs true surfaces: accuracy "
              f"mean {score['accuracy_mean_m'] * 1000:.0f} mm / p95 {score['accuracy_p95_m'] * 1000:.0f} mm "
              f"({score['accuracy_p95_voxels']:.2f} voxels), completeness {score['completeness']:.3f} | "
              f"{fused['surfaces']} surfaces -> {out}/fused.ply, mesh.ply, surfaces.json, fused_map.png")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-demo``: 0 = ok, 2 = error, 3 = the node answered no frame."""
    args = _parser().parse_args(argv)
    from lingbot_depth_ros.replay.demo import DemoSettings, run_demo  # rclpy, rosbags: after --help

    try:
        settings = DemoSettings(out=args.out, frames=args.frames, width=args.width, height=args.height,
                                seed=args.seed, lidar_beams=args.lidar_beams, estimator=args.estimator,
                                rate=_rate(args.rate), compare=not args.no_compare, storage=args.storage,
                                timeout_s=args.timeout_s, fusion=args.fusion, fusion_voxel_m=args.fusion_voxel)
        result = run_demo(settings)
    except (LingbotDepthError, OSError) as exc:
        print(f"lingbot-depth-demo: error: {exc}", file=sys.stderr)
        return 2
    print_summary(result, args.out)
    return 0 if result.evaluation.runs[0].predictions else 3


if __name__ == "__main__":
    sys.exit(main())
