"""Refit the confidence calibration and write lingbot_depth_ros/confidence/calibration_data.py.

What is fitted, on what (the ``fit`` split of bench/confidence_cases.py; the ``score`` split is never used here):

  completion/classical  the classical estimator's output (default options) on the fit frames of the four data sets
                        (procedural scene, kitti_lidar image_03 hold-out, kitti_gt frame 50, NYU rgb_00000), every
                        data set weighted equally; every cue of the classical estimator (FEATURES_CLASSICAL).
  completion/nearest    the nearest estimator's output on the same frames; the LiDAR-support cues.
  completion/default    the classical estimator's output with the cues any completion estimator has (no occlusion
                        flags): the prior of the learned completion estimators (lingbot, prompt_depth_anything),
                        whose real checkpoints cannot be run here; times the share of the input samples near
                        the pixel that the output reproduces (a model off its own input is not trusted) and
                        LingBot-Depth's mask probability.
  aligned/default, aligned/marigold, monocular/default   priors written by hand (PRIORS below), not fitted.

A pixel's label: its depth is within max(0.10 m, 5 %) of the truth (confidence/definition.py); pixels counted:
valid truth, valid output, not an input sample.

Run:  .venv/bin/python bench/fit_confidence.py [--data ../shared/data] [--check]
      (--check: fit, print the profiles, do not write; the working tree is imported)
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from confidence_cases import Case, cases  # noqa: E402

from lingbot_depth_ros.confidence.calibration import Feature, Profile  # noqa: E402
from lingbot_depth_ros.confidence.cues import depth_range_cue, lidar_support_cues  # noqa: E402
from lingbot_depth_ros.confidence.definition import DEFINITION, within_tolerance  # noqa: E402
from lingbot_depth_ros.confidence.fitting import FeatureSpec, fit_profile  # noqa: E402
from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.pipeline.depth_pipeline import finalize_depth  # noqa: E402

VERSION = 1
OUT = REPO / "lingbot_depth_ros" / "confidence" / "calibration_data.py"
FIT_PIXELS = 400_000  # pixels drawn (data sets weighted equally) for one fit
GENERIC: tuple[FeatureSpec, ...] = (
    ("support_px", "log1p", 1.0), ("support_m", "log1p", 0.1), ("sample_gap_rel", "log1p", 0.02),
    ("sample_range_rel", "log1p", 0.05), ("density", "log1p", 1.0), ("depth_range_rel", "log1p", 0.02))
FEATURES_CLASSICAL: tuple[FeatureSpec, ...] = GENERIC + (("occluded_near", "log1p", 1.0),)
FEATURES_NEAREST: tuple[FeatureSpec, ...] = GENERIC
_LOGIT_MAX = math.log((1 - 1e-4) / 1e-4)


def _sigmoid_knots(lo: float, hi: float, n: int = 25) -> tuple[tuple[float, ...], tuple[float, ...]]:
    scores = np.linspace(lo, hi, n)
    return tuple(float(v) for v in scores), tuple(float(v) for v in 1.0 / (1.0 + np.exp(-scores)))


def priors() -> list[Profile]:
    """The hand-written profiles (docs/confidence.md "Priors")."""
    residual = Feature("residual_within", "logit", 1.0, -_LOGIT_MAX, _LOGIT_MAX, 1.0)
    knots = _sigmoid_knots(-_LOGIT_MAX, _LOGIT_MAX)
    aligned_note = ("prior, not fitted: the share of the frame's LiDAR samples near the pixel (Gaussian, 12 px) that "
                    "the aligned output agrees with within the tolerance")
    edge = Feature("depth_range_rel", "log1p", 0.02, 0.0, 8.0, -1.0)
    return [
        Profile("aligned/default", (residual,), 0.0, *knots, fitted_on=aligned_note + "; x the mask probability "
                "(LingBot-Depth)", fitted=False, multiply_by="mask_prob"),
        Profile("aligned/marigold", (residual,), 0.0, *knots, fitted_on=aligned_note + "; x the probability that "
                "an error of the ensemble's spread (Gaussian) is within the tolerance", fitted=False,
                multiply_by="spread_within"),
        Profile("monocular/default", (edge,), 0.0, (-8.0, -2.4, -0.69, 0.0), (0.02, 0.1, 0.35, 0.5),
                fitted_on="prior, not fitted: 0.5 on smooth surfaces, falling on depth edges (without LiDAR the "
                "metric scale of a frame cannot be checked); x the mask probability (LingBot-Depth)", fitted=False,
                multiply_by="mask_prob"),
    ]


@dataclass
class Pixels:
    """Labelled pixels of many frames: per data set, cue name -> (N,) values, the labels and the errors."""

    dataset: list[str]
    cues: dict[str, list[np.ndarray]]
    pred: list[np.ndarray]
    truth: list[np.ndarray]

    def pooled(self, datasets: Iterable[str] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                                      np.ndarray]:
        """(cues, pred, truth, dataset name per pixel) of the chosen data sets, concatenated."""
        keep = [i for i, d in enumerate(self.dataset) if datasets is None or d in set(datasets)]
        cues = {k: np.concatenate([v[i] for i in keep]) for k, v in self.cues.items()}
        names = np.concatenate([np.full(self.pred[i].size, self.dataset[i]) for i in keep])
        return cues, np.concatenate([self.pred[i] for i in keep]), np.concatenate([self.truth[i] for i in keep]), names


def completion_pixels(estimator_name: str, frames: Iterable[Case], **options: object) -> Pixels:
    """Run a completion estimator over ``frames`` and collect every cue at the scored pixels."""
    estimator = create_estimator(estimator_name, **options)
    out = Pixels([], {}, [], [])
    for case in frames:
        estimate = estimator.estimate(case.rgb, case.sparse_m, case.intrinsics)
        depth = finalize_depth(estimate.depth_m, estimate.valid, 0.0, 100.0)
        cues = lidar_support_cues(depth, case.sparse_m, case.intrinsics.fx, estimate.cues.get("samples"),
                                  estimate.cues.get("dropped_samples"))
        cues["depth_range_rel"] = depth_range_cue(depth)
        cues.setdefault("occluded_near", np.zeros(depth.shape, np.float32))
        mask = case.score_mask & np.isfinite(depth)
        out.dataset.append(case.dataset)
        for key, value in cues.items():
            out.cues.setdefault(key, []).append(value[mask])
        out.pred.append(depth[mask])
        out.truth.append(case.truth_m[mask])
    return out


def balanced_draw(names: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` pixels drawn without replacement, every data set carrying the same total weight."""
    weight = np.zeros(names.size)
    for name in np.unique(names):
        weight[names == name] = 1.0 / np.count_nonzero(names == name)
    n = min(n, int(np.count_nonzero(weight)))
    return np.random.default_rng(seed).choice(names.size, n, replace=False, p=weight / weight.sum())


