"""Simulated sparse inputs (scan lines, random samples) taken from ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.synthetic.sparse_sampling import sample_random, sample_scanlines


def _ground_truth() -> np.ndarray:
    gt = np.zeros((200, 300), np.float32)
    gt[50:190] = np.linspace(2.0, 40.0, 300, dtype=np.float32)[None, :]  # valid rows 50..189
    gt[60:70, 100:120] = np.nan
    gt[80, :] = 0.0
    return gt


def test_scanlines_keep_evenly_spaced_rows_inside_the_ground_truth_rows() -> None:
    gt = _ground_truth()
    sparse = sample_scanlines(gt, 8)
    rows = np.flatnonzero((sparse > 0).any(axis=1))
    expected = np.unique(np.round(np.linspace(50, 189, 8)).astype(int))
    np.testing.assert_array_equal(rows, expected)           # 50, 70, 90, ..., 189 (row 80 is not one)
    kept = sparse > 0
    np.testing.assert_array_equal(sparse[kept], gt[kept])   # values copied, not altered
    assert sparse.dtype == np.float32 and sparse.shape == gt.shape
    assert np.isfinite(sparse).all()                        # NaN ground truth is not copied
    # every valid gt pixel of a kept row is kept
    assert kept[rows].sum() == (np.isfinite(gt[rows]) & (gt[rows] > 0)).sum()


def test_scanline_subsampling_is_seeded() -> None:
    gt = _ground_truth()
    a = sample_scanlines(gt, 16, keep_fraction=0.5, seed=1)
    b = sample_scanlines(gt, 16, keep_fraction=0.5, seed=1)
    c = sample_scanlines(gt, 16, keep_fraction=0.5, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    full = np.count_nonzero(sample_scanlines(gt, 16))
    assert 0.4 * full < np.count_nonzero(a) < 0.6 * full


def test_random_samples_count_validity_and_seed() -> None:
    gt = _ground_truth()
    sparse = sample_random(gt, 500, seed=3)
    kept = sparse > 0
    assert np.count_nonzero(kept) == 500
    np.testing.assert_array_equal(sparse[kept], gt[kept])
    np.testing.assert_array_equal(sparse, sample_random(gt, 500, seed=3))
    assert not np.array_equal(sparse, sample_random(gt, 500, seed=4))
    small = np.zeros((4, 4), np.float32)
    small[1, 1:3] = 2.0
    assert np.count_nonzero(sample_random(small, 500)) == 2  # fewer valid pixels than asked: all


def test_sampling_errors() -> None:
    with pytest.raises(InputError, match="no valid pixels"):
        sample_random(np.zeros((5, 5), np.float32))
    with pytest.raises(InputError, match="no valid pixels"):
        sample_scanlines(np.full((5, 5), np.nan, np.float32))
    with pytest.raises(InputError, match="n_rows"):
        sample_scanlines(_ground_truth(), 0)
    with pytest.raises(InputError, match="keep_fraction"):
        sample_scanlines(_ground_truth(), 4, keep_fraction=0.0)
    with pytest.raises(InputError, match="n_points"):
        sample_random(_ground_truth(), 0)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        sample_random(np.ones((2, 2, 3), np.float32))
