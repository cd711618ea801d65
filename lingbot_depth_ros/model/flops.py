"""Analytic FLOP count of one forward pass (FLOP = 2 x multiply-accumulate).

Counts the matmuls and convolutions (the spec's §10 method); norms, activations, softmax, resizes
and bias adds are left out (well under 1 % for the reference model). Used by the benchmark to
report the ratio of measured network time to the FLOP floor.
"""

from __future__ import annotations

from lingbot_depth_ros.model.config import ConvStackConfig, ModelConfig


def convstack_flops(cfg: ConvStackConfig, rows: int, cols: int, *, last_output_only: bool = True) -> float:
    """FLOPs of a ConvStack whose level 0 is rows x cols pixels (level l: 2^l times larger)."""
    dims = cfg.dim_res_blocks
    pixels = [rows * cols * 4 ** level for level in range(cfg.levels)]
    total = 0.0
    for level, (c_in, c) in enumerate(zip(cfg.dim_in, dims)):
        if c_in is not None:
            total += 2 * pixels[level] * c_in * c
        hidden = c * cfg.hidden_factor
        total += cfg.num_res_blocks[level] * 2 * (2 * pixels[level] * 9 * c * hidden)
        c_out = cfg.dim_out[level]
        if c_out is not None and (not last_output_only or level == cfg.levels - 1):
            total += 2 * pixels[level] * c * c_out
    for t, kind in enumerate(cfg.resamplers):
        c0, c1, p0, p1 = dims[t], dims[t + 1], pixels[t], pixels[t + 1]
        if kind == "conv_transpose":
            total += 2 * p0 * c0 * c1 * 4 + 2 * p1 * 9 * c1 * c1
        elif kind in ("bilinear", "nearest"):
            total += 2 * p1 * 9 * c0 * c1
        elif kind == "pixel_shuffle":
            total += 2 * p0 * 9 * c0 * 4 * c1 + 2 * p1 * 9 * c1 * c1
    return total


def forward_flops(cfg: ModelConfig, rows: int, cols: int, depth_tokens: int | None = None) -> dict[str, float]:
    """FLOPs per sample for a rows x cols token grid with ``depth_tokens`` kept depth tokens.

    ``depth_tokens`` defaults to rows*cols (dense depth or ``enable_depth_mask=False``); 0 is
    the monocular case. Returns the parts and their ``'total'``.
    """
    bb = cfg.encoder.backbone
    d, p = bb.embed_dim, bb.patch_size
    n = rows * cols
    k = n if depth_tokens is None else depth_tokens
    seq = 1 + n + k
    blocks = max(cfg.encoder.layer_indices) + 1  # blocks after the last used one are skipped
    parts = {
        "vit_linear": blocks * 2 * seq * (4 * d * d + 2 * d * bb.mlp_hidden),
        "vit_attention": blocks * 4 * seq * seq * d,
        "embeddings": 2 * n * (bb.in_chans * p * p) * d + 2 * n * (p * p) * d,
        "projections": len(cfg.encoder.layer_indices) * 2 * n * d * cfg.encoder.dim_out,
        "neck": convstack_flops(cfg.neck, rows, cols, last_output_only=False),
        "depth_head": convstack_flops(cfg.depth_head, rows, cols),
        "mask_head": convstack_flops(cfg.mask_head, rows, cols) if cfg.mask_head is not None else 0.0,
    }
    parts["total"] = float(sum(parts.values()))
    return parts