def fit(key: str, pixels: Pixels, specs: Sequence[FeatureSpec], fitted_on: str, multiply_by: str = "",
        fitted: bool = True) -> Profile:
    cues, pred, truth, names = pixels.pooled()
    index = balanced_draw(names, FIT_PIXELS)
    profile = fit_profile(key, {k: v[index] for k, v in cues.items()}, within_tolerance(pred, truth)[index], specs,
                          fitted_on=fitted_on, multiply_by=multiply_by)
    if not fitted:
        profile = Profile(profile.key, profile.features, profile.intercept, profile.knots_score, profile.knots_prob,
                          fitted_on=profile.fitted_on, fitted=False, multiply_by=profile.multiply_by)
    return profile


def fit_all(data: Path, swap_kitti_gt: bool = False) -> list[Profile]:
    """Every shipped profile (fitted ones from the fit split of ``data``)."""
    frames = list(cases("fit", data, swap_kitti_gt=swap_kitti_gt))
    sets = sorted({c.dataset for c in frames})
    where = (f"fit split of bench/confidence_cases.py ({', '.join(sets)}; kitti_gt frame "
             f"{'0000000100' if swap_kitti_gt else '0000000050'}), data sets weighted equally")
    classical = completion_pixels("classical", frames)
    nearest = completion_pixels("nearest", frames)
    return [
        fit("completion/classical", classical, FEATURES_CLASSICAL, f"classical (default options) on the {where}"),
        fit("completion/nearest", nearest, FEATURES_NEAREST, f"nearest on the {where}"),
        fit("completion/default", classical, GENERIC, f"prior for learned completion: classical (default options) "
            f"on the {where}, LiDAR-support cues only; x the share of the input samples near the pixel (Gaussian, "
            "12 px) that the output reproduces within the tolerance; x the mask probability (LingBot-Depth)",
            multiply_by="residual_within,mask_prob", fitted=False),
    ] + priors()


