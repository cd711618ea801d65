"""Per-frame time of the weight-free estimators, side by side, at 640x480 and 1242x375.

Inputs: the real frames in ../shared/data when present (NYU 640x480 with 500 random samples, KITTI
1242x375 with 64 scan lines, and a real KITTI Velodyne frame 1242x375), otherwise a synthetic frame of
the same size and density. The times include the whole ``estimate()`` call (input validation, nearest
fill, smoothing, support mask). OpenCV runs with 1 thread and then with its default thread count (two
separate tables). ``--clock cpu`` measures the process CPU time instead of the wall clock: on a machine
shared with other jobs it is close to what the frame costs on an idle core (with 1 thread).

Learned estimators (``--family learned``, part of the default ``all``): every learned estimator at
640x480 in its own mode (lingbot and prompt_depth_anything: completion with 500 samples; depth_anything,
depth_pro, marigold: monocular). By default they run *tiny* random-weight checkpoints built on the fly
(library config classes, Hugging Face layout), on the CPU: this times the wrapper, pre/post-processing
and resizing around a negligible network, not the real models. ``--device cuda --real-sizes`` loads the
official checkpoints (repo ids below, from the local Hugging Face cache) instead: the GPU figures.

Run:  .venv/bin/python bench/bench_estimators.py [--repeats 50] [--data ../shared/data] [--clock wall|cpu]
          [--family all|weight-free|learned] [--learned-repeats 5] [--device cpu|cuda] [--real-sizes]
      (the working tree is imported, not an installed copy)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines

CONFIGS: dict[str, tuple[str, dict]] = {
    "nearest": ("nearest", {}),
    "classical": ("classical", {}),
    "classical (old defaults)": ("classical", {"occlusion_filter_px": 0, "occlusion_filter_rel": 0.1}),
    "classical+extrap": ("classical", {"extrapolate": True}),
    "classical+rgb": ("classical", {"rgb_refine": True}),
}


def _frames(data: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    nyu_gt_path = data / "nyu" / "sync_depth_00000.png"
    kitti_gt_path = data / "kitti_gt" / "gt_0000000050.png"
    rng = np.random.default_rng(0)
    if nyu_gt_path.is_file():
        gt = cv2.imread(str(nyu_gt_path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
        rgb = cv2.cvtColor(cv2.imread(str(data / "nyu" / "rgb_00000.jpg")), cv2.COLOR_BGR2RGB)
        nyu = ("640x480 (NYU, 500 samples)", rgb, sample_random(gt, 500))
    else:
        gt = rng.uniform(1, 8, (480, 640)).astype(np.float32)
        nyu = ("640x480 (synthetic, 500 samples)", rng.integers(0, 255, (480, 640, 3), np.uint8),
               sample_random(gt, 500))
    if kitti_gt_path.is_file():
        gt = cv2.imread(str(kitti_gt_path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256
        rgb = cv2.cvtColor(cv2.imread(str(data / "kitti_gt" / "rgb_0000000050.png")), cv2.COLOR_BGR2RGB)
        kitti = ("1242x375 (KITTI, 64 lines)", rgb, sample_scanlines(gt, 64))
    else:
        gt = np.where(rng.random((375, 1242)) < 0.3, rng.uniform(5, 80, (375, 1242)), 0).astype(np.float32)
        gt[:130] = 0
        kitti = ("1242x375 (synthetic, 64 lines)", rng.integers(0, 255, (375, 1242, 3), np.uint8),
                 sample_scanlines(gt, 64))
    frames = [nyu, kitti]
    velodyne_path = data / "kitti_lidar" / "velodyne_raw" / "image_02" / "0000000000.png"
    if velodyne_path.is_file():
        lidar = cv2.imread(str(velodyne_path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256
        rgb = cv2.cvtColor(cv2.imread(str(data / "kitti_lidar" / "image_02" / "0000000000.png")), cv2.COLOR_BGR2RGB)
        frames.append(("1242x375 (KITTI Velodyne, real)", rgb, lidar))
    return frames


def _time_ms(estimator, rgb: np.ndarray, sparse: np.ndarray | None, repeats: int,
             clock=time.perf_counter, intrinsics=None) -> tuple[float, float]:
    """(median, p90) [ms] of ``repeats`` estimates after one warm-up."""
    estimator.estimate(rgb, sparse, intrinsics)  # warm-up
    samples = []
    for _ in range(repeats):
        start = clock()
        estimator.estimate(rgb, sparse, intrinsics)
        samples.append((clock() - start) * 1000.0)
    return float(np.median(samples)), float(np.percentile(samples, 90))


# learned estimator label -> (estimator, official repo id for --real-sizes, mode, extra options)
LEARNED: dict[str, tuple[str, str, str, dict]] = {
    "lingbot": ("lingbot", "robbyant/lingbot-depth-postrain-dc-vitl14", "completion", {}),
    "depth_anything": ("depth_anything", "depth-anything/Depth-Anything-V2-Small-hf", "monocular", {}),
    "prompt_depth_anything": ("prompt_depth_anything", "depth-anything/prompt-depth-anything-vits-hf",
                              "completion", {}),
    "depth_pro": ("depth_pro", "apple/DepthPro-hf", "monocular", {}),
    "marigold": ("marigold", "prs-eth/marigold-depth-v1-1", "monocular", {"denoising_steps": 1, "ensemble_size": 1}),
}


def _tiny_checkpoint(name: str, folder: Path) -> str:
    """Build the tiny random-weight checkpoint of ``name`` under ``folder``; returns what ``checkpoint`` takes."""
    if name == "lingbot":
        from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint
        return str(make_tiny_checkpoint(folder / "model.pt"))
    if name == "depth_anything":
        from lingbot_depth_ros.testing.hf_checkpoints import save_tiny_depth_anything
        return str(save_tiny_depth_anything(folder / name))
    if name == "prompt_depth_anything":
        from lingbot_depth_ros.testing.hf_checkpoints import save_tiny_prompt_depth_anything
        return str(save_tiny_prompt_depth_anything(folder / name))
    from lingbot_depth_ros.testing.depth_pro_marigold_checkpoints import build_tiny_depth_pro, build_tiny_marigold
    return str((build_tiny_depth_pro if name == "depth_pro" else build_tiny_marigold)(folder / name))


def bench_learned(frame: tuple[str, np.ndarray, np.ndarray], repeats: int, device: str, real_sizes: bool,
                  clock) -> None:
    """Print one row per learned estimator: per-frame time at the frame's size (tiny or official checkpoints)."""
    import tempfile

    from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
    label, rgb, sparse = frame
    height, width = rgb.shape[:2]
    intrinsics = CameraIntrinsics(fx=0.9 * width, fy=0.9 * width, cx=(width - 1) / 2, cy=(height - 1) / 2,
                                  width=width, height=height)
    kind = "official checkpoints" if real_sizes else "tiny random-weight checkpoints (wrapper + resizing cost)"
    print(f"Learned estimators on {device}, {kind}: {label}, per-frame {clock.__name__} time, median / p90 [ms]")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (estimator_name, repo, mode, extra) in LEARNED.items():
            try:
                checkpoint = repo if real_sizes else _tiny_checkpoint(name, Path(tmp))
                options = dict(extra if not real_sizes or name != "marigold" else {})
                estimator = create_estimator(estimator_name, checkpoint=checkpoint, device=device, **options)
            except Exception as exc:  # noqa: BLE001 - a missing extra or checkpoint: say so, bench the rest
                print(f"  {name:24s} skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            frame_sparse = sparse if mode == "completion" else None
            median, p90 = _time_ms(estimator, rgb, frame_sparse, repeats, clock, intrinsics)
            print(f"  {name:24s} {mode:11s} {estimator.output_kind:19s} {median:8.1f} / {p90:8.1f} "
                  f"({1000 / median:6.1f} Hz)")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock (default) or CPU time of this process")
    parser.add_argument("--family", choices=("all", "weight-free", "learned"), default="all")
    parser.add_argument("--learned-repeats", type=int, default=5, help="timed frames per learned estimator")
    parser.add_argument("--device", default="cpu", help="torch device of the learned estimators (cpu, cuda)")
    parser.add_argument("--real-sizes", action="store_true",
                        help="learned estimators: official checkpoints from the local HF cache, not tiny ones")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    frames = _frames(args.data)
    if args.family in ("all", "learned"):
        bench_learned(frames[0], args.learned_repeats, args.device, args.real_sizes, clock)
    if args.family == "learned":
        return
    estimators = {label: create_estimator(name, **options) for label, (name, options) in CONFIGS.items()}
    default_threads = cv2.getNumThreads()
    for threads in (1, default_threads):
        cv2.setNumThreads(threads)
        print(f"OpenCV threads: {threads}   per-frame {args.clock} time, median / p90 [ms]  (rate at the median)")
        print(f"{'frame':32s}" + "".join(f"{label:>26s}" for label in CONFIGS))
        for name, rgb, sparse in frames:
            cells = []
            for estimator in estimators.values():
                median, p90 = _time_ms(estimator, rgb, sparse, args.repeats, clock)
                cells.append(f"{median:6.2f} / {p90:6.2f} ({1000 / median:5.0f} Hz)")
            print(f"{name:32s}" + "".join(f"{cell:>26s}" for cell in cells))
        print()
    cv2.setNumThreads(default_threads)


if __name__ == "__main__":
    main()
