"""Standard depth-estimation error metrics (KITTI depth completion and NYU / monocular sets).

Which pixels count:

* The **evaluated set** is every pixel where the ground truth is valid (finite and
  > ``min_depth_m``), not above ``max_depth_m`` when given, and inside ``crop`` when given.
* A prediction that is NaN, infinite or <= 0 on an evaluated pixel is a **coverage loss**: it is
  counted in ``coverage`` (= fraction of evaluated pixels with a usable prediction) and left out of
  every error. The errors are computed on the pixels where both are valid (``n_valid`` of them).
  An estimator that declines hard pixels therefore looks better on the errors and worse on
  ``coverage``: compare estimators at equal coverage, or on their common valid pixels.

Keys (all floats):

* KITTI: ``rmse_mm``, ``mae_mm`` (depth error [mm]); ``irmse_1_per_km``, ``imae_1_per_km``
  (error of inverse depth [1/km]).
* NYU / monocular: ``abs_rel`` = mean(|p - g| / g); ``sq_rel`` = mean((p - g)^2 / g) [m];
  ``rmse_m``; ``rmse_log`` = sqrt(mean((ln p - ln g)^2)); ``log10`` = mean(|log10 p - log10 g|);
  ``delta1/2/3`` = fraction of pixels with max(p/g, g/p) < 1.25, 1.25^2, 1.25^3.
* ``n_valid`` (pixels the errors use, as a float) and ``coverage`` (in [0, 1]).

When no evaluated pixel has a usable prediction, the errors are NaN, ``n_valid`` is 0 and
``coverage`` is 0.

``invalid="nearest"`` scores **all** evaluated pixels instead: an evaluated pixel without a usable
prediction takes the depth of the nearest pixel (Euclidean, in the image) where the prediction is
usable, whether or not that pixel has ground truth. ``n_valid`` is then the number of evaluated
pixels and ``coverage`` is still the fraction the prediction covered itself. With no usable
prediction anywhere in the image the errors are NaN and ``n_valid`` is 0.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from lingbot_depth_ros.errors import InputError

ERROR_KEYS = ("rmse_mm", "mae_mm", "irmse_1_per_km", "imae_1_per_km", "abs_rel", "sq_rel", "rmse_m",
              "rmse_log", "log10", "delta1", "delta2", "delta3")
INVALID_MODES = ("exclude", "nearest")
"""Values of ``depth_metrics(invalid=...)``: leave uncovered pixels out, or fill them from the nearest."""


def evaluation_mask(gt_m: np.ndarray, *, max_depth_m: float | None = None, min_depth_m: float = 1e-3,
                    crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(H, W) bool mask of the evaluated ground-truth pixels (see the module docstring).

    Args:
        gt_m: (H, W) ground-truth depth [m].
        max_depth_m: pixels with a larger ground truth are not evaluated (None: no limit).
        min_depth_m: pixels with ground truth <= this are not evaluated.
        crop: (top, bottom, left, right) pixel bounds, bottom and right exclusive; None = all.

    Raises:
        InputError: bad array or crop.
    """
    if not isinstance(gt_m, np.ndarray) or gt_m.ndim != 2 or gt_m.dtype.kind not in "fiu":
        raise InputError(f"ground truth must be an (H, W) numeric array [m], got shape "
                         f"{getattr(gt_m, 'shape', None)} dtype {getattr(gt_m, 'dtype', None)}")
    gt = gt_m.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(gt) & (gt > min_depth_m)
        if max_depth_m is not None:
            mask &= gt <= max_depth_m
    if crop is not None:
        top, bottom, left, right = (int(v) for v in crop)
        height, width = gt.shape
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise InputError(f"crop (top, bottom, left, right)={tuple(crop)} is empty or outside the "
                             f"{width}x{height} image")
        inside = np.zeros_like(mask)
        inside[top:bottom, left:right] = True
        mask &= inside
    return mask


