"""RGB-D encoder: the ViT plus 1x1 output projections of the selected layers, summed.

Keys: ``encoder.image_mean`` / ``encoder.image_std`` (persistent (1,3,1,1) buffers, ImageNet
statistics), ``encoder.backbone.*`` (see vit.py), ``encoder.output_projections.{j}``.
"""

from __future__ import annotations

import torch
from torch import nn

from lingbot_depth_ros.model.config import EncoderConfig
from lingbot_depth_ros.model.network.vit import RGBDViT

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class RGBDEncoder(nn.Module):
    """(normalised image, remapped depth) -> (features (B, dim_out, rows, cols), cls (B, D)).

    The normalisation statistics live here as buffers (they are part of the checkpoint); the
    preprocessing step reads them from the loaded model and normalises on the model device.
    """

    image_mean: torch.Tensor  # (1, 3, 1, 1) buffer
    image_std: torch.Tensor  # (1, 3, 1, 1) buffer

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("image_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1))
        self.register_buffer("image_std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1))
        self.backbone = RGBDViT(cfg.backbone)
        width = cfg.backbone.embed_dim
        self.output_projections = nn.ModuleList(nn.Conv2d(width, cfg.dim_out, kernel_size=1)
                                                for _ in cfg.layer_indices)

    def forward(self, image: torch.Tensor, depth: torch.Tensor | None, depth_keep: torch.Tensor | None, *,
                key_padding: bool = False, pos_embed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """image: (B,3,h,w) normalised; depth: (B,1,h,w) remapped or None (no depth tokens);
        depth_keep: (B, rows*cols) bool|None; key_padding/pos_embed: see ``RGBDViT.forward``.

        Returns features (B, dim_out, rows, cols) (sum of the projected layers, before the class
        token is added) and the class token (B, D) of the last selected layer.
        """
        b, _, h, w = image.shape
        p = self.cfg.backbone.patch_size
        rows, cols = h // p, w // p
        layers = self.backbone(image, depth, depth_keep, self.cfg.layer_indices, key_padding=key_padding,
                               pos_embed=pos_embed)
        projected = []
        for proj, out in zip(self.output_projections, layers):
            grid = out[:, 1:].transpose(1, 2).reshape(b, -1, rows, cols)
            projected.append(proj(grid))
        features = torch.stack(projected, dim=1).sum(dim=1)
        return features, layers[-1][:, 0]
