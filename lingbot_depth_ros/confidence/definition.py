"""What ``depth/confidence`` means, in one checkable sentence, and the test of it against ground truth.

**Definition.** The confidence of a pixel is the probability that its published depth is within
``max(0.10 m, 5 % of the true depth)`` of the true depth (along the optical axis). A pixel with
confidence 0.8 is, over many such pixels, right within that tolerance 8 times out of 10.

It is checked on ground truth by :func:`within_tolerance` (the event the probability is about) and the
expected calibration error of the evaluation tools (``evaluation/confidence_metrics.py``).
"""

from __future__ import annotations

import numpy as np

#: absolute part of the tolerance [m] (it dominates up to 2 m)
TOLERANCE_M = 0.10
#: relative part of the tolerance (of the true depth; it dominates beyond 2 m)
TOLERANCE_REL = 0.05
DEFINITION = (f"the probability that the pixel's depth is within max({TOLERANCE_M:.2f} m, {TOLERANCE_REL:.0%} of "
              "the true depth) of the true depth")


def tolerance_m(true_depth_m: np.ndarray) -> np.ndarray:
    """The tolerance [m] of the definition: max(0.10 m, 5 % of ``true_depth_m``); same shape, float32."""
    return np.maximum(np.float32(TOLERANCE_M), np.float32(TOLERANCE_REL) * np.asarray(true_depth_m, np.float32))


def within_tolerance(depth_m: np.ndarray, true_depth_m: np.ndarray) -> np.ndarray:
    """(same shape) bool: the depth is within :func:`tolerance_m` of the true depth (False where either is not
    a finite positive depth)."""
    depth = np.asarray(depth_m, np.float32)
    truth = np.asarray(true_depth_m, np.float32)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(depth) & np.isfinite(truth) & (truth > 0) & (depth > 0)
        return usable & (np.abs(depth - truth) <= tolerance_m(truth))
