"""RGB-D DINOv2-style Vision Transformer (patch embeds, SDPA attention, LayerScale blocks).

Parameter names follow the official checkpoints (``encoder.backbone.*``): ``cls_token``,
``pos_embed``, ``mask_token``, ``patch_embed.proj``, ``depth_patch_embed.proj``, flat
``blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``.

Sequence layout per sample: ``[cls, RGB tokens (raster order), kept depth tokens (raster order)]``.
Depth tokens whose patch holds no valid pixel may be dropped; in a batch the shorter sequences are
padded at the end and a key-padding mask keeps every sample attending only to its own tokens, which
is the same computation as running each sample alone.

Fixed-shape formulation (``key_padding=True``, for export and graph capture): every depth token stays
in the sequence (static length ``1 + 2*rows*cols``) and the dropped ones are masked as attention keys
in every block. Their own outputs are never read (the decoder reads [cls, RGB tokens] only), so this
is the same model as dropping them. A masked key row can never be all-False (the class token and the
RGB tokens are always valid keys), so SDPA never sees an empty softmax (which would give NaN).
The monocular engine passes ``depth=None``: no depth tokens at all (length ``1 + rows*cols``), the
same computation as dropping every depth token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lingbot_depth_ros.model.config import BackboneConfig

LN_EPS = 1e-6
POS_INTERP_OFFSET = 0.1


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch`` x ``patch`` conv: (B, C, H, W) -> (B, H/p * W/p, D), raster order."""

    def __init__(self, in_chans: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``.

    ``qkv`` output features are ordered [q | k | v], each split into contiguous head slices.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, N, D). key_mask: (B, N) bool, True = real token (others are padding) or None."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel scale ``gamma`` (D,)."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, ls_init: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, ls_init)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, mlp_hidden)
        self.ls2 = LayerScale(dim, ls_init)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), key_mask))
        return x + self.ls2(self.mlp(self.norm2(x)))


def gather_kept_tokens(tokens: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Move the kept tokens of each sample to the front (raster order kept) and cut to the longest.

    tokens: (B, n, D); keep: (B, n) bool. Returns (B, k_max, D) tokens (padding zeroed) and a
    (B, k_max) bool validity mask, or None when no sample needs padding.
    """
    counts = keep.sum(dim=1)
    k_max = int(counts.max()) if keep.numel() else 0
    if k_max == keep.shape[1] and bool((counts == k_max).all()):
        return tokens, None
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices[:, :k_max]
    kept = torch.gather(tokens, 1, order[..., None].expand(-1, -1, tokens.shape[2]))
    valid = torch.arange(k_max, device=keep.device)[None, :] < counts[:, None]
    if bool(valid.all()):
        return kept, None
    return kept * valid[..., None].to(kept.dtype), valid


class RGBDViT(nn.Module):
    """DINOv2 ViT with an extra 1-channel depth patch embed and token concatenation.

    forward returns, for each configured block, the final-normed (B, 1 + rows*cols, D) output
    restricted to [cls, RGB tokens]; depth-token outputs are never used downstream.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_size = cfg.patch_size
        self.patch_embed = PatchEmbed(cfg.in_chans, d, cfg.patch_size)
        self.depth_patch_embed = PatchEmbed(1, d, cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.pos_grid ** 2, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))  # stored in checkpoints, unused at inference
        self.blocks = nn.ModuleList(Block(d, cfg.num_heads, cfg.mlp_hidden, cfg.layer_scale_init)
                                    for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=LN_EPS)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random init for untrained models (tests, benchmarks); checkpoints overwrite all of it."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        nn.init.zeros_(self.mask_token)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def interpolate_pos_embed(self, rows: int, cols: int) -> torch.Tensor:
        """(rows*cols, D) float32 patch positional embeddings for a rows x cols grid.

        Bicubic resize of the square grid with ``scale_factor=((rows+0.1)/M, (cols+0.1)/M)``
        (not ``size=``; the factor sets the sampling positions), unchanged when the grid is M x M.
        """
        m = self.cfg.pos_grid
        grid = self.pos_embed[0, 1:].float()
        if (rows, cols) == (m, m):
            return grid
        grid = grid.reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((rows + POS_INTERP_OFFSET) / m, (cols + POS_INTERP_OFFSET) / m),
                             mode="bicubic", align_corners=False, antialias=False)
        if grid.shape[-2:] != (rows, cols):  # cannot happen for positive grids; guards float surprises
            raise RuntimeError(f"positional grid interpolated to {tuple(grid.shape[-2:])}, wanted {(rows, cols)}")
        return grid[0].permute(1, 2, 0).reshape(rows * cols, -1)

    def forward(self, image: torch.Tensor, depth: torch.Tensor | None, depth_keep: torch.Tensor | None,
                layer_indices: tuple[int, ...], *, key_padding: bool = False,
                pos_embed: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Run the transformer.

        Args:
            image: (B, 3, rows*p, cols*p) normalised RGB.
            depth: (B, 1, rows*p, cols*p) remapped depth (log-metres or metres, invalid = 0); None =
                no depth tokens (monocular engine; same result as dropping all of them).
            depth_keep: (B, rows*cols) bool, True = keep that depth token; None keeps all tokens.
            layer_indices: increasing block indices to return.
            key_padding: keep every depth token in the sequence and mask the dropped ones as
                attention keys (fixed shape ``1 + 2*rows*cols``) instead of removing them.
            pos_embed: precomputed (rows*cols, D) patch positional embeddings (exported engines
                store them as a constant); None interpolates them here.

        Returns:
            One (B, 1 + rows*cols, D) tensor per index: final-normed [cls, RGB tokens].
        """
        b, _, h, w = image.shape
        rows, cols = h // self.patch_size, w // self.patch_size
        rgb = self.patch_embed(image)
        pos = (self.interpolate_pos_embed(rows, cols) if pos_embed is None else pos_embed).to(rgb.dtype)
        rgb = rgb + (pos + 1)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(b, -1, -1)
        key_mask = None
        if depth is None:
            x = torch.cat([cls, rgb], dim=1)
        else:
            dep = self.depth_patch_embed(depth) + (pos + 2)
            if depth_keep is not None and key_padding:
                # cls + RGB keys always valid: no softmax row is ever fully masked (no NaN)
                key_mask = torch.cat([depth_keep.new_ones((b, 1 + rows * cols)), depth_keep.bool()], dim=1)
            elif depth_keep is not None:
                dep, dep_valid = gather_kept_tokens(dep, depth_keep)
                if dep_valid is not None:
                    ones = torch.ones(b, 1 + rgb.shape[1], dtype=torch.bool, device=dep_valid.device)
                    key_mask = torch.cat([ones, dep_valid], dim=1)
            x = torch.cat([cls, rgb, dep], dim=1)
        n_keep = 1 + rows * cols
        wanted = set(layer_indices)
        outputs = []
        for index, block in enumerate(self.blocks[: max(layer_indices) + 1]):
            x = block(x, key_mask)
            if index in wanted:
                outputs.append(self.norm(x[:, :n_keep]))
        return outputs
