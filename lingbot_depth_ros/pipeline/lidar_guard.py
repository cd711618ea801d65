"""The LiDAR agreement guard (ROS-free): does a learned estimator's depth still agree with the LiDAR?

A learned estimator (``DepthEstimator.learned``: LingBot-Depth, Prompt Depth Anything, Depth Anything, Depth Pro,
Marigold) can publish depth whose metric scale has drifted: a wrong CameraInfo (Depth Pro's scale follows fx), a
LiDAR in millimetres read as metres, a model outside its training range. Whenever LiDAR samples come with such an
output, the guard compares the two:

- **Which samples** (:func:`split_for_guard`): with ``holdout_share`` > 0 a share of the frame's LiDAR samples is
  withheld from the estimator's input (completion) and from the ``align_to_sparse`` fit (monocular + LiDAR),
  chosen per frame by a seeded draw (:func:`holdout_mask`: the same frame stamp gives the same samples, in the
  node and in the batch), and the output is compared with those samples it did not see (``held_out``). With
  ``holdout_share`` 0 the model gets every sample and the comparison uses the samples it saw (``seen``: cheaper
  in accuracy, but a completion model reproduces its input at those pixels, so it mostly sees a scale drift the
  model did not follow). A monocular output that used no LiDAR is compared with every sample (``unseen``).
  Too few samples to judge: nothing is held out, and the verdict says "not enough samples".
- **Figures** (:func:`measure_agreement`, :class:`LidarAgreement`): over the samples where the output is valid,
  the median of ``|output - LiDAR| / LiDAR``, the share within 5 %, and the robust scale output / LiDAR
  (:func:`~lingbot_depth_ros.geometry.scale_alignment.robust_scale_shift`, scale only, RANSAC: at least half
  of the samples within ``max_rel_error`` of it, never <= 0; otherwise no scale).
- **Verdict**: the frame disagrees when the median error exceeds ``max_rel_error``; the diagnosis names the
  likely cause from the scale (x1000: millimetres read as metres, other scales: CameraInfo vs image size or
  depth units, no single scale: structure, extrinsics or timing).
- **Action** (:func:`apply_guard_action`): ``warn`` publishes as estimated, ``rescale`` divides the depth of a
  disagreeing frame by its robust scale (when it has one), ``drop`` raises :class:`LidarDisagreement` (the node
  counts the frame as dropped, ``lidar_disagreement``). :class:`GuardMonitor` keeps a camera's run of
  disagreeing frames: the node's diagnostics go WARN after ``warn_after_frames`` in a row.

Weight-free completion (classical, nearest) is not guarded: it interpolates the LiDAR itself, so its output
cannot drift from it in scale (:func:`not_guarded_reason`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.scale_alignment import AlignmentRejected, robust_scale_shift
from lingbot_depth_ros.params.guard import (
    DEFAULT_HOLDOUT_SHARE,
    DEFAULT_MAX_REL_ERROR,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_WARN_AFTER_FRAMES,
    GUARD_ACTIONS,
)

WARN_ACTION, RESCALE, DROP = GUARD_ACTIONS
#: which LiDAR samples an agreement was measured on
HELD_OUT, SEEN, UNSEEN = "held_out", "seen", "unseen"
AGREE, DISAGREE, NOT_ENOUGH_SAMPLES = "agree", "disagree", "not_enough_samples"
#: the relative error of the ``within_5pct`` share
WITHIN_REL = 0.05
#: share of the samples a robust scale must explain (within ``max_rel_error``) to be reported / applied
SCALE_MIN_INLIER_SHARE = 0.5
#: mixed into every hold-out seed, so the guard's draw is not the draw of another seeded sampler of the frame
_SEED_SALT = 0x6C696461


class Guardable(Protocol):
    """What the guard reads of an estimator (every DepthEstimator has both)."""

    @property
    def name(self) -> str: ...

    @property
    def learned(self) -> bool: ...


@dataclass(frozen=True)
class GuardSettings:
    """The guard.* parameters (:mod:`lingbot_depth_ros.params.guard`); see the module docstring."""

    enabled: bool = True
    holdout_share: float = DEFAULT_HOLDOUT_SHARE  # 0..0.5; 0 = compare with the samples the model saw
    action: str = WARN_ACTION
    max_rel_error: float = DEFAULT_MAX_REL_ERROR  # median |output - LiDAR| / LiDAR above which a frame disagrees
    warn_after_frames: int = DEFAULT_WARN_AFTER_FRAMES
    min_samples: int = DEFAULT_MIN_SAMPLES

    def __post_init__(self) -> None:
        if self.action not in GUARD_ACTIONS:
            raise InputError(f"guard.action '{self.action}' is not one of: {', '.join(GUARD_ACTIONS)}")
        if not 0 <= self.holdout_share <= 0.5:
            raise InputError(f"guard.holdout_share must be in [0, 0.5], got {self.holdout_share}")
        if not 0 < self.max_rel_error < 1:
            raise InputError(f"guard.max_rel_error must be in (0, 1), got {self.max_rel_error}")
        if self.min_samples < 3 or self.warn_after_frames < 1:
            raise InputError(f"need guard.min_samples >= 3 and guard.warn_after_frames >= 1, got "
                             f"{self.min_samples}, {self.warn_after_frames}")

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> GuardSettings:
        """The settings of the node's parameter ``values`` (``guard.*``)."""
        return cls(enabled=values["guard.enabled"], holdout_share=values["guard.holdout_share"],
                   action=values["guard.action"], max_rel_error=values["guard.max_rel_error"],
                   warn_after_frames=values["guard.warn_after_frames"], min_samples=values["guard.min_samples"])


