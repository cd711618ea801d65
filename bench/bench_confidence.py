"""How good the shipped per-pixel confidence is (README "Per-pixel confidence"), and what gating on it buys.

The confidence (lingbot_depth_ros/confidence/definition.py) is the probability that a pixel's depth is within
max(0.10 m, 5 % of the true depth) of the truth. Every figure here is on the ``score`` split of
bench/confidence_cases.py, which the calibration (bench/fit_confidence.py) never saw: procedural scene seeds 0-2,
kitti_lidar image_02 (15 % LiDAR hold-out), kitti_gt frame 0000000100, NYU rgb_00050 / rgb_00100. The
confidence is made by the node's own code path (DepthPipeline with confidence on).

Calibration table, per estimator and data set (pixels pooled over the data set's frames):
  AUSE RMSE / AbsRel   area between the sparsification curve and the oracle's (RMSE in m, AbsRel unitless)
  /random              that area relative to a random ordering's (1 = no better than random; target <= 0.3)
  ECE                  expected calibration error of the stated probability, 10 bins (target <= 0.05)
  mean conf / hit      mean confidence and the share of pixels actually within the tolerance

Gating table (issue 20 §2), KITTI GT frames: the scored pixels (valid GT, not an input sample) kept at each
minimum confidence, and the RMSE of the kept pixels vs all (target: RMSE -60 % while keeping >= 70 %).

Run:  .venv/bin/python bench/bench_confidence.py [--data ../shared/data] [--estimators classical nearest lingbot]
      [--datasets scene kitti_lidar kitti_gt nyu] [--thresholds 0.3 0.5 0.7 0.8 0.9 0.95]
The learned estimators (lingbot, prompt_depth_anything, depth_anything, depth_pro, marigold) run tiny random-weight
checkpoints (bench/bench_estimators.py): their depth means nothing; their rows check the code path end to end and
whether the (prior) confidence of a useless output stays calibrated. Completion estimators get the LiDAR; relative
monocular ones (depth_anything, marigold with a 3-member ensemble for the spread) are fitted to it (align_to_sparse
scale_shift); depth_pro runs monocular without LiDAR.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from confidence_cases import DATASETS, Case, cases  # noqa: E402

from lingbot_depth_ros.errors import LingbotDepthError  # noqa: E402
from lingbot_depth_ros.estimators import COMPLETION, METRIC, create_estimator  # noqa: E402
from lingbot_depth_ros.estimators.base import DepthEstimator  # noqa: E402
from lingbot_depth_ros.evaluation.confidence_metrics import calibration, sparsification  # noqa: E402
from lingbot_depth_ros.pipeline.depth_pipeline import DepthPipeline, OutputSettings  # noqa: E402

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass
class Pooled:
    """Scored pixels of one estimator on one data set: prediction, truth [m], confidence, all (N,)."""

    pred: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    confidence: list[np.ndarray] = field(default_factory=list)
    profile: str = ""
    dropped: int = 0  # frames the node would drop (e.g. a relative output whose fit to the LiDAR is refused)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.pred), np.concatenate(self.truth), np.concatenate(self.confidence)


def make_estimator(name: str, folder: Path) -> DepthEstimator:
    """The estimator of a bench row (learned ones: a tiny random-weight checkpoint written under ``folder``)."""
    if name in ("classical", "nearest"):
        return create_estimator(name)
    from bench_estimators import _tiny_checkpoint

    options: dict[str, object] = {"device": "cpu"}
    if name == "lingbot":
        options.update(precision="fp32", resolution_level=0)
    if name == "marigold":
        options.update(denoising_steps=1, ensemble_size=3, processing_resolution=64)
    return create_estimator(name, checkpoint=_tiny_checkpoint(name, folder), **options)


def score_pixels(estimator: DepthEstimator, frames: Sequence[Case]) -> Pooled:
    """Run ``estimator`` through the pipeline with confidence on (completion when it can, else fitted to the
    LiDAR when its output is relative, else monocular); keep the scored pixels."""
    completion = COMPLETION in estimator.supported_modes
    align = "off" if completion or estimator.output_kind == METRIC else "scale_shift"
    pipeline = DepthPipeline(estimator, OutputSettings(colorized=False, cloud=False, confidence=True, align=align))
    pooled = Pooled()
    for case in frames:
        try:
            result = pipeline.process(case.rgb, case.sparse_m if completion else None, case.intrinsics,
                                      align_depth_m=case.sparse_m if align != "off" else None)
        except LingbotDepthError:  # the node drops the frame (e.g. AlignmentRejected): nothing published to score
            pooled.dropped += 1
            continue
        assert result.confidence is not None
        mask = case.score_mask & np.isfinite(result.depth_m)
        pooled.pred.append(result.depth_m[mask])
        pooled.truth.append(case.truth_m[mask])
        pooled.confidence.append(result.confidence[mask])
        pooled.profile = result.confidence_profile or ""
    return pooled


def calibration_row(estimator: str, dataset: str, pooled: Pooled) -> str:
    if not pooled.pred:
        return f"| {estimator} | {dataset} | - | every frame dropped ({pooled.dropped}) | | | | | | |"
    pred, truth, conf = pooled.arrays()
    rmse = sparsification(pred, truth, conf, "rmse")
    absrel = sparsification(pred, truth, conf, "absrel")
    cal = calibration(pred, truth, conf)
    dropped = f" ({pooled.dropped} frames dropped)" if pooled.dropped else ""
    return (f"| {estimator} | {dataset} | {pooled.profile} | {pred.size}{dropped} | {rmse.ause:.3f} | "
            f"{rmse.ause_ratio:.2f} | {absrel.ause:.4f} | {absrel.ause_ratio:.2f} | {cal.ece:.3f} | "
            f"{cal.mean:.3f} / {cal.hit_rate:.3f} |")


def gating_rows(estimator: str, pooled: Pooled, thresholds: Sequence[float]) -> list[str]:
    pred, truth, conf = pooled.arrays()
    rmse_all = float(np.sqrt(np.mean((pred - truth) ** 2)))
    rows = [f"| {estimator} | off | 100.0 % | {rmse_all:.3f} | - |"]
    for threshold in thresholds:
        kept = conf >= threshold
        if not kept.any():
            rows.append(f"| {estimator} | {threshold:.2f} | 0.0 % | - | - |")
            continue
        rmse = float(np.sqrt(np.mean((pred[kept] - truth[kept]) ** 2)))
        rows.append(f"| {estimator} | {threshold:.2f} | {100 * kept.mean():.1f} % | {rmse:.3f} | "
                    f"{100 * (rmse / rmse_all - 1):+.1f} % |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--estimators", nargs="+", default=["classical", "nearest", "lingbot"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(THRESHOLDS))
    args = parser.parse_args()
    frames = list(cases("score", args.data, tuple(args.datasets)))
    print("## Calibration (score split: never fitted on)\n")
    print("| estimator | data | profile | pixels | AUSE RMSE [m] | /random | AUSE AbsRel | /random | ECE | "
          "mean conf / hit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    gating: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.estimators:
            estimator = make_estimator(name, Path(tmp))
            for dataset in args.datasets:
                chosen = [c for c in frames if c.dataset == dataset]
                if not chosen:
                    continue
                pooled = score_pixels(estimator, chosen)
                print(calibration_row(name, dataset, pooled), flush=True)
                if dataset == "kitti_gt" and pooled.pred:
                    gating += gating_rows(name, pooled, args.thresholds)
    if gating:
        print("\n## Gating on KITTI GT (frame 0000000100, scored pixels)\n")
        print("| estimator | min confidence | pixels kept | RMSE kept [m] | vs ungated |")
        print("|---|---|---|---|---|")
        print("\n".join(gating))


if __name__ == "__main__":
    main()
