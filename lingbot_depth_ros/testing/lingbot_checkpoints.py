"""Tiny official-format checkpoints for tests (node, CLI, server, model).

:func:`make_tiny_checkpoint` writes a real ``model.pt`` in the official layout
(``{'model_config': dict, 'model': state_dict}``) from a small config with random weights, so every
test goes through the same loader as the real ViT-L checkpoints.

The random weights are nudged so the output is usable in end-to-end tests: the depth head's final
bias is log(2) (predictions around 2 m) and the mask head's final bias is +4 (nearly all pixels
valid). The values carry no meaning beyond that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lingbot_depth_ros.model.config import tiny_model_config
from lingbot_depth_ros.model.factory import build_model
from lingbot_depth_ros.model.network.convstack import ConvStack

TINY_DEPTH_BIAS_M = 2.0
TINY_MASK_BIAS = 4.0


def _output_conv(head: ConvStack) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of the 1x1 output convolution of a head's last level (one channel out)."""
    last = head.output_blocks[-1]
    assert isinstance(last, nn.Conv2d) and last.bias is not None, f"a head ends in a 1x1 conv, not {last}"
    return last.weight, last.bias


def tiny_state(model_config: Mapping[str, Any] | None = None, *, seed: int = 0) -> tuple[dict, dict[str, torch.Tensor]]:
    """(model_config, state_dict) of a seeded random tiny model (see module docstring)."""
    config = dict(model_config) if model_config is not None else tiny_model_config()
    torch.manual_seed(seed)
    network, _ = build_model(config, device="cpu")
    with torch.no_grad():
        weight, bias = _output_conv(network.depth_head)
        weight.mul_(0.1)
        bias.fill_(math.log(TINY_DEPTH_BIAS_M) if network.cfg.remap_depth_out == "exp" else TINY_DEPTH_BIAS_M)
        if network.mask_head is not None:
            _output_conv(network.mask_head)[1].fill_(TINY_MASK_BIAS)
    state = {key: value.detach().clone() for key, value in network.state_dict().items()}
    return config, state


def make_tiny_checkpoint(path: str | Path, *, seed: int = 0, alias_key: bool = False,
                         extra_heads: bool = False, model_config: Mapping[str, Any] | None = None) -> Path:
    """Write a tiny official-format ``model.pt`` and return its path.

    Args:
        path: file to write (parent folders are created).
        seed: torch seed for the random weights (same seed -> identical file content).
        alias_key: store the depth patch embed as ``encoder.backbone.depth_mask_patch_embed.*``,
            the spelling found in some official v0.1 files.
        extra_heads: also store unused ``normal_head.*`` / ``scale_head.*`` tensors, as official
            files do; the loader must ignore them.
        model_config: config to use instead of :func:`tiny_model_config` ().
    """
    config, state = tiny_state(model_config, seed=seed)
    if alias_key:
        old, new = "encoder.backbone.depth_patch_embed.", "encoder.backbone.depth_mask_patch_embed."
        state = {(new + k[len(old):] if k.startswith(old) else k): v for k, v in state.items()}
    if extra_heads:
        generator = torch.Generator().manual_seed(seed + 1)
        for key in [k for k in state if k.startswith("depth_head.")]:
            state["normal_head." + key[len("depth_head."):]] = torch.randn(state[key].shape, generator=generator)
        state["scale_head.0.weight"] = torch.randn(4, 8, generator=generator)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_config": config, "model": state}, path)
    return path
