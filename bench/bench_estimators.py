"""Per-frame time of the weight-free estimators, side by side, at 640x480 and 1242x375.

Inputs: the real frames in ../shared/data when present (NYU 640x480 with 500 random samples, KITTI
1242x375 with 64 scan lines, and a real KITTI Velodyne frame 1242x375), otherwise a synthetic frame of
the same size and density. The times include the whole ``estimate()`` call (input validation, nearest
fill, smoothing, support mask). OpenCV runs with 1 thread and then with its default thread count (two
separate tables). ``--clock cpu`` measures the process CPU time instead of the wall clock: on a machine
shared with other jobs it is close to what the frame costs on an idle core (with 1 thread).

Run:  .venv/bin/python bench/bench_estimators.py [--repeats 50] [--data ../shared/data] [--clock wall|cpu]
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

from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.evaluation.sparse_sampling import sample_random, sample_scanlines  # noqa: E402

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


def _time_ms(estimator, rgb: np.ndarray, sparse: np.ndarray, repeats: int,
             clock=time.perf_counter) -> tuple[float, float]:
    estimator.estimate(rgb, sparse, None)  # warm-up
    samples = []
    for _ in range(repeats):
        start = clock()
        estimator.estimate(rgb, sparse, None)
        samples.append((clock() - start) * 1000.0)
    return float(np.median(samples)), float(np.percentile(samples, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock (default) or CPU time of this process")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    frames = _frames(args.data)
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
