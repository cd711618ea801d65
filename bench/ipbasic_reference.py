"""A plain IP-Basic depth completion, as a bench-only reference for the ``classical`` estimator.

After Ku, Harakeh and Waslander, "In Defense of Classical Image Processing: Fast Depth Completion
on the CPU" (CRV 2018), the "fast" variant, written for this package from the paper's description:

1. invert the valid depths (``d' = max_depth - d``) so that a grey dilation favours *near* points;
2. dilate with a 5x5 diamond kernel; 3. close with a 5x5 full kernel (joins scan lines);
4. fill small holes: empty pixels take a 7x7 full-kernel dilation;
5. extend to the top: above each column's highest value, copy that value upwards;
6. fill the large holes left with a 31x31 full-kernel dilation;
7. 5x5 median blur, then a 5x5 Gaussian blur, both applied only where there is a value (the Gaussian
   normalised by the pixels with a value);
8. re-invert.

Every pixel that received a value is valid (after step 5 that is every column that has a sample,
all the way to the image's top row).  Not an estimator of the package: the bench compares
``classical`` against it (``bench/eval_estimators_shared.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_DEPTH_M = 100.0


def _diamond(size: int) -> np.ndarray:
    radius = size // 2
    offsets = np.abs(np.arange(size) - radius)
    return (offsets[:, None] + offsets[None, :] <= radius).astype(np.uint8)


def _fill_where_empty(depth: np.ndarray, filler: np.ndarray) -> None:
    empty = depth < 0.1
    depth[empty] = filler[empty]


def ipbasic_complete(sparse_depth_m: np.ndarray, max_depth_m: float = MAX_DEPTH_M) -> np.ndarray:
    """Complete sparse depth with IP-Basic (fast variant).

    Args:
        sparse_depth_m: (H, W) float depth [m], 0 / NaN / inf = no measurement.
        max_depth_m: inversion constant [m]; samples beyond it are ignored.

    Returns:
        (H, W) float32 depth [m]; NaN where no value could be spread (columns without any sample).
    """
    sparse = np.nan_to_num(np.asarray(sparse_depth_m, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    valid = (sparse > 0.1) & (sparse <= max_depth_m)
    depth = np.where(valid, np.float32(max_depth_m) - sparse, 0.0).astype(np.float32)
    # inverted depths of 0 (a sample exactly at max_depth) would read as empty: keep them just above
    depth[valid] = np.maximum(depth[valid], 0.1001)

    depth = cv2.dilate(depth, _diamond(5))
    depth = cv2.morphologyEx(depth, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _fill_where_empty(depth, cv2.dilate(depth, np.ones((7, 7), np.uint8)))

    # extend the highest value of every column up to the image top
    has_value = depth > 0.1
    top_row = has_value.argmax(axis=0)
    columns = np.flatnonzero(has_value.any(axis=0))
    rows = np.arange(depth.shape[0])[:, None]
    above = (rows < top_row[None, :]) & has_value.any(axis=0)[None, :]
    top_values = depth[top_row[columns], columns]
    column_top = np.zeros(depth.shape[1], np.float32)
    column_top[columns] = top_values
    depth = np.where(above, column_top[None, :], depth)

    _fill_where_empty(depth, cv2.dilate(depth, np.ones((31, 31), np.uint8)))

    has_value = depth > 0.1
    blurred = cv2.medianBlur(depth, 5)
    depth[has_value] = blurred[has_value]
    # Gaussian over the pixels with a value only (normalised), so that holes left on very sparse input
    # do not pull their neighbours towards max_depth_m after re-inversion; identical where there is no hole
    weight = cv2.GaussianBlur(has_value.astype(np.float32), (5, 5), 0)
    blurred = cv2.GaussianBlur(np.where(has_value, depth, 0.0).astype(np.float32), (5, 5), 0)
    depth[has_value] = blurred[has_value] / weight[has_value]

    out = np.full(depth.shape, np.nan, np.float32)
    out[has_value] = np.float32(max_depth_m) - depth[has_value]
    return out
