"""The whole forward re-derived from the spec's step list with functional ops and state_dict keys.

This re-computes the tiny model's output from ``state_dict()`` entries addressed by their official
key names (so each key must play the role the spec gives it), per sample, with explicit softmax
attention and explicit replicate padding, and compares with the module output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lingbot_depth_ros.model import load_model, tiny_model_config
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint


def _conv3(x: torch.Tensor, sd: dict, key: str) -> torch.Tensor:
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), sd[key + ".weight"], sd[key + ".bias"])


def _conv1(x: torch.Tensor, sd: dict, key: str) -> torch.Tensor:
    return F.conv2d(x, sd[key + ".weight"], sd[key + ".bias"])


def _stack(sd: dict, prefix: str, cfg: dict, inputs: list) -> list:
    """ConvStack per spec §4.8 (norms 'none', relu), returning per-level outputs."""
    levels = len(cfg["dim_res_blocks"])
    outs = []
    x = _conv1(inputs[0], sd, f"{prefix}.input_blocks.0")
    for lvl in range(levels):
        if lvl:
            kind = cfg["resamplers"][lvl - 1]
            if kind == "conv_transpose":
                x = F.conv_transpose2d(x, sd[f"{prefix}.resamplers.{lvl - 1}.0.weight"],
                                       sd[f"{prefix}.resamplers.{lvl - 1}.0.bias"], stride=2)
            else:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = _conv3(x, sd, f"{prefix}.resamplers.{lvl - 1}.1")
            if cfg["dim_in"][lvl] is not None:
                x = x + _conv1(inputs[lvl], sd, f"{prefix}.input_blocks.{lvl}")
        for b in range(cfg["num_res_blocks"][lvl]):
            key = f"{prefix}.res_blocks.{lvl}.{b}.layers"
            x = x + _conv3(F.relu(_conv3(F.relu(x), sd, key + ".2")), sd, key + ".5")
        out_dims = cfg["dim_out"] if isinstance(cfg["dim_out"], list) else [cfg["dim_out"]] * levels
        outs.append(x if out_dims[lvl] is None else _conv1(x, sd, f"{prefix}.output_blocks.{lvl}"))
    return outs


def _reference(sd: dict, cfg: dict, image: torch.Tensor, depth: torch.Tensor, keep: torch.Tensor | None,
               out_hw: tuple[int, int]) -> torch.Tensor:
    """Spec §4.3-§4.9 for one sample: image (1,3,h,w) normalised, depth (1,1,h,w) remapped."""
    bb = "encoder.backbone."
    enc = cfg["encoder"]
    width, heads, depth_n = (enc["backbone"][k] for k in ("embed_dim", "num_heads", "depth"))
    p = enc["backbone"]["patch_size"]
    rows, cols = image.shape[2] // p, image.shape[3] // p
    rgb = F.conv2d(image, sd[bb + "patch_embed.proj.weight"], sd[bb + "patch_embed.proj.bias"], stride=p)
    dep = F.conv2d(depth, sd[bb + "depth_patch_embed.proj.weight"], sd[bb + "depth_patch_embed.proj.bias"], stride=p)
    rgb, dep = rgb.flatten(2)[0].T, dep.flatten(2)[0].T                     # (n, D), raster order
    m = int(math.isqrt(sd[bb + "pos_embed"].shape[1] - 1))
    grid = sd[bb + "pos_embed"][0, 1:].reshape(m, m, width).permute(2, 0, 1)[None]
    pos = F.interpolate(grid, scale_factor=((rows + 0.1) / m, (cols + 0.1) / m), mode="bicubic",
                        align_corners=False)[0].permute(1, 2, 0).reshape(rows * cols, width)
    rgb, dep = rgb + (pos + 1), dep + (pos + 2)
    if keep is not None:
        dep = dep[keep]
    cls = sd[bb + "cls_token"][0] + sd[bb + "pos_embed"][0, :1]
    x = torch.cat([cls, rgb, dep])
    recorded = []
    hd = width // heads
    for i in range(depth_n):
        k = f"{bb}blocks.{i}."
        h = F.layer_norm(x, (width,), sd[k + "norm1.weight"], sd[k + "norm1.bias"], eps=1e-6)
        qkv = h @ sd[k + "attn.qkv.weight"].T + sd[k + "attn.qkv.bias"]
        heads_out = []
        for j in range(heads):
            q = qkv[:, j * hd:(j + 1) * hd]
            kk = qkv[:, width + j * hd: width + (j + 1) * hd]
            v = qkv[:, 2 * width + j * hd: 2 * width + (j + 1) * hd]
            heads_out.append(torch.softmax(q @ kk.T / math.sqrt(hd), dim=-1) @ v)
        attn = torch.cat(heads_out, dim=1) @ sd[k + "attn.proj.weight"].T + sd[k + "attn.proj.bias"]
        x = x + sd[k + "ls1.gamma"] * attn
        h = F.layer_norm(x, (width,), sd[k + "norm2.weight"], sd[k + "norm2.bias"], eps=1e-6)
        mlp = F.gelu(h @ sd[k + "mlp.fc1.weight"].T + sd[k + "mlp.fc1.bias"]) @ sd[k + "mlp.fc2.weight"].T
        x = x + sd[k + "ls2.gamma"] * (mlp + sd[k + "mlp.fc2.bias"])
        if i in enc["intermediate_layers"]:
            recorded.append(F.layer_norm(x, (width,), sd[bb + "norm.weight"], sd[bb + "norm.bias"], eps=1e-6))
    feat = 0
    for j, out in enumerate(recorded):
        tokens = out[1:1 + rows * cols].T.reshape(1, width, rows, cols)
        feat = feat + _conv1(tokens, sd, f"encoder.output_projections.{j}")
    feat = feat + recorded[-1][0][None, :, None, None]
    aspect = out_hw[1] / out_hw[0]
    sx, sy = aspect / math.sqrt(1 + aspect ** 2), 1 / math.sqrt(1 + aspect ** 2)
    uvs = []
    for lvl in range(5):
        h, w = rows * 2 ** lvl, cols * 2 ** lvl
        u = (torch.arange(w) * 2 + 1 - w) / w * sx                     # pixel-centre form of the linspace
        v = (torch.arange(h) * 2 + 1 - h) / h * sy
        uvs.append(torch.stack([u[None].expand(h, w), v[:, None].expand(h, w)])[None].double())
    neck = _stack(sd, "neck", cfg["neck"], [torch.cat([feat, uvs[0]], dim=1)] + uvs[1:])
    logit = _stack(sd, "depth_head", cfg["depth_head"], neck)[-1]
    return torch.exp(F.interpolate(logit, size=out_hw, mode="bilinear", align_corners=False))[0, 0]


@pytest.mark.parametrize("enable_depth_mask", [True, False])
def test_module_forward_equals_spec_derivation(tmp_path, enable_depth_mask):
    cfg = tiny_model_config(width=32, depth=3, heads=4, intermediate_layers=[0, 2])
    model = load_model(make_tiny_checkpoint(tmp_path / "m.pt", seed=11, model_config=cfg), device="cpu")
    with torch.no_grad():  # peaky attention, so that a wrong q/k/v or head layout cannot go unnoticed
        for block in model.network.encoder.backbone.blocks:
            block.attn.qkv.weight.mul_(20.0)
    sd = {k: v.double() for k, v in model.network.state_dict().items()}
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 50, 75, 3), dtype=np.uint8)
    sparse = np.zeros((2, 50, 75), np.float32)
    sparse[0, 3:9, 60:70] = rng.uniform(0.5, 5, (6, 10))
    sparse[1, rng.random((50, 75)) < 0.2] = 2.5
    inputs, _ = model.prepare(rgb, sparse, num_tokens=15, enable_depth_mask=enable_depth_mask)
    with torch.no_grad():
        got = model.run_network(inputs)["depth"]
    for b in range(2):
        keep = None if inputs.depth_keep is None else inputs.depth_keep[b]
        want = _reference(sd, cfg, inputs.image[b:b + 1].double(), inputs.depth[b:b + 1].double(), keep,
                          inputs.out_hw)
        torch.testing.assert_close(got[b].double(), want, rtol=1e-4, atol=1e-5)
