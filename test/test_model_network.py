"""Forward pass of a tiny model loaded through the real loader: modes, units, masks, token paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.model import load_model
from lingbot_depth_ros.model.network.vit import gather_kept_tokens
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

H, W = 56, 84
TOKENS = 24  # 4 x 6 grid on 56 x 84 -> 56 x 84 input


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model.pt", seed=3)
    return load_model(path, device="cpu", precision="bf16")


def _rgb(seed: int = 0, shape=(H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _sparse(seed: int = 0, density: float = 0.05, shape=(H, W)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = np.zeros(shape, np.float32)
    hit = rng.random(shape) < density
    depth[hit] = rng.uniform(0.5, 8.0, hit.sum())
    return depth


def _intr(w: int = W, h: int = H) -> CameraIntrinsics:
    return CameraIntrinsics(fx=60.0, fy=62.0, cx=w / 2 - 0.5, cy=h / 2 - 0.5, width=w, height=h)


def test_cpu_runs_float32_even_when_bf16_requested(model):
    assert model.effective_precision == "fp32"
    assert "cpu" in model.describe() and "model.pt" in model.describe()


@pytest.mark.parametrize("mode", ["monocular", "completion"])
def test_infer_shapes_dtypes_units(model, mode):
    sparse = _sparse() if mode == "completion" else None
    out = model.infer(_rgb(), sparse, _intr(), num_tokens=TOKENS)
    assert out["depth_m"].shape == (H, W) and out["depth_m"].dtype == np.float32
    assert out["valid"].shape == (H, W) and out["valid"].dtype == np.bool_
    assert out["mask_prob"].shape == (H, W) and out["mask_prob"].dtype == np.float32
    assert out["points_m"].shape == (H, W, 3) and out["points_m"].dtype == np.float32
    assert np.all(out["depth_m"] > 0) and np.all(np.isfinite(out["depth_m"]))  # exp output
    assert np.all((out["mask_prob"] >= 0) & (out["mask_prob"] <= 1))
    np.testing.assert_array_equal(out["valid"], out["mask_prob"] > 0.5)
    z = out["points_m"][..., 2]
    np.testing.assert_array_equal(z[out["valid"]], out["depth_m"][out["valid"]])
    assert np.isnan(out["points_m"][~out["valid"]]).all()
    v, u = 10, 70
    if out["valid"][v, u]:
        np.testing.assert_allclose(out["points_m"][v, u, 0], (u - (W / 2 - 0.5)) * z[v, u] / 60.0, rtol=1e-5)
        np.testing.assert_allclose(out["points_m"][v, u, 1], (v - (H / 2 - 0.5)) * z[v, u] / 62.0, rtol=1e-5)


def test_sparse_depth_changes_the_prediction(model):
    mono = model.infer(_rgb(), None, num_tokens=TOKENS)["depth_m"]
    zeros = model.infer(_rgb(), np.zeros((H, W), np.float32), num_tokens=TOKENS)["depth_m"]
    comp = model.infer(_rgb(), _sparse(), num_tokens=TOKENS)["depth_m"]
    np.testing.assert_array_equal(mono, zeros)  # monocular == all-zero depth input
    assert np.abs(mono - comp).max() > 1e-6


def test_mask_semantics_follow_the_mask_head(tmp_path):
    model = load_model(make_tiny_checkpoint(tmp_path / "m.pt"), device="cpu")
    head = model.network.mask_head.output_blocks[-1]
    with torch.no_grad():
        head.bias.fill_(-20.0)
        off = model.infer(_rgb(), None, _intr(), num_tokens=TOKENS)
        head.bias.fill_(20.0)
        on = model.infer(_rgb(), None, _intr(), num_tokens=TOKENS)
    assert not off["valid"].any() and np.isnan(off["points_m"]).all()
    assert np.all(off["depth_m"] > 0)  # raw depth is still returned where invalid
    assert on["valid"].all() and np.isfinite(on["points_m"]).all()


def test_no_mask_head_means_valid_where_positive(tmp_path):
    from lingbot_depth_ros.model import tiny_model_config
    path = make_tiny_checkpoint(tmp_path / "nomask.pt", model_config=tiny_model_config(mask_head=False))
    model = load_model(path, device="cpu")
    out = model.infer(_rgb(), None, num_tokens=TOKENS)
    assert "mask_prob" not in out and out["valid"].all()


def test_dropped_patch_path_equals_keep_all_when_every_patch_is_valid(model):
    dense = np.random.default_rng(1).uniform(0.5, 9.0, (H, W)).astype(np.float32)
    inputs, _ = model.prepare(_rgb(), dense, num_tokens=TOKENS)
    assert inputs.depth_keep.all()
    a = model.infer(_rgb(), dense, num_tokens=TOKENS, enable_depth_mask=True)["depth_m"]
    b = model.infer(_rgb(), dense, num_tokens=TOKENS, enable_depth_mask=False)["depth_m"]
    np.testing.assert_array_equal(a, b)


def test_dropping_empty_patches_differs_from_keep_all(model):
    sparse = np.zeros((H, W), np.float32)
    sparse[:14, :14] = 3.0  # only the first patch has depth
    inputs, _ = model.prepare(_rgb(), sparse, num_tokens=TOKENS)
    assert inputs.depth_keep.sum() == 1
    a = model.infer(_rgb(), sparse, num_tokens=TOKENS)["depth_m"]
    b = model.infer(_rgb(), sparse, num_tokens=TOKENS, enable_depth_mask=False)["depth_m"]
    assert np.abs(a - b).max() > 1e-6


def test_sequence_lengths_per_mode(model):
    seen = []
    hook = model.network.encoder.backbone.blocks[0].register_forward_pre_hook(
        lambda _m, args: seen.append((args[0].shape[1], None if args[1] is None else args[1].sum(1).tolist())))
    try:
        n = 4 * 6
        model.infer(_rgb(), None, num_tokens=TOKENS)
        model.infer(_rgb(), None, num_tokens=TOKENS, enable_depth_mask=False)
        sparse = np.zeros((H, W), np.float32)
        sparse[20, 20] = 2.0
        model.infer(_rgb(), sparse, num_tokens=TOKENS)
    finally:
        hook.remove()
    assert seen == [(1 + n, None), (1 + 2 * n, None), (1 + n + 1, None)]


def test_batched_padding_equals_per_sample_runs(model):
    rgb = np.stack([_rgb(1), _rgb(2), _rgb(3)])
    sparse = np.stack([_sparse(1, 0.002), np.zeros((H, W), np.float32), _sparse(3, 0.3)])
    inputs, _ = model.prepare(rgb, sparse, num_tokens=TOKENS)
    counts = inputs.depth_keep.sum(1).tolist()
    assert counts[1] == 0 and counts[2] == 24 and 0 < counts[0] < 24  # three different lengths
    batched = model.infer(rgb, sparse, num_tokens=TOKENS)
    for i in range(3):
        single = model.infer(rgb[i], sparse[i], num_tokens=TOKENS)
        np.testing.assert_allclose(batched["depth_m"][i], single["depth_m"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(batched["valid"][i], single["valid"])


def test_gather_kept_tokens_keeps_raster_order():
    tokens = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    keep = torch.tensor([[False, True, False, True, True], [True, False, False, False, False]])
    kept, valid = gather_kept_tokens(tokens, keep)
    assert kept[..., 0].tolist() == [[1, 3, 4], [5, 0, 0]]
    assert valid.tolist() == [[True, True, True], [True, False, False]]
    same, none = gather_kept_tokens(tokens, torch.ones(2, 5, dtype=torch.bool))
    assert none is None and torch.equal(same, tokens)
    empty, none = gather_kept_tokens(tokens, torch.zeros(2, 5, dtype=torch.bool))
    assert empty.shape == (2, 0, 1) and none is None


def test_deterministic_across_runs_and_loads(model, tmp_path):
    a = model.infer(_rgb(), _sparse(), num_tokens=TOKENS)["depth_m"]
    b = model.infer(_rgb(), _sparse(), num_tokens=TOKENS)["depth_m"]
    np.testing.assert_array_equal(a, b)
    other = load_model(make_tiny_checkpoint(tmp_path / "again.pt", seed=3), device="cpu")
    np.testing.assert_array_equal(other.infer(_rgb(), _sparse(), num_tokens=TOKENS)["depth_m"], a)


def test_output_is_at_input_resolution_for_any_level(model):
    rgb = _rgb(shape=(37, 101))
    for level in (0, 9):
        out = model.infer(rgb, None, resolution_level=level)
        assert out["depth_m"].shape == (37, 101)


def test_torch_inputs_and_outputs(model):
    image = torch.from_numpy(_rgb()).permute(2, 0, 1).float() / 255
    out = model.infer(image, torch.from_numpy(_sparse()), num_tokens=TOKENS, output="torch")
    assert isinstance(out["depth_m"], torch.Tensor) and out["depth_m"].dtype == torch.float32
    ref = model.infer(_rgb(), _sparse(), num_tokens=TOKENS)["depth_m"]
    np.testing.assert_allclose(out["depth_m"].numpy(), ref, rtol=1e-6)


def test_bad_inputs_raise_input_error(model):
    with pytest.raises(InputError, match="uint8"):
        model.infer(np.zeros((H, W, 3), np.float32))
    with pytest.raises(InputError, match="does not match"):
        model.infer(_rgb(), np.zeros((H, W + 1), np.float32))
    with pytest.raises(InputError, match="intrinsics are for"):
        model.infer(_rgb(), None, _intr(w=W + 2))
    with pytest.raises(InputError, match="float metres"):
        model.infer(_rgb(), np.zeros((H, W), np.uint16))


def test_bf16_autocast_dtype_flow_matches_upstream(model):
    """CPU autocast stands in for CUDA's: bf16 matmuls/convs, fp32 residual stream and outputs."""
    inputs, _ = model.prepare(np.stack([_rgb(1), _rgb(2)]), np.stack([_sparse(1, 0.01), _sparse(2, 0.3)]),
                              num_tokens=TOKENS)
    seen = {}
    watch = {"encoder.backbone.patch_embed", "encoder.backbone.blocks.0", "encoder.backbone.blocks.0.attn",
             "encoder.backbone.blocks.0.norm1", "neck.input_blocks.0", "depth_head.output_blocks.4"}

    def hook(name):
        return lambda _m, _args, out: seen.__setitem__(name, out.dtype)

    handles = [m.register_forward_hook(hook(n)) for n, m in model.network.named_modules() if n in watch]
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.network(inputs.image, inputs.depth, inputs.depth_keep, inputs.out_hw)
    finally:
        for handle in handles:
            handle.remove()
    bf16, fp32 = torch.bfloat16, torch.float32
    assert seen == {"encoder.backbone.patch_embed": bf16, "encoder.backbone.blocks.0": fp32,
                    "encoder.backbone.blocks.0.attn": bf16, "encoder.backbone.blocks.0.norm1": fp32,
                    "neck.input_blocks.0": bf16, "depth_head.output_blocks.4": bf16}
    assert low["depth"].dtype == fp32 and low["mask_prob"].dtype == fp32
    full = model.run_network(inputs)
    torch.testing.assert_close(low["depth"], full["depth"], rtol=5e-2, atol=0.0)
