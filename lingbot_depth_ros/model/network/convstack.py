"""Multi-level convolutional decoder (the "ConvStack" of the neck and the heads).

Key layout (official checkpoints): ``input_blocks.{l}`` (1x1 conv, absent when dim_in[l] is None),
``resamplers.{t}.{0,1[,2]}`` (2x upsampling), ``res_blocks.{l}.{b}.layers.{0..5}`` (pre-activation
residual block; convs at 2 and 5), ``output_blocks.{l}`` (1x1 conv, absent when dim_out[l] is None).
Every 3x3 conv pads with ``replicate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lingbot_depth_ros.model.config import ConvStackConfig


def make_norm(kind: str, channels: int) -> nn.Module:
    """'layer_norm' -> GroupNorm(1, C); 'group_norm' -> GroupNorm(C/32, C); 'instance_norm'; 'none'."""
    if kind == "layer_norm":
        return nn.GroupNorm(1, channels)
    if kind == "group_norm":
        return nn.GroupNorm(channels // 32, channels)
    if kind == "instance_norm":
        return nn.InstanceNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def make_activation(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if kind == "silu":
        return nn.SiLU()
    if kind == "elu":
        return nn.ELU()
    raise ValueError(f"unknown activation {kind!r}")


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, padding_mode="replicate")


class ResidualBlock(nn.Module):
    """y = x + conv(act(norm(conv(act(norm(x)))))) with a hidden width of ``factor`` x C."""

    def __init__(self, channels: int, factor: int, in_norm: str, hidden_norm: str, activation: str) -> None:
        super().__init__()
        hidden = channels * factor
        self.layers = nn.Sequential(
            make_norm(in_norm, channels), make_activation(activation), conv3x3(channels, hidden),
            make_norm(hidden_norm, hidden), make_activation(activation), conv3x3(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def make_upsampler(kind: str, c_in: int, c_out: int) -> nn.Sequential:
    """A 2x upsampler from c_in to c_out channels, indexed like the official Sequential."""
    if kind == "conv_transpose":
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2), conv3x3(c_out, c_out))
    if kind in ("bilinear", "nearest"):
        up = (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False) if kind == "bilinear"
              else nn.Upsample(scale_factor=2, mode="nearest"))
        return nn.Sequential(up, conv3x3(c_in, c_out))
    if kind == "pixel_shuffle":
        return nn.Sequential(conv3x3(c_in, 4 * c_out), nn.PixelShuffle(2), conv3x3(c_out, c_out))
    raise ValueError(f"unknown resampler {kind!r}")


class ConvStack(nn.Module):
    """Level-by-level decoder: level l works at 2^l x the size of level 0."""

    def __init__(self, cfg: ConvStackConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = cfg.dim_res_blocks
        self.input_blocks = nn.ModuleList(
            nn.Identity() if c_in is None else nn.Conv2d(c_in, c, kernel_size=1)
            for c_in, c in zip(cfg.dim_in, dims))
        self.resamplers = nn.ModuleList(make_upsampler(kind, dims[t], dims[t + 1])
                                        for t, kind in enumerate(cfg.resamplers))
        self.res_blocks = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(c, cfg.hidden_factor, cfg.in_norm, cfg.hidden_norm, cfg.activation)
                            for _ in range(n)))
            for c, n in zip(dims, cfg.num_res_blocks))
        self.output_blocks = nn.ModuleList(
            nn.Identity() if c_out is None else nn.Conv2d(c, c_out, kernel_size=1)
            for c, c_out in zip(dims, cfg.dim_out))

    def forward(self, inputs: Sequence[torch.Tensor | None], last_only: bool = False) -> list[torch.Tensor]:
        """inputs: one tensor (or None) per level; level 0 must be given.

        Returns the per-level outputs, or only ``[last level]`` when ``last_only``.
        """
        outputs = []
        x = self.input_blocks[0](inputs[0])
        for level in range(self.cfg.levels):
            if level > 0:
                x = self.resamplers[level - 1](x)
                extra = inputs[level]
                if extra is not None and self.cfg.dim_in[level] is not None:
                    x = x + self.input_blocks[level](extra)
            x = self.res_blocks[level](x)
            if not last_only or level == self.cfg.levels - 1:
                outputs.append(self.output_blocks[level](x))
        return outputs
