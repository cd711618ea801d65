"""Accuracy of the weight-free completion estimators on real frames (../shared/data) and the procedural scene.

One run, side by side: nearest fill, a plain IP-Basic (bench/ipbasic_reference.py), ``classical`` with its
old defaults (occlusion filter off), ``classical`` with the current defaults, and current + RGB refine.

Data sets:
  kitti_lidar  real Velodyne HDL-64 (LiDAR 0.27 m behind the camera: points bleed through edges), 7 frames
               x 2 cameras, LiDAR hold-out: a fixed random 15 % of the LiDAR pixels is removed from the
               input (seed 0) and the prediction is scored at those pixels.
  kitti_gt     2 frames, sparse input = 64 scan-line rows of the ground truth (no parallax).
  nyu          3 frames, sparse input = 500 random ground-truth pixels (--seeds draws).
  scene        procedural room with the simulated LiDAR (mounted behind/above the camera, dropouts, range
               noise; 16 boxes so there are edges), 640x480, 32- and 64-beam, exact ground truth.

Every data set is scored twice (lingbot_depth_ros.evaluation.metrics.depth_metrics):
  all      invalid="nearest": every valid ground-truth (held-out) pixel counts; a pixel the estimator
           left invalid takes the nearest valid predicted depth.
  covered  invalid="exclude": only the pixels the estimator declared valid; see the coverage column.

Run:  .venv/bin/python bench/eval_estimators_shared.py [--data ../shared/data] [--seeds 1]
      (the working tree is imported, not an installed copy)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ipbasic_reference import ipbasic_complete  # noqa: E402

from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.evaluation.metrics import depth_metrics  # noqa: E402
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines  # noqa: E402

OLD_DEFAULTS = {"occlusion_filter_px": 0, "occlusion_filter_rel": 0.1}  # before the real-LiDAR tuning
HOLDOUT_FRACTION = 0.15
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def predictors() -> dict[str, Predictor]:
    """Row label -> f(rgb, sparse_m) -> depth [m] (NaN where the estimator declares no value)."""
    def estimator(name: str, **options: object) -> Predictor:
        est = create_estimator(name, **options)
        return lambda rgb, sparse: est.estimate(rgb, sparse, None).depth_m
    return {
        "nearest": estimator("nearest"),
        "ip-basic": lambda rgb, sparse: ipbasic_complete(sparse),
        "classical (old defaults)": estimator("classical", **OLD_DEFAULTS),
        "classical": estimator("classical"),
        "classical+rgb": estimator("classical", rgb_refine=True),
    }


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _depth(path: Path, scale: float) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / scale


def lidar_holdout(lidar_m: np.ndarray, fraction: float = HOLDOUT_FRACTION, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Split LiDAR depth (H, W) [m] into (input, held-out truth): ``fraction`` of its pixels, fixed seed."""
    measured = np.flatnonzero(lidar_m > 0)
    held = np.random.default_rng(seed).choice(measured, int(round(fraction * measured.size)), replace=False)
    sparse, truth = lidar_m.copy(), np.zeros_like(lidar_m)
    sparse.flat[held] = 0.0
    truth.flat[held] = lidar_m.flat[held]
    return sparse, truth


Case = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # name, rgb, sparse input [m], truth [m]


def kitti_lidar_cases(data: Path) -> Iterator[Case]:
    root = data / "kitti_lidar"
    for camera in ("image_02", "image_03"):
        for path in sorted((root / camera).glob("*.png")):
            sparse, truth = lidar_holdout(_depth(root / "velodyne_raw" / camera / path.name, 256.0))
            yield f"{camera}/{path.stem}", _rgb(path), sparse, truth


def kitti_gt_cases(data: Path, scanlines: int) -> Iterator[Case]:
    for frame in ("0000000050", "0000000100"):
        gt = _depth(data / "kitti_gt" / f"gt_{frame}.png", 256.0)
        yield frame, _rgb(data / "kitti_gt" / f"rgb_{frame}.png"), sample_scanlines(gt, scanlines), gt


