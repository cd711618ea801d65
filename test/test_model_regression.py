"""Regression pin of the torch LingBot-Depth path (issue 15): today's fp32 CPU outputs of a seeded
tiny model must not change silently. The fixture and how it was made: test/make_lingbot_regression.py."""

from __future__ import annotations

import numpy as np
import pytest
from make_lingbot_regression import FIXTURE, LEVELS, MODES, regression_inputs, regression_model, regression_outputs

TOL = 1e-6


@pytest.fixture(scope="module")
def pinned() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def current(tmp_path_factory) -> dict[str, np.ndarray]:
    rgb, sparse = regression_inputs()
    return regression_outputs(regression_model(tmp_path_factory.mktemp("reg")), rgb, sparse)


def test_fixture_inputs_are_reproducible(pinned) -> None:
    rgb, sparse = regression_inputs()
    assert np.array_equal(pinned["rgb"], rgb) and np.array_equal(pinned["sparse_m"], sparse)
    assert 0.03 < (sparse > 0).mean() < 0.07


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("level", LEVELS)
def test_torch_path_matches_pinned_outputs(pinned, current, mode, level) -> None:
    for what in ("depth_m", "mask_prob"):
        key = f"{mode}_L{level}_{what}"
        want, got = pinned[key], current[key]
        assert got.shape == want.shape == (60, 80) and got.dtype == np.float32
        assert np.isfinite(got).all()
        err = float(np.max(np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), 1e-3)))
        assert err <= TOL, f"{key}: max relative difference {err:.3g} > {TOL}"


def test_modes_and_levels_differ(pinned) -> None:
    """The pinned cases are distinct computations (a pin of a constant would catch nothing)."""
    d = [pinned[f"{m}_L{lv}_depth_m"] for m in MODES for lv in LEVELS]
    for i in range(len(d)):
        for j in range(i + 1, len(d)):
            assert np.max(np.abs(d[i] - d[j])) > 1e-4
