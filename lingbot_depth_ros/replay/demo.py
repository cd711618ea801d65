"""What ``lingbot-depth-demo`` does (the command line is :mod:`lingbot_depth_ros.cli.demo`): render the
procedural scene into a bag, replay it into a depth node started here (and the nearest-neighbour baseline),
write the depth maps, the last cloud and the report, optionally fuse the depth at the scene's poses.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lingbot_depth_ros.bags.datasets import write_scene_bag
from lingbot_depth_ros.deploy.dds import apply_default_dds_profile
from lingbot_depth_ros.deploy.node_process import NodeLaunch
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.evaluation.replay import EvaluationResult, ReplayOptions
from lingbot_depth_ros.io.depth_files import save_depth_png_mm
from lingbot_depth_ros.io.ply import write_ply
from lingbot_depth_ros.replay.evaluate import evaluate


@dataclass(frozen=True)
class DemoSettings:
    """One demo run: ``frames`` of ``width`` x ``height`` [px] of the scene ``seed`` with a ``lidar_beams``-beam
    LiDAR, written as ``storage`` (mcap / db3); the node runs ``estimator`` (completion); ``rate``: multiple of
    the recorded 10 Hz or None = next frame once the previous answered; ``timeout_s`` [s] per frame;
    ``compare``: also replay into the nearest-neighbour baseline; ``fusion``: TSDF-fuse the node's depth at the
    scene's exact poses with ``fusion_voxel_m`` [m] voxels (needs the fusion extra)."""

    out: Path = Path("demo_output")
    frames: int = 20
    width: int = 640
    height: int = 480
    seed: int = 0
    lidar_beams: int = 32
    estimator: str = "classical"
    rate: float | None = 1.0
    compare: bool = True
    storage: str = "mcap"
    timeout_s: float = 10.0
    fusion: bool = False
    fusion_voxel_m: float = 0.03


@dataclass
class DemoResult:
    """What a demo produced: the evaluation (runs, report, clouds), the files of :func:`write_outputs`, the
    fusion summary (None without ``fusion``) and the times [s] of the whole run and of scene + bag."""

    evaluation: EvaluationResult
    written: dict[str, Path | int | None] = field(default_factory=dict)
    fused: dict[str, object] | None = None
    total_s: float = 0.0
    bag_s: float = 0.0


def write_outputs(out: Path, predictions: dict[int, np.ndarray],
                  clouds: dict[int, tuple[np.ndarray, np.ndarray | None]]) -> dict[str, Path | int | None]:
    """Depth PNG [mm] + NPY [m] per answered frame, and a PLY of the last recorded cloud."""
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


def run_demo(settings: DemoSettings) -> DemoResult:
    """Run the demo into ``settings.out``, printing its steps ([1/4]...[4/4]).

    Raises:
        InputError: fewer than one frame or a rate <= 0. LingbotDepthError / OSError: the replay or
            the files failed.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    apply_default_dds_profile()
    if settings.frames < 1:
        raise InputError(f"--frames must be >= 1, got {settings.frames}")
    rate = settings.rate
    if rate is not None and not rate > 0:
        raise InputError(f"--rate must be > 0 or 'max', got {rate}")
    t0 = time.monotonic()
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    bag_path = out / "bag"
    if bag_path.exists():
        shutil.rmtree(bag_path)
    print(f"[1/4] rendering {settings.frames} frames {settings.width}x{settings.height} of the procedural scene "
          f"-> {bag_path}")
    summary = write_scene_bag(bag_path, settings.frames, storage=settings.storage, width=settings.width,
                              height=settings.height, seed=settings.seed, lidar_beams=settings.lidar_beams)
    t_bag = time.monotonic() - t0

    print(f"[2/4] starting the depth node (estimator {settings.estimator}, completion) and replaying the bag "
          f"({'as fast as it answers' if rate is None else f'{rate:g}x recorded rate'})")
    options = ReplayOptions(rate=rate, timeout_s=settings.timeout_s, record_points=True, progress=True)
    launch = NodeLaunch(estimator=settings.estimator, mode="completion")
    result = evaluate(bag_path, out / "report", options, launch=launch,
                      compare=["nearest"] if settings.compare else [], max_pictures=6,
                      meta={"scene": f"procedural room, seed {settings.seed}, {settings.lidar_beams}-beam LiDAR",
                            "bag": f"{bag_path} ({summary.storage}, {summary.n_frames} frames)"})
    primary = result.runs[0]
    print("[3/4] writing depth PNG/NPY per frame and the last point cloud")
    written = write_outputs(out, primary.predictions, result.clouds.get(primary.label, {}))
    fused = None
    if settings.fusion:
        from lingbot_depth_ros.fusion.demo_scene import fuse_scene_predictions

        print(f"[3b/4] fusing {len(primary.predictions)} depth frames at the scene's exact poses "
              f"(voxel {settings.fusion_voxel_m:g} m)")
        fused = fuse_scene_predictions(primary.predictions, out, width=settings.width, height=settings.height,
                                       seed=settings.seed, voxel_m=settings.fusion_voxel_m)
    print("[4/4] done\n")
    return DemoResult(evaluation=result, written=written, fused=fused, total_s=time.monotonic() - t0, bag_s=t_bag)