def nyu_cases(data: Path, samples: int, seeds: int) -> Iterator[Case]:
    for frame in ("00000", "00050", "00100"):
        gt = _depth(data / "nyu" / f"sync_depth_{frame}.png", 1000.0)
        rgb = _rgb(data / "nyu" / f"rgb_{frame}.jpg")
        for seed in range(seeds):
            yield f"{frame}/s{seed}", rgb, sample_random(gt, samples, seed=seed), gt


def scene_cases() -> Iterator[Case]:
    from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator

    for seed, beams in ((0, 32), (1, 64), (2, 32)):
        gen = SceneGenerator(640, 480, seed=seed, n_boxes=16, lidar=LidarConfig.preset(beams))
        for index in (0, 7, 14):
            frame = gen.frame(index)
            yield f"seed{seed}/{beams}b/{index}", frame.rgb, frame.sparse_depth_m, frame.depth_gt_m


KEYS = ("rmse_mm", "mae_mm")


def evaluate(cases: Iterator[Case], rows: dict[str, Predictor]) -> dict[str, dict[str, list[float]]]:
    """Per row: lists over frames of all_rmse/all_mae/cov_rmse/cov_mae/coverage."""
    out: dict[str, dict[str, list[float]]] = {row: {} for row in rows}
    for _name, rgb, sparse, truth in cases:
        for row, predict in rows.items():
            pred = predict(rgb, sparse)
            every = depth_metrics(pred, truth, invalid="nearest")
            covered = depth_metrics(pred, truth, invalid="exclude")
            values = {"all_rmse": every["rmse_mm"], "all_mae": every["mae_mm"], "cov_rmse": covered["rmse_mm"],
                      "cov_mae": covered["mae_mm"], "coverage": covered["coverage"]}
            for key, value in values.items():
                out[row].setdefault(key, []).append(value)
    return out


def print_table(title: str, results: dict[str, dict[str, list[float]]], reference: str = "ip-basic") -> None:
    print(f"## {title}")
    print(f"{'estimator':26s} {'all RMSE':>9s} {'all MAE':>8s} {'cov RMSE':>9s} {'cov MAE':>8s} {'coverage':>9s}"
          f"   vs {reference} (all RMSE / MAE)   frames won (all RMSE) vs {reference}")
    ref = results[reference]
    for row, values in results.items():
        mean = {k: float(np.mean(v)) for k, v in values.items()}
        won = int(np.sum(np.array(values["all_rmse"]) < np.array(ref["all_rmse"])))
        ratio = (f"x{mean['all_rmse'] / np.mean(ref['all_rmse']):.3f} / "
                 f"x{mean['all_mae'] / np.mean(ref['all_mae']):.3f}")
        print(f"{row:26s} {mean['all_rmse']:9.1f} {mean['all_mae']:8.1f} {mean['cov_rmse']:9.1f} "
              f"{mean['cov_mae']:8.1f} {mean['coverage']:9.4f}   {ratio:>24s}   "
              f"{won}/{len(values['all_rmse'])}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=1, help="NYU random draws per frame")
    parser.add_argument("--scanlines", type=int, default=64)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--no-scene", action="store_true", help="skip the procedural scene")
    args = parser.parse_args()
    rows = predictors()
    print("Errors in mm. all = every valid ground-truth (held-out) pixel scored, invalid predictions filled with "
          "the nearest valid predicted depth; cov = covered pixels only (see coverage).\n")
    print_table(f"kitti_lidar: real Velodyne, 14 frames, LiDAR hold-out {HOLDOUT_FRACTION:.0%} (seed 0), "
                "scored at the held-out pixels", evaluate(kitti_lidar_cases(args.data), rows))
    print_table(f"kitti_gt: 2 frames, {args.scanlines} scan lines of the ground truth, scored on all GT pixels",
                evaluate(kitti_gt_cases(args.data, args.scanlines), rows))
    print_table(f"nyu: 3 frames x {args.seeds} draws, {args.samples} random samples",
                evaluate(nyu_cases(args.data, args.samples, args.seeds), rows))
    if not args.no_scene:
        print_table("scene: procedural room, simulated LiDAR behind/above the camera with dropouts and noise, "
                    "640x480, 9 frames", evaluate(scene_cases(), rows))


if __name__ == "__main__":
    main()
