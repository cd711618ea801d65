#!/usr/bin/env python3
"""Write test/data/lingbot_tiny_regression.npz: pinned outputs of the torch LingBot-Depth path.

How the fixture is made (rerun only on purpose, when a change of the torch outputs is intended)::

    .venv/bin/python test/make_lingbot_regression.py

* model: ``tiny_state(seed=0)`` (tiny config, seeded random weights; lingbot_depth_ros.testing.lingbot_checkpoints),
  loaded through the real checkpoint loader, CPU, precision fp32;
* inputs: a 60 x 80 uint8 RGB image (numpy PCG64 seed 11) and a 5 % dense sparse depth map in
  0.5..8 m (seed 12); both are stored in the file;
* cases: monocular and completion at resolution levels 0 and 9 (token-dropping path, the default);
* stored per case: ``depth_m`` (H, W) float32 [m] and ``mask_prob`` (H, W) float32.

test/test_model_regression.py compares today's outputs with these at 1e-6 (CPU fp32 is deterministic).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIXTURE = REPO / "test" / "data" / "lingbot_tiny_regression.npz"
H, W = 60, 80
LEVELS = (0, 9)
MODES = ("monocular", "completion")


def regression_inputs() -> tuple[np.ndarray, np.ndarray]:
    """(rgb (H, W, 3) uint8, sparse (H, W) float32 [m]) of the fixture."""
    rgb = np.random.default_rng(11).integers(0, 256, (H, W, 3), dtype=np.uint8)
    rng = np.random.default_rng(12)
    sparse = np.zeros((H, W), np.float32)
    hit = rng.random((H, W)) < 0.05
    sparse[hit] = rng.uniform(0.5, 8.0, int(hit.sum())).astype(np.float32)
    return rgb, sparse


def regression_model(tmp_dir: Path):
    """The fixture's tiny model (fp32, CPU) through the real loader."""
    from lingbot_depth_ros.model import load_model
    from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint
    return load_model(make_tiny_checkpoint(tmp_dir / "model.pt", seed=0), device="cpu", precision="fp32")


def regression_outputs(model, rgb: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
    """``{f'{mode}_L{level}_{depth_m|mask_prob}': (H, W) float32}`` for every case."""
    out = {}
    for mode in MODES:
        for level in LEVELS:
            res = model.infer(rgb, sparse if mode == "completion" else None, resolution_level=level)
            out[f"{mode}_L{level}_depth_m"] = res["depth_m"]
            out[f"{mode}_L{level}_mask_prob"] = res["mask_prob"]
    return out


def main() -> int:
    import tempfile
    rgb, sparse = regression_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = regression_outputs(regression_model(Path(tmp)), rgb, sparse)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, rgb=rgb, sparse_m=sparse, **outputs)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1e3:.0f} kB): {', '.join(sorted(outputs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