def _number(value: float) -> str:
    return repr(float(f"{value:.6g}")) if math.isfinite(value) else repr(value)


def _record(profile: Profile) -> list[str]:
    """Python source lines of one profile record (numbers to 6 significant digits, lines <= 120 chars)."""
    d = profile.to_dict()
    lines = [f"    {{'key': {d['key']!r}, 'fitted': {d['fitted']!r}, 'multiply_by': {d['multiply_by']!r},",
             "     'fitted_on': ("]
    lines += [f"         {chunk!r}" for chunk in textwrap.wrap(d["fitted_on"], 100, drop_whitespace=False)]
    lines += ["     ),", f"     'intercept': {_number(d['intercept'])},", "     'features': ["]
    for f in d["features"]:
        head = f"{{'cue': {f['cue']!r}, 'transform': {f['transform']!r}, 'scale': {_number(f['scale'])},"
        lines.append(f"         {head}")
        lines.append(f"          'lo': {_number(f['lo'])}, 'hi': {_number(f['hi'])}, 'coef': {_number(f['coef'])}}},")
    lines.append("     ],")
    for key in ("knots_score", "knots_prob"):
        text = ", ".join(_number(v) for v in d[key])
        wrapped = textwrap.wrap(text, 100)
        lines.append(f"     '{key}': [")
        lines += [f"         {chunk}" for chunk in wrapped]
        lines.append("     ],")
    lines.append("     },")
    return lines


def render(profiles: Sequence[Profile]) -> str:
    """The source of calibration_data.py."""
    body = "\n".join(line for profile in profiles for line in _record(profile))
    definition = "\n".join(textwrap.wrap(f"Definition of the confidence: {DEFINITION}.", 116))
    return f'''"""The shipped confidence calibration, generated by bench/fit_confidence.py on {datetime.date.today()}.

Do not edit by hand: change and rerun the script. {VERSION=} (bump it when the cues or the definition change).

{definition}

Each record is a :class:`~lingbot_depth_ros.confidence.calibration.Profile`; ``fitted_on`` says on what.
"""

from __future__ import annotations

from typing import Any

from lingbot_depth_ros.confidence.calibration import Profile

VERSION = {VERSION}
RECORDS: list[dict[str, Any]] = [
{body}
]

PROFILES: dict[str, Profile] = {{record["key"]: Profile.from_dict(record) for record in RECORDS}}
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true", help="fit and print, do not write calibration_data.py")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"fit_confidence: {args.data} not found: the shipped calibration is fitted on the real frames too")
    profiles = fit_all(args.data)
    for profile in profiles:
        terms = ", ".join(f"{f.cue} {f.coef:+.3f}" for f in profile.features)
        print(f"{profile.key:22s} {'fitted' if profile.fitted else 'prior ':6s} {terms}")
    if not args.check:
        OUT.write_text(render(profiles))
        print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
