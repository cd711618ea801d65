"""The mode rules, in one place (ROS-free): which mode a frame runs in, and what it needs.

Modes (the node's and the batch's ``mode`` parameter; a predict / HTTP request names completion or
monocular, or none and gets auto's choice):

- ``completion``: the estimator completes the frame's sparse depth; a frame without sparse depth is not run.
- ``monocular``: the estimator sees the image only; with ``align_to_sparse`` on, the frame's sparse depth
  serves only the fit of the output to it, so the frame then needs it.
- ``auto``: completion while sparse depth arrives; without it monocular when the estimator can (it
  *falls back*), else the frame waits for sparse depth. The monocular fallback fits the output to sparse
  depth only when a frame happens to carry some: it never waits for sparse depth.

An estimator's capabilities are its ``supported_modes`` (a subset of {completion, monocular}); a mode
it cannot run is refused at configuration time by :func:`check_mode`, so the frame rules below only
meet the configurations that passed it (they are defined, and tested, for every other one as well).
Used by the depth node's camera channels, the batch workers and one-off predictions (CLI, HTTP API).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Protocol

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.estimators.base import AUTO, COMPLETION, MODES, MONOCULAR

#: the ``align_to_sparse`` value that fits nothing (any other value fits the output to the sparse depth)
ALIGN_OFF = "off"


class ModeCapable(Protocol):
    """What the mode rules read of an estimator (every DepthEstimator has both)."""

    @property
    def name(self) -> str: ...

    @property
    def supported_modes(self) -> AbstractSet[str]: ...


def check_mode(estimator: ModeCapable, mode: str) -> None:
    """Raise ConfigError if ``estimator`` cannot run in ``mode`` (one of :data:`MODES`).

    ``auto`` needs completion (run while sparse depth arrives); monocular is its optional fallback, so a
    completion-only estimator may run ``auto`` and simply waits for sparse depth (see :func:`can_fall_back`).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode '{mode}'; choose one of: {', '.join(MODES)}")
    needed = {COMPLETION} if mode == AUTO else {mode}
    supported = estimator.supported_modes
    missing = needed - set(supported)
    if missing:
        hint = ""
        if supported == {MONOCULAR}:
            hint = ("; for a camera + LiDAR robot run it with mode:=monocular and align_to_sparse:=scale_shift "
                    "(the LiDAR then only fits its scale), or pick a completion estimator")
        raise ConfigError(f"estimator '{estimator.name}' cannot run mode '{mode}': it does not support "
                          f"{', '.join(sorted(missing))} (it supports "
                          f"{', '.join(sorted(supported)) or 'nothing'}){hint}")


def can_fall_back(supported_modes: AbstractSet[str]) -> bool:
    """Whether auto mode runs monocular while no sparse depth arrives (else it waits for sparse depth)."""
    return MONOCULAR in supported_modes


def frame_mode(mode: str, supported_modes: AbstractSet[str], has_sparse: bool) -> str | None:
    """The mode a frame runs in: completion or monocular; None: auto mode waiting for sparse depth.

    ``mode``: completion / monocular (run as asked) or auto; ``has_sparse``: sparse depth comes with the
    frame (for the node's stream state: sparse depth is arriving). auto runs completion with sparse depth
    when the estimator can, else monocular when it can fall back, else waits.
    """
    if mode != AUTO:
        return mode
    if has_sparse and COMPLETION in supported_modes:
        return COMPLETION
    return MONOCULAR if can_fall_back(supported_modes) else None


def needs_sparse(mode: str, supported_modes: AbstractSet[str], sparse_arriving: bool, align_to_sparse: str) -> bool:
    """Whether a frame must carry sparse depth: the node's synchronizer then requires the sparse stream, a batch
    frame without it is dropped.

    completion: always. monocular: when ``align_to_sparse`` fits the output to it. auto: unless it runs
    monocular (:func:`frame_mode` with ``sparse_arriving``), i.e. while sparse depth arrives and whenever the
    estimator cannot fall back.
    """
    if mode == COMPLETION:
        return True
    if mode == MONOCULAR:
        return align_to_sparse != ALIGN_OFF
    return frame_mode(mode, supported_modes, sparse_arriving) != MONOCULAR


def estimator_gets_sparse(mode: str, supported_modes: AbstractSet[str], has_sparse: bool) -> bool:
    """Whether the estimator gets the frame's sparse depth as input: only when the frame runs completion (in
    monocular the sparse depth feeds ``align_to_sparse`` only). False whenever the frame has none."""
    return has_sparse and frame_mode(mode, supported_modes, has_sparse) == COMPLETION
