"""One frame's confidence map: pick the profile for the estimator and mode, compute the cues it reads, apply it.

Three kinds of frame, by what the depth rests on:

* ``completion``: the estimator completed the frame's sparse depth (classical, nearest, LingBot-Depth or
  Prompt Depth Anything in completion): LiDAR-support cues.
* ``aligned``: a monocular output fitted to the frame's LiDAR (``align_to_sparse``): the fit's residuals near
  each pixel, the LiDAR support, and the model's own cues (Marigold's ensemble spread).
* ``monocular``: no LiDAR: the output's own discontinuities and the model's cues (LingBot-Depth's mask head).

Profiles are looked up as ``<kind>/<estimator>``, then ``<kind>/default``
(:data:`~lingbot_depth_ros.confidence.calibration_data.PROFILES`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lingbot_depth_ros.confidence.calibration import Profile
from lingbot_depth_ros.confidence.calibration_data import PROFILES
from lingbot_depth_ros.confidence.cues import depth_range_cue, lidar_support_cues, residual_cues
from lingbot_depth_ros.confidence.definition import tolerance_m
from lingbot_depth_ros.errors import InputError

COMPLETION_KIND, ALIGNED_KIND, MONOCULAR_KIND = "completion", "aligned", "monocular"
KINDS = (COMPLETION_KIND, ALIGNED_KIND, MONOCULAR_KIND)
_SUPPORT = frozenset({"support_px", "support_m", "sample_gap_rel", "sample_range_rel", "density", "occluded_near"})
_RESIDUAL = frozenset({"residual_rel", "residual_within"})


def frame_kind(completed: bool, aligned: bool) -> str:
    """The kind of a frame (module docstring): ``completed`` = the estimator was given sparse depth,
    ``aligned`` = its output was fitted to the LiDAR."""
    if completed:
        return COMPLETION_KIND
    return ALIGNED_KIND if aligned else MONOCULAR_KIND


def profile_for(estimator: str, kind: str, profiles: Mapping[str, Profile] | None = None) -> Profile:
    """The profile of ``estimator`` in frames of ``kind``: its own, else the kind's default (KeyError: neither)."""
    if kind not in KINDS:
        raise InputError(f"confidence kind must be one of {', '.join(KINDS)}, got {kind!r}")
    table = PROFILES if profiles is None else profiles
    return table.get(f"{kind}/{estimator}") or table[f"{kind}/default"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf for x >= 0 (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), float32."""
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (1.0 - poly * np.exp(-x * x)).astype(np.float32)


def spread_within(depth_m: np.ndarray, spread_m: np.ndarray) -> np.ndarray:
    """(H, W) float32 probability that a Gaussian error of standard deviation ``spread_m`` [m] stays within the
    definition's tolerance at ``depth_m`` (the prediction standing in for the truth); 1 where the spread is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = tolerance_m(depth_m) / (np.float32(np.sqrt(2.0)) * np.abs(spread_m))
    ratio = np.where(np.isnan(ratio), np.float32(0.0), np.minimum(ratio, np.float32(1e6)))
    return _erf(ratio)


def frame_cues(profile: Profile, depth_m: np.ndarray, fx_px: float, *, sparse_m: np.ndarray | None = None,
               estimator_cues: Mapping[str, np.ndarray] | None = None, alignment_scale: float | None = None
               ) -> dict[str, np.ndarray]:
    """The cues ``profile`` reads (and its optional multiplier, when the frame has it), (H, W) float32 each.

    Args:
        depth_m: (H, W) float32 published depth [m], NaN where invalid.
        fx_px: horizontal focal length [px].
        sparse_m: (H, W) float sparse depth [m] of the frame (completion input or alignment target), or None.
        estimator_cues: ``DepthEstimate.cues`` (``samples``, ``dropped_samples``, ``mask_prob``, ``spread``).
        alignment_scale: the fit's scale (prediction units -> metres), to turn ``spread`` into metres.
    """
    wanted = set(profile.cues) | set(profile.multipliers)
    own = estimator_cues or {}
    shape = depth_m.shape
    empty = np.zeros(shape, np.float32)
    cues: dict[str, np.ndarray] = {}
    if wanted & _SUPPORT:
        cues.update(lidar_support_cues(depth_m, empty if sparse_m is None else sparse_m, fx_px,
                                       own.get("samples"), own.get("dropped_samples")))
        if "occluded_near" not in cues:
            cues["occluded_near"] = empty
    if wanted & _RESIDUAL:
        cues.update(residual_cues(depth_m, empty if sparse_m is None else sparse_m))
    if "depth_range_rel" in wanted:
        cues["depth_range_rel"] = depth_range_cue(depth_m)
    if "depth_m" in wanted:
        cues["depth_m"] = depth_m
    if "mask_prob" in wanted and "mask_prob" in own:
        cues["mask_prob"] = np.asarray(own["mask_prob"], np.float32)
    if "spread_within" in wanted and "spread" in own:
        scale = 1.0 if alignment_scale is None else abs(float(alignment_scale))
        cues["spread_within"] = spread_within(depth_m, np.asarray(own["spread"], np.float32) * np.float32(scale))
    return cues


def confidence_map(depth_m: np.ndarray, fx_px: float, profile: Profile, *, sparse_m: np.ndarray | None = None,
                   estimator_cues: Mapping[str, np.ndarray] | None = None, alignment_scale: float | None = None
                   ) -> np.ndarray:
    """(H, W) float32 confidence (the probability of ``confidence/definition.py``), in [0, 1] wherever
    ``depth_m`` is finite and NaN exactly where it is not. Arguments as :func:`frame_cues`."""
    depth = np.asarray(depth_m, np.float32)
    valid = np.isfinite(depth)
    if not valid.any():
        return np.full(depth.shape, np.nan, np.float32)
    cues = frame_cues(profile, depth, fx_px, sparse_m=sparse_m, estimator_cues=estimator_cues,
                      alignment_scale=alignment_scale)
    at_valid = {name: np.asarray(cue)[valid] for name, cue in cues.items()}  # the score only where it is published
    prob = profile.probability(at_valid, (int(np.count_nonzero(valid)),))
    out = np.full(depth.shape, np.nan, np.float32)
    out[valid] = np.clip(np.nan_to_num(prob, nan=0.0), 0.0, 1.0)
    return out
