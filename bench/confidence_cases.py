"""The frames the confidence calibration is fitted on and scored on (bench/fit_confidence.py, bench_confidence.py).

Every case: RGB, the sparse depth given to the estimator, the truth it is scored against, the intrinsics and
the pixels that count (truth valid and not an input sample). Two disjoint splits, ``fit`` and ``score``:

  scene        procedural room (synthetic/), simulated 32/64-beam LiDAR 0.27 m behind the camera, exact
               ground truth. fit: seeds 10-15; score: seeds 0-2 (the frames of bench/eval_estimators_shared.py).
  kitti_lidar  real Velodyne (7 frames x 2 cameras), LiDAR hold-out: 15 % of the LiDAR pixels removed from the
               input (seed 0), scored at those. fit: image_03 (right camera); score: image_02 (left).
  kitti_gt     KITTI depth-completion ground truth, input = 64 scan-line rows of it. fit: frame 0000000050;
               score: frame 0000000100 (``--swap-kitti-gt`` exchanges them: the cross-check of the other frame).
  nyu          NYU Depth V2, input = 500 random ground-truth pixels. fit: rgb_00000 (3 draws);
               score: rgb_00050, rgb_00100 (draw 0).

The real frames come from ../shared/data (its README); without it only the scene runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines

KITTI_K = (721.5377, 721.5377, 609.5593, 172.854)
NYU_K = (518.8579, 519.46961, 325.58245, 253.73617)
HOLDOUT_FRACTION = 0.15
SPLITS = ("fit", "score")
DATASETS = ("scene", "kitti_lidar", "kitti_gt", "nyu")


@dataclass
class Case:
    """One frame: ``rgb`` (H, W, 3) uint8, ``sparse_m`` (H, W) float32 input [m] (0 = none), ``truth_m``
    (H, W) float32 [m] (0 = none), ``score_mask`` (H, W) bool pixels that count (truth valid, not an input)."""

    dataset: str
    name: str
    rgb: np.ndarray
    sparse_m: np.ndarray
    truth_m: np.ndarray
    intrinsics: CameraIntrinsics

    @property
    def score_mask(self) -> np.ndarray:
        return (self.truth_m > 0) & np.isfinite(self.truth_m) & ~(self.sparse_m > 0)


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _depth(path: Path, scale: float) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / scale


def _intrinsics(k: tuple[float, float, float, float], rgb: np.ndarray) -> CameraIntrinsics:
    return CameraIntrinsics(*k, width=rgb.shape[1], height=rgb.shape[0])


def lidar_holdout(lidar_m: np.ndarray, fraction: float = HOLDOUT_FRACTION, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(input, held-out truth) of LiDAR depth (H, W) [m]: ``fraction`` of its pixels held out (fixed seed)."""
    measured = np.flatnonzero(lidar_m > 0)
    held = np.random.default_rng(seed).choice(measured, int(round(fraction * measured.size)), replace=False)
    sparse, truth = lidar_m.copy(), np.zeros_like(lidar_m)
    sparse.flat[held] = 0.0
    truth.flat[held] = lidar_m.flat[held]
    return sparse, truth


def scene_cases(split: str) -> Iterator[Case]:
    from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator

    runs = ((0, 32), (1, 64), (2, 32)) if split == "score" else \
        ((10, 32), (11, 64), (12, 32), (13, 64), (14, 32), (15, 64))
    for seed, beams in runs:
        gen = SceneGenerator(640, 480, seed=seed, n_boxes=16, lidar=LidarConfig.preset(beams))
        for index in (0, 7, 14):
            frame = gen.frame(index)
            yield Case("scene", f"seed{seed}/{beams}b/{index}", frame.rgb, frame.sparse_depth_m,
                       frame.depth_gt_m, frame.intrinsics)


def kitti_lidar_cases(data: Path, split: str) -> Iterator[Case]:
    root = data / "kitti_lidar"
    camera = "image_02" if split == "score" else "image_03"
    for path in sorted((root / camera).glob("*.png")):
        sparse, truth = lidar_holdout(_depth(root / "velodyne_raw" / camera / path.name, 256.0))
        rgb = _rgb(path)
        yield Case("kitti_lidar", f"{camera}/{path.stem}", rgb, sparse, truth, _intrinsics(KITTI_K, rgb))


def kitti_gt_cases(data: Path, split: str, swap: bool = False) -> Iterator[Case]:
    frames = {"fit": "0000000050", "score": "0000000100"}
    if swap:
        frames = {"fit": "0000000100", "score": "0000000050"}
    frame = frames[split]
    gt = _depth(data / "kitti_gt" / f"gt_{frame}.png", 256.0)
    rgb = _rgb(data / "kitti_gt" / f"rgb_{frame}.png")
    yield Case("kitti_gt", frame, rgb, sample_scanlines(gt, 64), gt, _intrinsics(KITTI_K, rgb))


def nyu_cases(data: Path, split: str) -> Iterator[Case]:
    draws = {"fit": (("00000", 0), ("00000", 1), ("00000", 2)), "score": (("00050", 0), ("00100", 0))}[split]
    for frame, seed in draws:
        gt = _depth(data / "nyu" / f"sync_depth_{frame}.png", 1000.0)
        rgb = _rgb(data / "nyu" / f"rgb_{frame}.jpg")
        yield Case("nyu", f"{frame}/s{seed}", rgb, sample_random(gt, 500, seed=seed), gt, _intrinsics(NYU_K, rgb))


def cases(split: str, data: Path | None, datasets: tuple[str, ...] = DATASETS, swap_kitti_gt: bool = False
          ) -> Iterator[Case]:
    """Every case of ``split`` ("fit" or "score") in ``datasets`` (real ones only when ``data`` exists)."""
    if "scene" in datasets:
        yield from scene_cases(split)
    if data is None or not data.is_dir():
        return
    if "kitti_lidar" in datasets:
        yield from kitti_lidar_cases(data, split)
    if "kitti_gt" in datasets:
        yield from kitti_gt_cases(data, split, swap_kitti_gt)
    if "nyu" in datasets:
        yield from nyu_cases(data, split)