def not_guarded_reason(estimator: Guardable) -> str | None:
    """Why the guard does not check ``estimator``'s output (None: it does)."""
    if estimator.learned:
        return None
    return (f"not guarded: '{estimator.name}' is weight-free and interpolates the LiDAR itself (its output cannot "
            "drift from it in scale)")


def _valid(sparse_m: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(sparse_m) & (sparse_m > 0)


def holdout_mask(sparse_m: np.ndarray, share: float, seed: int) -> np.ndarray:
    """(H, W) bool: ``round(share * n)`` of the ``n`` valid samples (finite, > 0) of ``sparse_m`` [m], drawn
    without replacement by a generator seeded with ``seed`` (any integer, e.g. the frame stamp [ns]): the same
    samples for the same map and seed, on every machine."""
    valid = np.flatnonzero(_valid(sparse_m))
    count = int(round(share * valid.size))
    mask = np.zeros(sparse_m.shape, dtype=bool)
    if count:
        rng = np.random.default_rng(np.random.SeedSequence([_SEED_SALT, seed % (1 << 64)]))
        mask.flat[valid[rng.choice(valid.size, count, replace=False)]] = True
    return mask


@dataclass(frozen=True)
class GuardInput:
    """The LiDAR samples a frame's output is compared with: ``reference_m`` (H, W) float32 [m] (0 = none),
    ``reference`` (:data:`HELD_OUT`, :data:`SEEN` or :data:`UNSEEN`), ``withheld`` samples taken from the model."""

    reference_m: np.ndarray
    reference: str
    withheld: int = 0


@dataclass(frozen=True)
class GuardSplit:
    """A frame's sparse depth after the guard's hold-out: what the estimator gets (``estimator_sparse_m``, None =
    nothing), what the align_to_sparse fit gets (``align_sparse_m``) and what the output is compared with
    (``guard``, None: not guarded)."""

    estimator_sparse_m: np.ndarray | None
    align_sparse_m: np.ndarray | None
    guard: GuardInput | None


def split_for_guard(sparse_m: np.ndarray | None, estimator_sparse_m: np.ndarray | None, aligned: bool,
                    estimator: Guardable, settings: GuardSettings, seed: int) -> GuardSplit:
    """Withhold the guard's share of a frame's LiDAR samples from the model (see the module docstring).

    Args:
        sparse_m: (H, W) float32 LiDAR depth [m] of the frame (0/NaN = none), None without LiDAR.
        estimator_sparse_m: what the estimator would get without the guard (``sparse_m`` in completion, else None).
        aligned: the output is fitted to ``sparse_m`` (align_to_sparse on).
        estimator: the estimator (only learned ones are guarded).
        settings: the guard settings.
        seed: the frame's hold-out seed (the node and the batch use the frame stamp [ns]).
    """
    unchanged = GuardSplit(estimator_sparse_m, sparse_m, None)
    if sparse_m is None or not settings.enabled or not_guarded_reason(estimator) is not None:
        return unchanged
    if estimator_sparse_m is None and not aligned:  # the LiDAR reaches the output nowhere: every sample is unseen
        return GuardSplit(None, sparse_m, GuardInput(sparse_m, UNSEEN))
    if settings.holdout_share == 0:
        return dataclasses.replace(unchanged, guard=GuardInput(sparse_m, SEEN))
    held = holdout_mask(sparse_m, settings.holdout_share, seed)
    reference = np.where(held, sparse_m, np.float32(0)).astype(np.float32, copy=False)
    withheld = int(np.count_nonzero(held))
    if withheld < settings.min_samples:  # too few to judge: the model keeps them (the verdict says why)
        return dataclasses.replace(unchanged, guard=GuardInput(reference, HELD_OUT, 0))
    given = np.where(held, np.float32(0), sparse_m).astype(np.float32, copy=False)
    return GuardSplit(given if estimator_sparse_m is not None else None, given,
                      GuardInput(reference, HELD_OUT, withheld))


@dataclass(frozen=True)
class LidarAgreement:
    """How one frame's output agrees with its guard samples (:func:`measure_agreement`).

    ``verdict``: :data:`AGREE`, :data:`DISAGREE` or :data:`NOT_ENOUGH_SAMPLES`; ``reference``: which samples
    (:data:`HELD_OUT`, :data:`SEEN`, :data:`UNSEEN`); ``samples``: samples where the output is valid;
    ``median_rel_error``: median ``|output - LiDAR| / LiDAR``; ``within_5pct``: share of the samples within 5 %;
    ``scale``: robust output / LiDAR (None: no scale explains half of the samples); ``scale_inlier_share``: the
    share it explains; ``diagnosis``: one line; ``applied_scale``: the depth was divided by it (rescale).
    The figures are None for :data:`NOT_ENOUGH_SAMPLES`.
    """

    verdict: str
    reference: str
    samples: int
    min_samples: int
    median_rel_error: float | None = None
    within_5pct: float | None = None
    scale: float | None = None
    scale_inlier_share: float | None = None
    diagnosis: str = ""
    applied_scale: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (every float finite or None)."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line: the figures and the diagnosis."""
        if self.verdict == NOT_ENOUGH_SAMPLES:
            return self.diagnosis
        scale = f"x{self.scale:.3g}" if self.scale is not None else "none"
        text = (f"{self.verdict} on {self.samples} {self.reference.replace('_', '-')} samples: median error "
                f"{100 * (self.median_rel_error or 0.0):.1f} %, {100 * (self.within_5pct or 0.0):.0f} % within 5 %, "
                f"scale output/LiDAR {scale}")
        if self.verdict == DISAGREE:
            text += f": {self.diagnosis}"
        if self.applied_scale is not None:
            text += f" (rescaled by 1/{self.applied_scale:.4g})"
        return text


def diagnose_scale(scale: float | None) -> str:
    """The likely cause of an output / LiDAR scale ``scale`` far from 1 (None: no single scale fits)."""
    if scale is None:
        return ("no single scale explains the difference: check the LiDAR-camera extrinsics and time "
                "synchronization, or the model does not suit this scene")
    if 1 / 2000 <= scale <= 1 / 500:
        return (f"scale off by x{scale:.3g} (about 1/1000): the LiDAR depth looks like millimetres read as metres "
                "(32FC1 and PointCloud2 carry metres, 16UC1 millimetres)")
    if 500 <= scale <= 2000:
        return (f"scale off by x{scale:.3g} (about 1000): the LiDAR depth looks like metres read as millimetres "
                "(16UC1 carries millimetres)")
    return f"scale off by x{scale:.3g}: check CameraInfo matches the image size and the depth units"


def measure_agreement(depth_m: np.ndarray, guard: GuardInput, settings: GuardSettings,
                      seed: int = 0) -> LidarAgreement:
    """Compare an output with its guard samples (see the module docstring).

    Args:
        depth_m: (H, W) float32 output depth [m], NaN where invalid.
        guard: the samples (:func:`split_for_guard`).
        settings: ``max_rel_error`` (verdict, scale inliers) and ``min_samples``.
        seed: the RANSAC seed of the robust scale.
    """
    z = guard.reference_m
    with np.errstate(invalid="ignore"):
        usable = _valid(z) & np.isfinite(depth_m) & (depth_m > 0)
    samples = int(np.count_nonzero(usable))
    base = LidarAgreement(NOT_ENOUGH_SAMPLES, guard.reference, samples, settings.min_samples)
    if samples < settings.min_samples:
        which = {HELD_OUT: "held-out", SEEN: "seen", UNSEEN: ""}[guard.reference]
        return dataclasses.replace(base, diagnosis=(
            f"not enough samples: {samples} {which + ' ' if which else ''}LiDAR samples where the output is valid, "
            f"need {settings.min_samples} (guard.min_samples)"))
    out, lidar = depth_m[usable].astype(np.float64), z[usable].astype(np.float64)
    relative = np.abs(out - lidar) / lidar
    median = float(np.median(relative))
    within = float(np.mean(relative < WITHIN_REL))
    scale, inlier_share = robust_output_scale(depth_m, z, usable, settings, seed)
    verdict = AGREE if median <= settings.max_rel_error else DISAGREE
    diagnosis = "agrees" if verdict == AGREE else diagnose_scale(scale)
    return dataclasses.replace(base, verdict=verdict, median_rel_error=median, within_5pct=within, scale=scale,
                               scale_inlier_share=inlier_share, diagnosis=diagnosis)


def robust_output_scale(depth_m: np.ndarray, lidar_m: np.ndarray, usable: np.ndarray, settings: GuardSettings,
                        seed: int = 0) -> tuple[float | None, float | None]:
    """(scale, inlier share): the robust ``s`` with output ~ ``s`` * LiDAR at ``usable`` pixels (RANSAC, scale
    only, residuals relative to the output), or (None, None) when it is degenerate, <= 0, not finite, or explains
    (within ``settings.max_rel_error``) fewer than half of the samples (:data:`SCALE_MIN_INLIER_SHARE`)."""
    lidar = np.where(usable, lidar_m, np.float32(np.nan)).astype(np.float32, copy=False)
    output = np.where(usable, depth_m, np.float32(0)).astype(np.float32, copy=False)
    try:
        fit = robust_scale_shift(lidar, output, fit_shift=False, method="ransac",
                                 inlier_threshold=settings.max_rel_error, min_points=settings.min_samples,
                                 seed=seed, min_inlier_ratio=SCALE_MIN_INLIER_SHARE,
                                 min_inliers=math.ceil(SCALE_MIN_INLIER_SHARE * settings.min_samples))
    except (AlignmentRejected, InputError):
        return None, None
    if not (math.isfinite(fit.scale) and fit.scale > 0):  # check_fit refuses <= 0; a non-finite scale never passes
        return None, None
    return fit.scale, fit.inlier_ratio


class LidarDisagreement(InputError):
    """A frame dropped by ``guard.action`` drop: its output disagrees with the LiDAR (``agreement``)."""

    def __init__(self, agreement: LidarAgreement) -> None:
        super().__init__(f"LiDAR guard: the depth disagrees with the LiDAR ({agreement.summary()}); not published "
                         "(guard.action drop)")
        self.agreement = agreement

    def __reduce__(self) -> tuple[type[LidarDisagreement], tuple[LidarAgreement]]:
        return type(self), (self.agreement,)  # picklable (Ray, process pools) with its agreement


def apply_guard_action(depth_m: np.ndarray, agreement: LidarAgreement, settings: GuardSettings
                       ) -> tuple[np.ndarray, LidarAgreement]:
    """``settings.action`` on one frame: (the depth to publish [m], the agreement with ``applied_scale`` set when
    it was rescaled). Only a disagreeing frame is touched: rescale divides it by its robust scale (none: left as
    it is), drop raises :class:`LidarDisagreement`."""
    if agreement.verdict != DISAGREE:
        return depth_m, agreement
    if settings.action == DROP:
        raise LidarDisagreement(agreement)
    if settings.action == RESCALE and agreement.scale is not None:
        rescaled = (depth_m / np.float32(agreement.scale)).astype(np.float32, copy=False)
        return rescaled, dataclasses.replace(agreement, applied_scale=agreement.scale)
    return depth_m, agreement


class GuardMonitor:
    """One camera's guard record: its run of disagreeing frames and counters (one writer: the camera's frames
    are finished one at a time; the diagnostics read it)."""

    def __init__(self) -> None:
        self.consecutive = 0  # disagreeing frames in a row (frames without a verdict neither count nor break it)
        self.checked = 0
        self.disagreeing = 0
        self.not_enough = 0
        self.rescaled = 0
        self.dropped = 0
        self.last: LidarAgreement | None = None
        self.last_disagreement: LidarAgreement | None = None

    def observe(self, agreement: LidarAgreement, settings: GuardSettings, dropped: bool = False) -> str | None:
        """Record one frame's agreement; the line to log when the run of disagreeing frames just reached
        ``settings.warn_after_frames`` or just ended after having reached it (else None)."""
        self.last = agreement
        if agreement.verdict == NOT_ENOUGH_SAMPLES:
            self.not_enough += 1
            return None
        self.checked += 1
        was_warning = self.consecutive >= settings.warn_after_frames
        if agreement.verdict == AGREE:
            self.consecutive = 0
            return "LiDAR guard: the depth agrees with the LiDAR again" if was_warning else None
        self.consecutive += 1
        self.disagreeing += 1
        self.last_disagreement = agreement
        self.dropped += int(dropped)
        self.rescaled += int(agreement.applied_scale is not None)
        if self.consecutive == settings.warn_after_frames:
            return self.problem(settings)
        return None

    def problem(self, settings: GuardSettings) -> str | None:
        """The WARN message while ``settings.warn_after_frames`` or more frames in a row disagreed, else None."""
        last = self.last_disagreement
        if self.consecutive < settings.warn_after_frames or last is None:
            return None
        return (f"LiDAR guard: the depth disagrees with the LiDAR for {self.consecutive} frames "
                f"(median error {100 * (last.median_rel_error or 0.0):.0f} %): {last.diagnosis}")

    def values(self, settings: GuardSettings) -> list[tuple[str, str]]:
        """The diagnostics key/value pairs."""
        last = self.last
        figures: list[tuple[str, str]] = [("lidar guard", f"{settings.action}, frames checked {self.checked}, "
                                           f"disagreeing {self.disagreeing} ({self.consecutive} in a row), "
                                           f"rescaled {self.rescaled}, dropped {self.dropped}, not enough samples "
                                           f"{self.not_enough}")]
        if last is None:
            return figures + [("lidar agreement", "no frame with LiDAR samples yet")]
        figures.append(("lidar agreement", last.summary()))
        if last.verdict != NOT_ENOUGH_SAMPLES:
            figures += [("lidar agreement samples", f"{last.samples} ({last.reference.replace('_', '-')})"),
                        ("lidar agreement median abs rel error", f"{last.median_rel_error:.4f}"),
                        ("lidar agreement within 5 %", f"{last.within_5pct:.3f}"),
                        ("lidar agreement scale output/LiDAR",
                         "none" if last.scale is None else f"{last.scale:.4g}")]
        return figures
