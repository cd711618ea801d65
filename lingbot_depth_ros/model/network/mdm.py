"""Top-level LingBot-Depth network: encoder -> class-token add + UV pyramid -> neck -> heads.

Top-level keys: ``encoder.*``, ``neck.*``, ``depth_head.*`` and optionally ``mask_head.*``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lingbot_depth_ros.model.config import ModelConfig
from lingbot_depth_ros.model.network.convstack import ConvStack
from lingbot_depth_ros.model.network.encoder import RGBDEncoder


def uv_map(height: int, width: int, aspect: float, *, dtype: torch.dtype = torch.float32,
           device: torch.device | str | None = None) -> torch.Tensor:
    """(2, height, width) normalised image-plane coordinates: channel 0 = u (columns), 1 = v (rows).

    With ``aspect`` = W/H of the original image, u spans +-aspect/sqrt(1+aspect^2) and v spans
    +-1/sqrt(1+aspect^2), sampled at pixel centres (the extreme values are pulled in by (n-1)/n).
    """
    diag = math.sqrt(1.0 + aspect * aspect)
    span_x, span_y = aspect / diag, 1.0 / diag
    u = torch.linspace(-span_x * (width - 1) / width, span_x * (width - 1) / width, width,
                       dtype=dtype, device=device)
    v = torch.linspace(-span_y * (height - 1) / height, span_y * (height - 1) / height, height,
                       dtype=dtype, device=device)
    return torch.stack([u[None, :].expand(height, width), v[:, None].expand(height, width)], dim=0)


class MDMNetwork(nn.Module):
    """The network; inputs are already preprocessed (see ``lingbot_depth_ros.model.preprocess``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = RGBDEncoder(cfg.encoder)
        self.neck = ConvStack(cfg.neck)
        self.depth_head = ConvStack(cfg.depth_head)
        self.mask_head = ConvStack(cfg.mask_head) if cfg.mask_head is not None else None

    def forward(self, image: torch.Tensor, depth: torch.Tensor | None, depth_keep: torch.Tensor | None,
                out_hw: tuple[int, int], *, key_padding: bool = False,
                pos_embed: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Predict depth at ``out_hw``.

        Args:
            image: (B, 3, rows*p, cols*p) normalised RGB.
            depth: (B, 1, rows*p, cols*p) remapped depth input (invalid = 0); None = no depth
                tokens (monocular; identical to an all-zero depth map with token dropping).
            depth_keep: (B, rows*cols) bool depth-token keep mask, None = keep all tokens.
            out_hw: (H, W) output size, the original image size (also sets the UV aspect).
            key_padding: fixed-shape path: dropped depth tokens stay in the sequence, masked as
                attention keys (same result; static sequence length ``1 + 2*rows*cols``).
            pos_embed: precomputed (rows*cols, D) positional embeddings (exported engines).

        Returns:
            ``{'depth': (B, H, W) float32 [m], 'mask_prob': (B, H, W) float32 in [0, 1]}``
            (``mask_prob`` only with a mask head).
        """
        features, cls = self.encoder(image, depth, depth_keep, key_padding=key_padding, pos_embed=pos_embed)
        features = features + cls[:, :, None, None]
        b, _, rows, cols = features.shape
        aspect = out_hw[1] / out_hw[0]
        levels = self.cfg.neck.levels
        uvs = [uv_map(rows << lvl, cols << lvl, aspect, dtype=features.dtype, device=features.device)
               .expand(b, -1, -1, -1) for lvl in range(levels)]
        neck_in = [torch.cat([features, uvs[0]], dim=1)] + uvs[1:]
        neck_out = self.neck(neck_in)
        result = {}
        depth_logit = self.depth_head(neck_out, last_only=True)[-1]
        depth_logit = F.interpolate(depth_logit, size=out_hw, mode="bilinear", align_corners=False)
        if self.cfg.remap_depth_out == "exp":
            result["depth"] = torch.exp(depth_logit)[:, 0].float()
        else:
            result["depth"] = depth_logit[:, 0].float()
        if self.mask_head is not None:
            mask_logit = self.mask_head(neck_out, last_only=True)[-1]
            mask_logit = F.interpolate(mask_logit, size=out_hw, mode="bilinear", align_corners=False)
            result["mask_prob"] = torch.sigmoid(mask_logit)[:, 0].float()
        return result
