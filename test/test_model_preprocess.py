"""Preprocessing rules: token grid, resizes, depth remap, token keep mask, pos-embed, UV map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.model import build_model, num_tokens_for_level, tiny_model_config, token_grid
from lingbot_depth_ros.model.network.mdm import uv_map
from lingbot_depth_ros.model.preprocess import (
    Preprocessor,
    depth_token_keep,
    remap_depth,
    resize_depth_nearest,
    resize_image,
)


def test_token_budget_per_level():
    rng = (1200, 3600)
    assert num_tokens_for_level(9, rng) == 3600
    assert num_tokens_for_level(3, rng) == 2000
    assert num_tokens_for_level(0, rng) == 1200
    assert num_tokens_for_level(5, rng) == int(1200 + 5 / 9 * 2400) == 2533
    for bad in (-1, 10, 4.5, True):
        with pytest.raises(ConfigError, match="resolution_level"):
            num_tokens_for_level(bad, rng)


def test_grid_640x480_level9_matches_spec():
    grid = token_grid(480, 640, 3600, 14)
    assert (grid.rows, grid.cols) == (52, 69)
    assert grid.num_patches == 3588
    assert grid.input_hw == (728, 966)
    grid0 = token_grid(480, 640, 1200, 14)
    assert (grid0.rows, grid0.cols) == (round(math.sqrt(900)), round(math.sqrt(1600))) == (30, 40)


def test_grid_uses_round_half_to_even():
    grid = token_grid(400, 100, 25, 14)  # aspect 0.25: rows = round(sqrt(100)) = 10, cols = round(2.5) = 2
    assert (grid.rows, grid.cols) == (10, 2)  # half rounds to even, not up
    grid = token_grid(100, 400, 49, 14)  # aspect 4: rows = round(3.5) = 4 (even), cols = round(14) = 14
    assert (grid.rows, grid.cols) == (4, 14)
    with pytest.raises(ConfigError):
        token_grid(480, 640, 0, 14)
    with pytest.raises(InputError, match="empty"):
        token_grid(10, 10_000, 4, 14)


def test_preprocessor_grid_level_and_override():
    pre = Preprocessor(14, (1200, 3600), "log", (0.5,) * 3, (0.5,) * 3)
    assert pre.grid(480, 640).input_hw == (728, 966)
    assert pre.grid(480, 640, resolution_level=0).input_hw == (30 * 14, 40 * 14)
    assert pre.grid(480, 640, resolution_level=0, num_tokens=3600).input_hw == (728, 966)


def test_depth_resize_is_legacy_nearest():
    depth = torch.arange(48 * 64, dtype=torch.float32).reshape(1, 1, 48, 64)
    out = resize_depth_nearest(depth, (73, 97))
    rows = np.minimum(np.floor(np.arange(73, dtype=np.float32) * np.float32(48 / 73)).astype(int), 47)
    cols = np.minimum(np.floor(np.arange(97, dtype=np.float32) * np.float32(64 / 97)).astype(int), 63)
    np.testing.assert_array_equal(out[0, 0].numpy(), depth[0, 0].numpy()[np.ix_(rows, cols)])
    exact = F.interpolate(depth, size=(73, 97), mode="nearest-exact")
    assert not torch.equal(out, exact)  # the legacy rule is deliberately kept


def test_image_resize_is_antialiased_bilinear():
    img = torch.rand(1, 3, 40, 60)
    down = resize_image(img, (20, 30))
    torch.testing.assert_close(down, F.interpolate(img, size=(20, 30), mode="bilinear", align_corners=False,
                                                   antialias=True))
    assert not torch.allclose(down, F.interpolate(img, size=(20, 30), mode="bilinear", align_corners=False))


def test_remap_threshold_log_and_invalid_values():
    depth = torch.tensor([0.0, -1.0, 0.005, 0.01, 0.0101, 1.0, 2.0, float("nan"), float("inf"), -float("inf")])
    remapped, valid = remap_depth(depth, "log")
    assert valid.tolist() == [False, False, False, False, True, True, True, False, False, False]
    expected = [0, 0, 0, 0, math.log(0.0101), 0.0, math.log(2.0), 0, 0, 0]
    np.testing.assert_allclose(remapped.numpy(), expected, rtol=1e-6)
    assert torch.isfinite(remapped).all()
    lin, _ = remap_depth(depth, "linear")
    np.testing.assert_allclose(lin.numpy(), [0, 0, 0, 0, 0.0101, 1.0, 2.0, 0, 0, 0], rtol=1e-6)


def test_depth_token_keep_rules():
    p = 14
    depth = torch.zeros(1, 1, 2 * p, 3 * p)
    depth[0, 0, 3, 5] = 2.5               # patch (0,0): one valid pixel -> kept
    depth[0, 0, 3, p + 5] = 0.005         # patch (0,1): below 1 cm -> dropped
    depth[0, 0, p + 1, 2] = 1.0           # patch (1,0): exactly 1 m -> log 0 -> dropped (upstream quirk)
    depth[0, 0, p + 1, 2 * p + 2] = float("nan")  # patch (1,2): NaN -> dropped
    depth[0, 0, p + 2, p + 2] = 0.02      # patch (1,1): 2 cm -> kept
    remapped, _ = remap_depth(depth, "log")
    keep = depth_token_keep(remapped, p)
    assert keep.tolist() == [[True, False, False, False, True, False]]
    linear, _ = remap_depth(depth, "linear")
    assert depth_token_keep(linear, p).tolist() == [[True, False, False, True, True, False]]


def test_preprocessor_output_on_input_device_and_normalised():
    pre = Preprocessor(14, (64, 256), "log", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    image = torch.full((2, 3, 48, 64), 0.5)
    depth = torch.zeros(2, 48, 64)
    depth[1, :, :] = 3.0
    grid = pre.grid(48, 64, num_tokens=12)
    inputs = pre(image, depth, grid)
    assert inputs.image.shape == (2, 3, *grid.input_hw) and inputs.out_hw == (48, 64)
    torch.testing.assert_close(inputs.image[0, :, 0, 0], (0.5 - torch.tensor([0.485, 0.456, 0.406]))
                               / torch.tensor([0.229, 0.224, 0.225]))
    assert inputs.depth_keep.tolist() == [[False] * grid.num_patches, [True] * grid.num_patches]
    torch.testing.assert_close(inputs.depth[1].unique(), torch.tensor([math.log(3.0)]))
    assert pre(image, depth, grid, enable_depth_mask=False).depth_keep is None
    with pytest.raises(InputError, match="depth tensor"):
        pre(image, depth[:, :10], grid)


def _bicubic_reference(src: np.ndarray, scale: tuple[float, float], out_hw: tuple[int, int]) -> np.ndarray:
    """Independent separable bicubic (A = -0.75) sampling at x_src = (x + 0.5) / scale - 0.5."""
    def weights(n_in: int, n_out: int, s: float) -> np.ndarray:
        a = -0.75
        w = np.zeros((n_out, n_in))
        for o in range(n_out):
            x = (o + 0.5) / s - 0.5
            i0 = math.floor(x)
            t = x - i0
            for k, d in zip(range(-1, 3), (t + 1, t, 1 - t, 2 - t)):
                d = abs(d)
                c = ((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                w[o, min(max(i0 + k, 0), n_in - 1)] += c
        return w
    wy = weights(src.shape[0], out_hw[0], scale[0])
    wx = weights(src.shape[1], out_hw[1], scale[1])
    return np.einsum("oi,ijc,pj->opc", wy, src, wx)


def test_pos_embed_interpolation_uses_offset_scale_factor():
    torch.manual_seed(0)
    network, _ = build_model(tiny_model_config(width=8, depth=1, heads=1), device="cpu")
    vit = network.encoder.backbone
    m = vit.cfg.pos_grid
    grid = vit.pos_embed[0, 1:].detach().reshape(m, m, -1).double().numpy()
    rows, cols = 52, 69
    got = vit.interpolate_pos_embed(rows, cols).detach().reshape(rows, cols, -1).numpy()
    want = _bicubic_reference(grid, ((rows + 0.1) / m, (cols + 0.1) / m), (rows, cols))
    np.testing.assert_allclose(got, want, atol=2e-5)
    by_size = F.interpolate(torch.from_numpy(grid).permute(2, 0, 1)[None].float(), size=(rows, cols),
                            mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    assert np.abs(got - by_size).max() > 1e-3  # size= would be a different (wrong) model input
    same = vit.interpolate_pos_embed(m, m)
    torch.testing.assert_close(same, vit.pos_embed[0, 1:].float())
    assert vit.interpolate_pos_embed(20, 11).shape == (220, 8)


def test_uv_map_formula():
    uv = uv_map(3, 4, 4 / 3)  # span_x = 0.8, span_y = 0.6 for a 4:3 image
    np.testing.assert_allclose(uv[0, 0].numpy(), [-0.6, -0.2, 0.2, 0.6], atol=1e-6)
    np.testing.assert_allclose(uv[1, :, 0].numpy(), [-0.4, 0.0, 0.4], atol=1e-6)
    assert torch.equal(uv[0, 0], uv[0, 2]) and torch.equal(uv[1, :, 0], uv[1, :, 3])
