"""The calibration: raw cues -> the probability of the definition (``confidence/definition.py``).

A :class:`Profile` is a logistic score over a few transformed cues followed by a monotone (isotonic)
map from score to probability. Every cue enters with a fixed sign (:data:`DIRECTIONS`: more LiDAR support,
higher mask probability -> never lower confidence), so the confidence is monotone in each cue by
construction. Profiles are plain data (:data:`lingbot_depth_ros.confidence.calibration_data.PROFILES`,
written by ``bench/fit_confidence.py``) and need nothing but numpy at run time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from lingbot_depth_ros.errors import InputError

#: +1: confidence never falls when the cue grows; -1: never rises
DIRECTIONS: dict[str, int] = {
    "support_px": -1, "support_m": -1, "sample_gap_rel": -1, "sample_range_rel": -1, "density": +1,
    "occluded_near": -1, "depth_range_rel": -1, "depth_m": -1, "mask_prob": +1, "spread_rel": -1,
    "residual_rel": -1, "residual_within": +1, "spread_within": +1,
}
#: how a cue is transformed before the linear score: log1p(x / scale) or the logit of a probability
TRANSFORMS = ("log1p", "logit", "identity")
_LOGIT_EPS = 1e-4
#: entries of the score -> probability lookup table (np.interp over 40 knots is ~10x slower per pixel)
_TABLE_SIZE = 4097


@dataclass(frozen=True)
class Feature:
    """One input of a profile: ``cue`` transformed by ``transform`` (with ``scale``), clipped to [lo, hi]
    (the range seen in fitting, so a cue never extrapolates the score), weighted by ``coef``."""

    cue: str
    transform: str
    scale: float
    lo: float
    hi: float
    coef: float

    def value(self, raw: np.ndarray) -> np.ndarray:
        """(H, W) float32 transformed cue; NaN / inf raw values land on the clip bounds (inf -> hi, NaN -> lo
        for a falling cue, hi for a rising one: the cautious end)."""
        x = np.asarray(raw, np.float32)
        if self.transform == "log1p":
            with np.errstate(invalid="ignore"):
                t = np.log1p(np.maximum(x, np.float32(0.0)) / np.float32(self.scale))
        elif self.transform == "logit":
            p = np.clip(x, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
            t = np.log(p / (1.0 - p))
        else:
            t = x
        cautious = self.hi if DIRECTIONS.get(self.cue, -1) < 0 else self.lo
        t = np.where(np.isnan(t), np.float32(cautious), t)
        return np.clip(t, np.float32(self.lo), np.float32(self.hi)).astype(np.float32)


@dataclass(frozen=True)
class Profile:
    """Cues -> probability for one estimator and mode (see module docstring).

    ``key``: e.g. ``completion/classical``; ``features``: the linear score's inputs; ``intercept``;
    ``knots_score`` / ``knots_prob``: the monotone map score -> probability (increasing scores,
    non-decreasing probabilities in [0, 1]); ``fitted_on``: the data it was fitted on, in words;
    ``fitted``: False for a prior (not fitted to this estimator: see docs/confidence.md).
    """

    key: str
    features: tuple[Feature, ...]
    intercept: float
    knots_score: tuple[float, ...]
    knots_prob: tuple[float, ...]
    fitted_on: str = ""
    fitted: bool = True
    multiply_by: str = ""  # probability cues (0..1, comma-separated) the result is multiplied with, each when given

    def __post_init__(self) -> None:
        scores, probs = np.asarray(self.knots_score), np.asarray(self.knots_prob)
        if scores.size < 2 or scores.size != probs.size or np.any(np.diff(scores) <= 0) \
                or np.any(np.diff(probs) < 0) or probs.min() < 0 or probs.max() > 1:
            raise InputError(f"confidence profile {self.key}: knots must be increasing scores and non-decreasing "
                             "probabilities in [0, 1]")
        for feature in self.features:
            if feature.transform not in TRANSFORMS or feature.cue not in DIRECTIONS:
                raise InputError(f"confidence profile {self.key}: unknown cue or transform {feature}")
            if feature.coef * DIRECTIONS[feature.cue] < 0:
                raise InputError(f"confidence profile {self.key}: cue {feature.cue} enters with the wrong sign")
        unknown = [name for name in self.multipliers if DIRECTIONS.get(name, -1) < 0]
        if unknown:
            raise InputError(f"confidence profile {self.key}: {', '.join(unknown)} cannot multiply the confidence "
                             "(a multiplier must be a probability that rises with confidence)")

    @property
    def cues(self) -> tuple[str, ...]:
        """The cues the score reads (each must be given); :attr:`multipliers` are optional."""
        return tuple(f.cue for f in self.features)

    @property
    def multipliers(self) -> tuple[str, ...]:
        """The probability cues of :attr:`multiply_by`, in order."""
        return tuple(name.strip() for name in self.multiply_by.split(",") if name.strip())

    def score(self, cues: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """(H, W) float32 linear score of ``cues`` (every cue of :attr:`cues` must be present)."""
        total = np.full(shape, np.float32(self.intercept))
        for feature in self.features:
            total += np.float32(feature.coef) * feature.value(cues[feature.cue])
        return total

    def probability(self, cues: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """(H, W) float32 probability in [0, 1], finite everywhere."""
        missing = [c for c in self.cues if c not in cues]
        if missing:
            raise InputError(f"confidence profile {self.key} needs the cue(s) {', '.join(missing)}")
        prob = self.map_score(self.score(cues, shape))
        for name in self.multipliers:
            if name in cues:
                factor = np.nan_to_num(np.asarray(cues[name], np.float32), nan=0.0)
                prob *= np.clip(factor, 0.0, 1.0)
        return prob

    @cached_property
    def _table(self) -> tuple[float, float, np.ndarray]:
        """(lowest knot score, table entries per score unit, (_TABLE_SIZE,) float32 probabilities)."""
        lo, hi = self.knots_score[0], self.knots_score[-1]
        grid = np.linspace(lo, hi, _TABLE_SIZE)
        return lo, (_TABLE_SIZE - 1) / (hi - lo), np.interp(grid, self.knots_score, self.knots_prob).astype(np.float32)

    def map_score(self, score: np.ndarray) -> np.ndarray:
        """The monotone map score -> probability (same shape, float32): the knots' piecewise-linear curve
        (sampled in a table of 4097 entries, linear between them), flat beyond the end knots."""
        lo, per_unit, table = self._table
        position = np.clip((np.asarray(score, np.float32) - np.float32(lo)) * np.float32(per_unit), 0.0,
                           np.float32(_TABLE_SIZE - 1))
        index = np.minimum(position.astype(np.int32), _TABLE_SIZE - 2)
        low = table[index]
        return (low + (position - index) * (table[index + 1] - low)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for calibration_data.py and reports)."""
        return {"key": self.key, "intercept": self.intercept, "knots_score": list(self.knots_score),
                "knots_prob": list(self.knots_prob), "fitted_on": self.fitted_on, "fitted": self.fitted,
                "multiply_by": self.multiply_by,
                "features": [{"cue": f.cue, "transform": f.transform, "scale": f.scale, "lo": f.lo, "hi": f.hi,
                              "coef": f.coef} for f in self.features]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict` (InputError on a malformed record)."""
        try:
            features = tuple(Feature(str(f["cue"]), str(f["transform"]), float(f["scale"]), float(f["lo"]),
                                     float(f["hi"]), float(f["coef"])) for f in data["features"])
            values = [float(data["intercept"])] + [float(v) for v in data["knots_score"]] \
                + [float(v) for v in data["knots_prob"]]
            if not all(math.isfinite(v) for v in values):
                raise ValueError("non-finite number")
            return cls(key=str(data["key"]), features=features, intercept=float(data["intercept"]),
                       knots_score=tuple(float(v) for v in data["knots_score"]),
                       knots_prob=tuple(float(v) for v in data["knots_prob"]),
                       fitted_on=str(data.get("fitted_on", "")), fitted=bool(data.get("fitted", True)),
                       multiply_by=str(data.get("multiply_by", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed confidence profile: {exc}") from exc
