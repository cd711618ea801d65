"""Align a prediction to reference depth before scoring (evaluation protocols, non-robust).

Relative or monocular predictions are often scored after a per-image alignment to the ground
truth (or to sparse LiDAR). The modes:

* ``"none"``: unchanged (scale 1, shift 0).
* ``"median"``: scale = median(ref) / median(pred), no shift (the usual monocular protocol).
* ``"lstsq"``: least-squares ``scale * pred + shift ~ ref`` in depth.
* ``"lstsq_inverse"``: least-squares ``scale / pred + shift ~ 1 / ref`` in inverse depth (the
  protocol for affine-invariant disparity models); the aligned depth is
  ``1 / (scale / pred + shift)``, and the returned scale and shift are those of the inverse-depth
  fit.

For fitting a prediction to real LiDAR (with outliers), use the robust
:func:`lingbot_depth_ros.geometry.scale_alignment.robust_scale_shift` instead.
"""

from __future__ import annotations

import numpy as np

from lingbot_depth_ros.errors import InputError

ALIGNMENT_MODES = ("none", "median", "lstsq", "lstsq_inverse")


def _fit_affine(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``a * x + b ~ y`` (1-D float64 arrays, at least 2 distinct x)."""
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b)


def align_prediction(pred: np.ndarray, gt_or_sparse: np.ndarray, mask: np.ndarray | None = None,
                     mode: str = "none") -> tuple[np.ndarray, float, float]:
    """Align ``pred`` to the reference depth with one global scale (and shift).

    Args:
        pred: (H, W) predicted depth [m or relative units]; NaN / inf / <= 0 = no prediction.
        gt_or_sparse: (H, W) reference depth [m]; NaN / inf / <= 0 = no reference.
        mask: optional (H, W) bool restricting the pixels used for the fit.
        mode: one of :data:`ALIGNMENT_MODES`.

    Returns:
        ``(aligned, scale, shift)``: (H, W) float32 aligned depth [m] (NaN where ``pred`` had no
        prediction or, in ``lstsq_inverse``, where the aligned inverse depth is <= 0) and the fitted
        parameters.

    Raises:
        InputError: unknown mode, shape mismatch, or too few usable pixels for the fit (1 for
        median, 2 with distinct predictions for the least-squares modes).
    """
    if mode not in ALIGNMENT_MODES:
        raise InputError(f"unknown alignment mode '{mode}'; choose one of: {', '.join(ALIGNMENT_MODES)}")
    for label, array in (("prediction", pred), ("reference", gt_or_sparse)):
        if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind not in "fiu":
            raise InputError(f"{label} must be an (H, W) numeric array, got shape "
                             f"{getattr(array, 'shape', None)} dtype {getattr(array, 'dtype', None)}")
    if pred.shape != gt_or_sparse.shape or (mask is not None and mask.shape != pred.shape):
        raise InputError(f"shapes differ: prediction {pred.shape}, reference {gt_or_sparse.shape}"
                         + ("" if mask is None else f", mask {mask.shape}"))
    prediction = pred.astype(np.float64)
    reference = gt_or_sparse.astype(np.float64)
    with np.errstate(invalid="ignore"):
        pred_ok = np.isfinite(prediction) & (prediction > 0)
        used = pred_ok & np.isfinite(reference) & (reference > 0)
    if mask is not None:
        used &= mask.astype(bool)
    x, y = prediction[used], reference[used]

    if mode == "none":
        scale, shift = 1.0, 0.0
    elif mode == "median":
        if x.size < 1:
            raise InputError("median alignment needs at least 1 pixel with both prediction and reference")
        scale, shift = float(np.median(y) / np.median(x)), 0.0
    else:
        if mode == "lstsq_inverse":
            x, y = 1.0 / x, 1.0 / y
        if x.size < 2 or np.ptp(x) == 0:
            raise InputError(f"{mode} alignment needs at least 2 pixels with distinct predictions and a "
                             f"reference, got {x.size}")
        scale, shift = _fit_affine(x, y)

    aligned = np.full(prediction.shape, np.nan)
    if mode == "lstsq_inverse":
        inverse = scale / prediction[pred_ok] + shift
        with np.errstate(divide="ignore"):
            aligned[pred_ok] = np.where(inverse > 0, 1.0 / inverse, np.nan)
    else:
        aligned[pred_ok] = scale * prediction[pred_ok] + shift
    return aligned.astype(np.float32), scale, shift
