"""How good a confidence map is, against ground truth: sparsification curves, AUSE and calibration error.

* **Sparsification curve**: remove the least confident pixels first (a fraction f = 0, 0.02, ... 0.98) and
  compute the error (RMSE [m] or AbsRel) of the pixels left. The **oracle** removes the pixels with the
  largest error first (the best any ordering can do); a **random** ordering keeps the error flat on average.
* **AUSE**: the area between a curve and the oracle's (mean over the fractions); 0 = as good as the oracle.
  ``ause_ratio`` = AUSE / AUSE of a random ordering (1 = no better than random; the issue's target for
  ``classical`` on KITTI is <= 0.3).
* **ECE** (expected calibration error of the stated probability): the pixels in 10 equal-width confidence
  bins; the pixel-weighted mean |mean confidence - share within tolerance| over the bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lingbot_depth_ros.confidence.definition import within_tolerance
from lingbot_depth_ros.errors import InputError

FRACTIONS = np.round(np.arange(0.0, 1.0, 0.02), 2)


def _curve(errors_sq: np.ndarray, order: np.ndarray, fractions: np.ndarray, rmse: bool) -> np.ndarray:
    """Error of the pixels left after removing the first ``f`` of ``order`` (most doubtful first)."""
    ordered = errors_sq[order][::-1]  # most trusted first: what is kept after removing the tail
    cumulative = np.cumsum(ordered)
    n = ordered.size
    kept = np.maximum(1, np.round((1.0 - fractions) * n).astype(np.int64))
    mean = cumulative[kept - 1] / kept
    return np.sqrt(mean) if rmse else mean


@dataclass
class Sparsification:
    """Curves (error of the pixels left at each of :attr:`fractions` removed) and their AUSE."""

    fractions: np.ndarray
    confidence: np.ndarray
    oracle: np.ndarray
    random: np.ndarray
    ause: float
    ause_random: float

    @property
    def ause_ratio(self) -> float:
        """AUSE relative to a random ordering's (lower is better; NaN when the oracle is flat)."""
        return self.ause / self.ause_random if self.ause_random > 0 else float("nan")


def sparsification(pred_m: np.ndarray, gt_m: np.ndarray, confidence: np.ndarray, metric: str = "rmse",
                   fractions: np.ndarray = FRACTIONS, seed: int = 0) -> Sparsification:
    """Sparsification curves of ``confidence`` for the pixels where all three are valid.

    Args:
        pred_m, gt_m, confidence: 1-D or same-shape arrays (pooled pixels of many frames are fine).
        metric: "rmse" (root mean squared error [m]) or "absrel" (mean |p - g| / g).
        seed: the random ordering's seed (its curve is averaged over 5 draws).
    """
    if metric not in ("rmse", "absrel"):
        raise InputError(f"metric must be rmse or absrel, got {metric!r}")
    p, g, c = (np.asarray(a, np.float64).ravel() for a in (pred_m, gt_m, confidence))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(p) & np.isfinite(g) & np.isfinite(c) & (g > 0) & (p > 0)
    p, g, c = p[ok], g[ok], c[ok]
    if p.size == 0:
        raise InputError("no pixel with a valid prediction, ground truth and confidence")
    error = (p - g) ** 2 if metric == "rmse" else np.abs(p - g) / g
    rmse = metric == "rmse"
    rng = np.random.default_rng(seed)
    # least confident first; ties broken at random so that a constant confidence behaves like random
    tie = rng.random(c.size)
    by_confidence = np.lexsort((tie, c))
    oracle = _curve(error, np.argsort(-error, kind="stable"), fractions, rmse)
    conf_curve = _curve(error, by_confidence, fractions, rmse)
    random_curve = np.mean([_curve(error, rng.permutation(error.size), fractions, rmse) for _ in range(5)], axis=0)
    return Sparsification(fractions, conf_curve, oracle, random_curve, float(np.mean(conf_curve - oracle)),
                          float(np.mean(random_curve - oracle)))


@dataclass
class Calibration:
    """Reliability of a stated probability: per bin the pixels, mean confidence and share within tolerance."""

    edges: np.ndarray
    count: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    mean: float  # mean confidence
    hit_rate: float  # share of pixels within tolerance


def calibration(pred_m: np.ndarray, gt_m: np.ndarray, confidence: np.ndarray, bins: int = 10) -> Calibration:
    """Expected calibration error of ``confidence`` as the probability of the definition (within tolerance)."""
    p, g, c = (np.asarray(a, np.float64).ravel() for a in (pred_m, gt_m, confidence))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(p) & np.isfinite(g) & np.isfinite(c) & (g > 0) & (p > 0)
    p, g, c = p[ok], g[ok], c[ok]
    if p.size == 0:
        raise InputError("no pixel with a valid prediction, ground truth and confidence")
    hit = within_tolerance(p, g).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(c, edges) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.int64)
    total_c = np.bincount(index, weights=c, minlength=bins)
    total_hit = np.bincount(index, weights=hit, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = total_c / count
        accuracy = total_hit / count
    ece = float(np.sum(np.abs(total_c - total_hit)) / c.size)
    return Calibration(edges, count, mean_c, accuracy, ece, float(c.mean()), float(hit.mean()))
