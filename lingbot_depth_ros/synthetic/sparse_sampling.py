"""Simulate a sparse depth input from dense or semi-dense ground truth (for evaluation only).

Two protocols are used in the depth-completion literature:

* KITTI-like LiDAR scan lines (:func:`sample_scanlines`): keep the ground-truth pixels of a few
  roughly evenly spaced image rows, the way a spinning multi-beam LiDAR projects into a camera.
* NYU-like random samples (:func:`sample_random`): keep N valid ground-truth pixels chosen
  uniformly at random (N = 200 or 500 in the usual protocol).

Both return a new (H, W) float32 map [m] with 0 where there is no sample; the ground truth
itself is never modified.
"""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.errors import InputError


def _valid_gt(gt_m: np.ndarray) -> np.ndarray:
    """Validate ``gt_m`` and return its (H, W) bool mask of valid pixels (finite and > 0)."""
    if not isinstance(gt_m, np.ndarray) or gt_m.ndim != 2 or gt_m.dtype.kind not in "fiu":
        raise InputError(f"ground truth must be an (H, W) numeric array [m], got shape "
                         f"{getattr(gt_m, 'shape', None)} dtype {getattr(gt_m, 'dtype', None)}")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt_m) & (gt_m > 0)
    if not valid.any():
        raise InputError("ground truth has no valid pixels to sample from")
    return valid


def sample_scanlines(gt_m: np.ndarray, n_rows: int = 64, *, seed: int = 0,
                     keep_fraction: float = 1.0) -> np.ndarray:
    """Keep the valid ground truth on ``n_rows`` evenly spaced rows (a simulated LiDAR scan).

    The rows are spread evenly between the first and the last image row that holds any valid
    ground truth (rounded to whole rows; duplicates collapse when the span has fewer rows than
    ``n_rows``). Along each kept row, ``keep_fraction`` < 1 keeps only that random fraction of the
    valid pixels (a sparser beam); ``seed`` makes this reproducible.

    Args:
        gt_m: (H, W) ground-truth depth [m]; 0, NaN or inf = no value.
        n_rows: number of scan lines, >= 1.
        seed: seed of the along-row subsampling (unused when ``keep_fraction`` == 1).
        keep_fraction: fraction in (0, 1] of the valid pixels kept on each scan line.

    Returns:
        (H, W) float32 sparse depth [m], 0 where there is no sample.

    Raises:
        InputError: ``gt_m`` is not a 2-D numeric array or has no valid pixel; bad arguments.
    """
    if n_rows < 1:
        raise InputError(f"n_rows must be >= 1, got {n_rows}")
    if not 0.0 < keep_fraction <= 1.0:
        raise InputError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    valid = _valid_gt(gt_m)
    rows_with_gt = np.flatnonzero(valid.any(axis=1))
    rows = np.unique(np.round(np.linspace(rows_with_gt[0], rows_with_gt[-1], n_rows)).astype(np.intp))
    keep = np.zeros_like(valid)
    keep[rows] = valid[rows]
    if keep_fraction < 1.0:
        rng = np.random.default_rng(seed)
        keep &= rng.random(keep.shape) < keep_fraction
    return np.where(keep, gt_m, 0).astype(np.float32)


def sample_random(gt_m: np.ndarray, n_points: int = 500, *, seed: int = 0) -> np.ndarray:
    """Keep ``n_points`` valid ground-truth pixels chosen uniformly at random, without repetition.

    If the ground truth has fewer valid pixels than ``n_points``, all of them are kept.

    Args:
        gt_m: (H, W) ground-truth depth [m]; 0, NaN or inf = no value.
        n_points: number of samples, >= 1.
        seed: random seed (the same seed and input give the same samples).

    Returns:
        (H, W) float32 sparse depth [m], 0 where there is no sample.

    Raises:
        InputError: ``gt_m`` is not a 2-D numeric array or has no valid pixel; ``n_points`` < 1.
    """
    if n_points < 1:
        raise InputError(f"n_points must be >= 1, got {n_points}")
    valid = _valid_gt(gt_m)
    candidates = np.flatnonzero(valid)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(candidates, size=min(n_points, candidates.size), replace=False)
    sparse = np.zeros(gt_m.shape, np.float32)
    sparse.flat[chosen] = gt_m.flat[chosen]
    return sparse
