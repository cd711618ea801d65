"""What the LiDAR agreement guard's hold-out costs, and what it sees (README "LiDAR agreement guard").

The guard withholds ``guard.holdout_share`` of a frame's LiDAR samples from a learned estimator and compares the
output with them. This measures, on real frames (../shared/data), what completing from the remaining samples
costs in accuracy, for the completion estimators that give meaningful numbers on a CPU without real weights:
``classical`` and ``nearest`` (the learned ones ship only as tiny random checkpoints here, whose accuracy means
nothing; a learned completion model trained with random sparsity should lose no more than interpolation does).

Data sets (as bench/eval_estimators_shared.py):
  kitti_lidar  real Velodyne HDL-64, 14 frames; a fixed 15 % of the LiDAR (seed 0) is the evaluation set and is
               never given to the estimator; the guard's hold-out is drawn from the other 85 %.
  kitti_gt     2 frames, input = 64 scan-line rows of the ground truth, scored on all GT pixels.
  nyu          3 frames x 3 draws of 500 random GT pixels, scored on all GT pixels.

Per hold-out share: RMSE / MAE [mm] with the guard's hold-out vs with every sample (``cost`` = relative
increase), and the guard's own figures on that frame: median |output - LiDAR| / LiDAR on the held-out samples
and on the samples the estimator saw (``seen``: what ``guard.holdout_share`` 0 would report).

Run:  .venv/bin/python bench/bench_lidar_guard.py [--data ../shared/data] [--shares 0.05 0.1 0.2]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.evaluation.metrics import depth_metrics  # noqa: E402
from lingbot_depth_ros.pipeline.lidar_guard import holdout_mask  # noqa: E402
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines  # noqa: E402

EVALUATION_SHARE = 0.15
Case = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # name, rgb, sparse input [m], truth [m]


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _depth(path: Path, scale: float) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / scale


def kitti_lidar_cases(data: Path) -> Iterator[Case]:
    root = data / "kitti_lidar"
    for camera in ("image_02", "image_03"):
        for path in sorted((root / camera).glob("*.png")):
            lidar = _depth(root / "velodyne_raw" / camera / path.name, 256.0)
            evaluation = holdout_mask(lidar, EVALUATION_SHARE, seed=0)
            yield (f"{camera}/{path.stem}", _rgb(path), np.where(evaluation, 0, lidar).astype(np.float32),
                   np.where(evaluation, lidar, 0).astype(np.float32))


def kitti_gt_cases(data: Path) -> Iterator[Case]:
    for frame in ("0000000050", "0000000100"):
        gt = _depth(data / "kitti_gt" / f"gt_{frame}.png", 256.0)
        yield frame, _rgb(data / "kitti_gt" / f"rgb_{frame}.png"), sample_scanlines(gt, 64), gt


def nyu_cases(data: Path, seeds: int = 3) -> Iterator[Case]:
    for frame in ("00000", "00050", "00100"):
        gt = _depth(data / "nyu" / f"sync_depth_{frame}.png", 1000.0)
        rgb = _rgb(data / "nyu" / f"rgb_{frame}.jpg")
        for seed in range(seeds):
            yield f"{frame}/s{seed}", rgb, sample_random(gt, 500, seed=seed), gt


def median_rel(depth_m: np.ndarray, samples_m: np.ndarray) -> float:
    used = (samples_m > 0) & np.isfinite(depth_m)
    return float(np.median(np.abs(depth_m[used] - samples_m[used]) / samples_m[used]))


def measure(cases: list[Case], estimator: str, shares: list[float]) -> list[str]:
    """Table rows: one per hold-out share (means over the frames)."""
    est = create_estimator(estimator)
    full = [depth_metrics(est.estimate(rgb, sparse, None).depth_m, truth, invalid="nearest")
            for _, rgb, sparse, truth in cases]
    rows = []
    for share in shares:
        rmse, mae, held_err, seen_err = [], [], [], []
        for index, (_, rgb, sparse, truth) in enumerate(cases):
            held = holdout_mask(sparse, share, seed=1000 + index)
            given = np.where(held, 0, sparse).astype(np.float32)
            depth = est.estimate(rgb, given, None).depth_m
            metrics = depth_metrics(depth, truth, invalid="nearest")
            rmse.append(metrics["rmse_mm"] / full[index]["rmse_mm"] - 1)
            mae.append(metrics["mae_mm"] / full[index]["mae_mm"] - 1)
            held_err.append(median_rel(depth, np.where(held, sparse, 0)))
            seen_err.append(median_rel(depth, given))
        rows.append(f"| {estimator} | {share:.0%} | {np.mean([m['rmse_mm'] for m in full]):.0f} | "
                    f"{100 * np.mean(rmse):+.1f} % (max {100 * np.max(rmse):+.1f} %) | "
                    f"{100 * np.mean(mae):+.1f} % | {100 * np.mean(held_err):.2f} % | "
                    f"{100 * np.mean(seen_err):.2f} % |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--estimators", nargs="+", default=["classical", "nearest"])
    args = parser.parse_args()
    sets = {"kitti_lidar (14 frames, scored on a fixed 15 % never given)": list(kitti_lidar_cases(args.data)),
            "kitti_gt (2 frames, 64 scan lines, all GT pixels)": list(kitti_gt_cases(args.data)),
            "nyu (3 frames x 3 draws, 500 samples, all GT pixels)": list(nyu_cases(args.data))}
    for title, cases in sets.items():
        print(f"## {title}")
        print("| estimator | hold-out | RMSE all samples [mm] | RMSE cost | MAE cost | guard median error held-out | "
              "guard median error seen |")
        print("|---|---|---|---|---|---|---|")
        for estimator in args.estimators:
            for row in measure(cases, estimator, args.shares):
                print(row)
        print()


if __name__ == "__main__":
    main()
