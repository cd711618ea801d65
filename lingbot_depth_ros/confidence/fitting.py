"""Fitting a :class:`~lingbot_depth_ros.confidence.calibration.Profile` to labelled pixels (numpy only).

Used by ``bench/fit_confidence.py`` (which writes ``calibration_data.py``) and the tests; nothing here runs
in the node. The score is a sign-constrained, L2-regularised logistic regression (Newton steps); a cue whose
coefficient comes out with the wrong sign (:data:`~lingbot_depth_ros.confidence.calibration.DIRECTIONS`) is
left out and the rest refitted. The score is then mapped to the probability by isotonic regression (pool
adjacent violators) on score quantile bins, which also corrects what the logistic form gets wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lingbot_depth_ros.confidence.calibration import DIRECTIONS, Feature, Profile
from lingbot_depth_ros.errors import InputError

#: (cue, transform, scale) of one profile input before fitting
FeatureSpec = tuple[str, str, float]


def logistic_fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1e-3,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method.

    Args:
        x: (N, K) float features (standardise them first for a meaningful ``l2``).
        y: (N,) 0/1 labels.
        weight: (N,) sample weights (None = 1).
        l2: ridge penalty on the coefficients (not the intercept), relative to the total weight.

    Returns:
        (coef (K,), intercept).
    """
    n, k = x.shape
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    a = np.hstack([np.ones((n, 1)), x.astype(np.float64)])
    beta = np.zeros(k + 1)
    penalty = np.full(k + 1, l2 * w.sum())
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ beta, -30, 30)))
        gradient = a.T @ (w * (y - p)) - penalty * beta
        hessian = (a * (w * p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-7:
            break
    return beta[1:], float(beta[0])


def pool_adjacent_violators(y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``y`` in weighted least squares (same length)."""
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for value, w in zip(np.asarray(y, np.float64), np.asarray(weight, np.float64)):
        values.append(value)
        weights.append(w)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            w_total = weights[-2] + weights[-1]
            merged = (values[-2] * weights[-2] + values[-1] * weights[-1]) / max(w_total, 1e-300)
            values[-2:] = [merged]
            weights[-2:] = [w_total]
            sizes[-2:] = [sizes[-2] + sizes[-1]]
    return np.repeat(values, sizes)


def isotonic_knots(score: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, bins: int = 40
                   ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Monotone map score -> probability: the weighted label mean of ``bins`` score-quantile bins made
    non-decreasing (pool adjacent violators); knots at the bins' mean scores (strictly increasing)."""
    w = np.ones(score.size) if weight is None else np.asarray(weight, np.float64)
    order = np.argsort(score, kind="stable")
    s, t, w = score[order], y[order].astype(np.float64), w[order]
    edges = np.unique(np.searchsorted(np.cumsum(w), np.linspace(0, w.sum(), bins + 1)[1:-1]))
    groups = np.split(np.arange(s.size), edges)
    centre = np.array([np.average(s[g], weights=w[g]) for g in groups if g.size and w[g].sum() > 0])
    rate = np.array([np.average(t[g], weights=w[g]) for g in groups if g.size and w[g].sum() > 0])
    mass = np.array([w[g].sum() for g in groups if g.size and w[g].sum() > 0])
    rate = pool_adjacent_violators(rate, mass)
    keep = np.concatenate([[True], np.diff(centre) > 1e-9])
    centre, rate = centre[keep], rate[keep]
    if centre.size < 2:  # one score value: a flat map around it
        centre = np.array([centre[0] - 1.0, centre[0] + 1.0])
        rate = np.array([rate[0], rate[0]])
    return tuple(float(v) for v in centre), tuple(float(np.clip(v, 0.0, 1.0)) for v in rate)


def fit_profile(key: str, cues: Mapping[str, np.ndarray], labels: np.ndarray, specs: Sequence[FeatureSpec], *,
                weight: np.ndarray | None = None, fitted_on: str = "", multiply_by: str = "",
                l2: float = 1e-3) -> Profile:
    """Fit a profile to labelled pixels.

    Args:
        key: the profile's name (``<mode>/<estimator>``).
        cues: cue name -> (N,) raw values at the labelled pixels.
        labels: (N,) bool, the pixel was within the definition's tolerance.
        specs: the candidate inputs (cue, transform, scale); a cue that would enter with the wrong sign is
            left out.
        weight: (N,) sample weights (e.g. to balance data sets).

    Raises:
        InputError: no labelled pixel, or a cue missing.
    """
    y = np.asarray(labels, bool).astype(np.float64)
    if y.size == 0:
        raise InputError(f"confidence profile {key}: no labelled pixels to fit on")
    specs = list(specs)
    while True:
        features = [Feature(cue, transform, scale, -np.inf, np.inf, 0.0) for cue, transform, scale in specs]
        columns = [f.value(cues[f.cue]).astype(np.float64) for f in features]
        bounds = [(float(np.percentile(c, 0.5)), float(np.percentile(c, 99.5))) for c in columns]
        columns = [np.clip(c, lo, hi) for c, (lo, hi) in zip(columns, bounds)]
        if columns:
            x = np.stack(columns, axis=1)
            mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-9)
            coef_std, intercept_std = logistic_fit((x - mean) / std, y, weight, l2=l2)
            coef = coef_std / std
            intercept = intercept_std - float(np.sum(coef * mean))
        else:
            coef, intercept = np.zeros(0), 0.0
        wrong = [i for i, f in enumerate(features) if coef[i] * DIRECTIONS[f.cue] < 0]
        if not wrong:
            break
        specs = [s for i, s in enumerate(specs) if i not in wrong]
    fitted = tuple(Feature(f.cue, f.transform, f.scale, lo, hi, float(c))
                   for f, (lo, hi), c in zip(features, bounds, coef))
    draft = Profile(key, fitted, intercept, (-1.0, 1.0), (0.0, 1.0))
    score = draft.score({c: np.asarray(v) for c, v in cues.items()}, y.shape).astype(np.float64)
    knots_score, knots_prob = isotonic_knots(score, y, weight)
    return Profile(key, fitted, intercept, knots_score, knots_prob, fitted_on=fitted_on, multiply_by=multiply_by)
