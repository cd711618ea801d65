"""The full ViT-L reference model really runs (not only on the meta device): slow on CPU, kept out of the
default run. Run with: .venv/bin/python -m pytest -m slow"""

from __future__ import annotations

import numpy as np
import pytest

from lingbot_depth_ros.model.config import reference_model_config
from lingbot_depth_ros.model.factory import model_from_config

pytestmark = pytest.mark.slow


def test_reference_vitl_forward_on_cpu_both_modes() -> None:
    model = model_from_config(reference_model_config(), device="cpu", precision="fp32", seed=0)
    n_params = sum(p.numel() for p in model.network.parameters())
    assert n_params == 324_310_658
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    sparse = np.where(rng.random((480, 640)) < 0.05, rng.uniform(0.5, 8.0, (480, 640)), 0).astype(np.float32)
    for sparse_in in (None, sparse):
        out = model.infer(rgb, sparse_in, resolution_level=0)
        assert out["depth_m"].shape == (480, 640) and out["depth_m"].dtype == np.float32
        assert np.all(np.isfinite(out["depth_m"])) and np.all(out["depth_m"] > 0)  # exp output
        assert out["valid"].dtype == bool