def depth_metrics(pred_m: np.ndarray, gt_m: np.ndarray, *, max_depth_m: float | None = None,
                  min_depth_m: float = 1e-3,
                  crop: tuple[int, int, int, int] | None = None,
                  invalid: Literal["exclude", "nearest"] = "exclude") -> dict[str, float]:
    """Compare a predicted depth map with ground truth.

    Args:
        pred_m: (H, W) predicted depth [m]; NaN / inf / <= 0 = no prediction.
        gt_m: (H, W) ground-truth depth [m]; NaN / inf / <= ``min_depth_m`` = no ground truth.
        max_depth_m, min_depth_m, crop: restrict the evaluated pixels (see :func:`evaluation_mask`).
        invalid: ``"exclude"`` scores the covered pixels only; ``"nearest"`` scores every evaluated
            pixel, filling uncovered ones with the nearest usable predicted depth (module docstring).

    Returns:
        Dict with the keys in :data:`ERROR_KEYS` plus ``n_valid`` and ``coverage``.

    Raises:
        InputError: arrays of different shapes or not 2-D numeric; no evaluated ground-truth pixel;
            unknown ``invalid``.
    """
    if invalid not in INVALID_MODES:
        raise InputError(f"invalid={invalid!r}: expected one of {', '.join(INVALID_MODES)}")
    if not isinstance(pred_m, np.ndarray) or pred_m.ndim != 2 or pred_m.dtype.kind not in "fiu":
        raise InputError(f"prediction must be an (H, W) numeric array [m], got shape "
                         f"{getattr(pred_m, 'shape', None)} dtype {getattr(pred_m, 'dtype', None)}")
    if pred_m.shape != getattr(gt_m, "shape", None):
        raise InputError(f"prediction shape {pred_m.shape} differs from ground truth shape "
                         f"{getattr(gt_m, 'shape', None)}")
    evaluated = evaluation_mask(gt_m, max_depth_m=max_depth_m, min_depth_m=min_depth_m, crop=crop)
    n_evaluated = int(np.count_nonzero(evaluated))
    if n_evaluated == 0:
        raise InputError("ground truth has no valid pixel in the evaluated region")
    pred_all = pred_m.astype(np.float64)
    with np.errstate(invalid="ignore"):
        usable_all = np.isfinite(pred_all) & (pred_all > 0)
    n_covered = int(np.count_nonzero(usable_all & evaluated))
    if invalid == "nearest":
        pred_all = fill_nearest(pred_all, usable_all)
        usable_all = np.isfinite(pred_all)
    pred = pred_all[evaluated]
    gt = gt_m[evaluated].astype(np.float64)
    usable = usable_all[evaluated]
    pred, gt = pred[usable], gt[usable]
    n_valid = pred.size
    result = {"n_valid": float(n_valid), "coverage": n_covered / n_evaluated}
    if n_valid == 0:
        result.update({key: float("nan") for key in ERROR_KEYS})
        return result

    error = pred - gt
    inverse_error_per_km = (1.0 / pred - 1.0 / gt) * 1000.0
    ratio = np.maximum(pred / gt, gt / pred)
    result.update({
        "rmse_mm": float(np.sqrt(np.mean(error ** 2)) * 1000.0),
        "mae_mm": float(np.mean(np.abs(error)) * 1000.0),
        "irmse_1_per_km": float(np.sqrt(np.mean(inverse_error_per_km ** 2))),
        "imae_1_per_km": float(np.mean(np.abs(inverse_error_per_km))),
        "abs_rel": float(np.mean(np.abs(error) / gt)),
        "sq_rel": float(np.mean(error ** 2 / gt)),
        "rmse_m": float(np.sqrt(np.mean(error ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(pred) - np.log(gt)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
    })
    return result


def fill_nearest(depth_m: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Fill every pixel outside ``usable`` with the value of the nearest usable pixel.

    Distance is Euclidean in the image (OpenCV's 5x5 chamfer approximation; ties go to either).

    Args:
        depth_m: (H, W) float64 depth [m].
        usable: (H, W) bool, the pixels whose depth is kept and used as sources.

    Returns:
        (H, W) float64 copy; all NaN when no pixel is usable.
    """
    if not usable.any():
        return np.full(depth_m.shape, np.nan)
    if usable.all():
        return depth_m.copy()
    # distanceTransformWithLabels labels each zero pixel of the source and gives every pixel the
    # label of its nearest zero pixel.
    source = np.where(usable, 0, 1).astype(np.uint8)
    _, labels = cv2.distanceTransformWithLabels(source, cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    value_of_label = np.zeros(int(labels.max()) + 1, np.float64)
    value_of_label[labels[usable]] = depth_m[usable]
    return np.where(usable, depth_m, value_of_label[labels])
