"""Accuracy of the weight-free completion estimators on the real frames in ../shared/data.

KITTI (2 frames, 1242x375): sparse input = 64 scan-line rows of the ground truth.
NYU (3 frames, 640x480): sparse input = 500 random ground-truth pixels (mean over --seeds draws).
Scored on every valid ground-truth pixel with lingbot_depth_ros.evaluation.metrics.

Rows:
  nearest           nearest-sample fill (baseline), all pixels
  classical+extrap  classical, extrapolate=True (every pixel predicted, same pixels as nearest)
  classical+rgb     classical, extrapolate=True, rgb_refine=True
  classical         classical defaults (invalid where unsupported: see coverage)
  nearest@cls-valid nearest scored on the pixels classical (defaults) declares valid

Run:  .venv/bin/python bench/eval_estimators_shared.py [--data ../shared/data] [--seeds 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.estimators import create_estimator
from lingbot_depth_ros.evaluation.metrics import depth_metrics
from lingbot_depth_ros.evaluation.sparse_sampling import sample_random, sample_scanlines

KEYS = ("rmse_mm", "mae_mm", "irmse_1_per_km", "imae_1_per_km", "abs_rel", "delta1", "coverage")
ROWS = ("nearest", "classical+extrap", "classical+rgb", "classical", "nearest@cls-valid")


def _load(data: Path) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    frames = []
    for frame in ("0000000050", "0000000100"):
        gt = cv2.imread(str(data / "kitti_gt" / f"gt_{frame}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256
        rgb = cv2.cvtColor(cv2.imread(str(data / "kitti_gt" / f"rgb_{frame}.png")), cv2.COLOR_BGR2RGB)
        frames.append(("kitti", f"kitti_{frame}", rgb, gt))
    for frame in ("00000", "00050", "00100"):
        gt = cv2.imread(str(data / "nyu" / f"sync_depth_{frame}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
        rgb = cv2.cvtColor(cv2.imread(str(data / "nyu" / f"rgb_{frame}.jpg")), cv2.COLOR_BGR2RGB)
        frames.append(("nyu", f"nyu_{frame}", rgb, gt))
    return frames


def evaluate_frame(rgb: np.ndarray, gt: np.ndarray, sparse: np.ndarray) -> dict[str, dict[str, float]]:
    """Metrics of every row of the table for one frame and one sparse draw."""
    nearest = create_estimator("nearest").estimate(rgb, sparse, None).depth_m
    classical = create_estimator("classical").estimate(rgb, sparse, None)
    return {
        "nearest": depth_metrics(nearest, gt),
        "classical+extrap": depth_metrics(
            create_estimator("classical", extrapolate=True).estimate(rgb, sparse, None).depth_m, gt),
        "classical+rgb": depth_metrics(
            create_estimator("classical", extrapolate=True, rgb_refine=True).estimate(rgb, sparse, None).depth_m,
            gt),
        "classical": depth_metrics(classical.depth_m, gt),
        "nearest@cls-valid": depth_metrics(np.where(classical.valid, nearest, np.nan), gt),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=1, help="NYU random draws per frame (metrics averaged)")
    parser.add_argument("--scanlines", type=int, default=64)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()

    per_dataset: dict[str, dict[str, list[dict[str, float]]]] = {}
    header = f"{'frame':18s} {'estimator':18s} " + " ".join(f"{k:>14s}" for k in KEYS)
    print(header)
    print("-" * len(header))
    for dataset, name, rgb, gt in _load(args.data):
        draws = ([sample_scanlines(gt, args.scanlines)] if dataset == "kitti"
                 else [sample_random(gt, args.samples, seed=s) for s in range(args.seeds)])
        results = [evaluate_frame(rgb, gt, sparse) for sparse in draws]
        for row in ROWS:
            mean = {k: float(np.mean([r[row][k] for r in results])) for k in KEYS}
            per_dataset.setdefault(dataset, {}).setdefault(row, []).append(mean)
            print(f"{name:18s} {row:18s} " + " ".join(f"{mean[k]:14.4f}" for k in KEYS))
        print()
    print("mean over frames")
    for dataset, rows in per_dataset.items():
        for row in ROWS:
            mean = {k: float(np.mean([m[k] for m in rows[row]])) for k in KEYS}
            print(f"{dataset:18s} {row:18s} " + " ".join(f"{mean[k]:14.4f}" for k in KEYS))
        base = {k: float(np.mean([m[k] for m in rows["nearest"]])) for k in ("rmse_mm", "mae_mm")}
        best = {k: float(np.mean([m[k] for m in rows["classical+extrap"]])) for k in ("rmse_mm", "mae_mm")}
        print(f"{dataset:18s} classical+extrap / nearest: RMSE x{best['rmse_mm'] / base['rmse_mm']:.3f}, "
              f"MAE x{best['mae_mm'] / base['mae_mm']:.3f}")
        print()


if __name__ == "__main__":
    main()
