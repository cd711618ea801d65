"""Input preprocessing of LingBot-Depth: token grid, resize, normalise, depth remap, token keep mask.

All tensor functions run on whatever device their inputs are on (the model's device in practice).

Rules reproduced from the official model:

* token budget at ``resolution_level`` L (0..9): ``int(min + L/9 * (max - min))``;
* grid: ``rows = round(sqrt(T / aspect))``, ``cols = round(sqrt(T * aspect))`` (Python round, halves
  to even), internal input size ``(rows * patch, cols * patch)``;
* image: bilinear resize with antialias, then ``(x - mean) / std``;
* depth: legacy ``nearest`` resize (source index ``floor(dst * in / out)``), NaN/inf -> 0, valid iff
  > 0.01 m, ``'log'`` remap to natural-log metres with invalid pixels exactly 0 (so a depth of
  exactly 1.0 m also reads as 0 — an upstream quirk kept for parity);
* a depth token is kept iff its patch holds at least one pixel whose remapped value is non-zero
  and within [-9.5, 200].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lingbot_depth_ros.errors import ConfigError, InputError

MIN_VALID_DEPTH_M = 0.01
MAX_RESOLUTION_LEVEL = 9


def num_tokens_for_level(resolution_level: int, num_tokens_range: Sequence[int]) -> int:
    """Token budget for ``resolution_level`` in 0..9 (9 = most tokens, the default)."""
    if isinstance(resolution_level, bool) or not isinstance(resolution_level, int) \
            or not 0 <= resolution_level <= MAX_RESOLUTION_LEVEL:
        raise ConfigError(f"resolution_level must be an integer in 0..{MAX_RESOLUTION_LEVEL}, got {resolution_level!r}")
    lo, hi = num_tokens_range
    return int(lo + (resolution_level / MAX_RESOLUTION_LEVEL) * (hi - lo))


@dataclass(frozen=True)
class TokenGrid:
    """rows x cols patch tokens of ``patch`` px: the network input is (rows*patch, cols*patch)."""

    rows: int
    cols: int
    patch: int

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.rows * self.patch, self.cols * self.patch

    @property
    def num_patches(self) -> int:
        return self.rows * self.cols


def token_grid(height: int, width: int, num_tokens: int, patch: int) -> TokenGrid:
    """Grid for an image of ``height`` x ``width`` px with a budget of ``num_tokens`` tokens."""
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens <= 0:
        raise ConfigError(f"num_tokens must be a positive integer, got {num_tokens!r}")
    if height <= 0 or width <= 0:
        raise InputError(f"image size must be positive, got {width}x{height}")
    aspect = width / height
    rows = round(math.sqrt(num_tokens / aspect))
    cols = round(math.sqrt(num_tokens * aspect))
    if rows < 1 or cols < 1:
        raise InputError(f"a {width}x{height} image with {num_tokens} tokens gives an empty {rows}x{cols} "
                         "token grid; use more tokens or a less extreme aspect ratio")
    return TokenGrid(rows=rows, cols=cols, patch=patch)


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, H, W) float -> (B, 3, h, w): bilinear, align_corners=False, antialias=True."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def normalize_image(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std with (1, 3, 1, 1) statistics."""
    return (image - mean) / std


def resize_depth_nearest(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, h, w) with legacy nearest (no interpolation across valid/invalid)."""
    if tuple(depth.shape[-2:]) == tuple(size):
        return depth
    return F.interpolate(depth, size=size, mode="nearest")


def remap_depth(depth_m: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and remap metric depth for the depth patch embed.

    Args:
        depth_m: depth [m] of any shape; NaN, +-inf, <= 0.01 m mean "no measurement".
        mode: 'log' (natural log of metres) or 'linear' (metres).

    Returns:
        (remapped, valid): remapped float32 with invalid pixels exactly 0, and the bool validity.
    """
    depth = torch.nan_to_num(depth_m.float(), nan=0.0, posinf=0.0, neginf=0.0)
    valid = depth > MIN_VALID_DEPTH_M
    if mode == "log":
        remapped = torch.where(valid, torch.log(torch.where(valid, depth, torch.ones_like(depth))),
                               torch.zeros_like(depth))
    elif mode == "linear":
        remapped = torch.where(valid, depth, torch.zeros_like(depth))
    else:
        raise ConfigError(f"unknown depth remap {mode!r}")
    return remapped, valid


def depth_token_keep(remapped: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 1, rows*p, cols*p) remapped depth -> (B, rows*cols) bool: patch has a usable pixel."""
    b, _, h, w = remapped.shape
    values = torch.where(remapped == 0, torch.full_like(remapped, -10.0), remapped)
    usable = (values >= -9.5) & (values <= 200.0)
    usable = usable.reshape(b, h // patch, patch, w // patch, patch)
    return usable.any(dim=4).any(dim=2).reshape(b, -1)


@dataclass
class ModelInputs:
    """Network-ready tensors (all on the model device)."""

    image: torch.Tensor
    """(B, 3, h, w) normalised RGB."""
    depth: torch.Tensor
    """(B, 1, h, w) remapped depth, invalid = 0."""
    depth_keep: torch.Tensor | None
    """(B, rows*cols) bool depth-token keep mask; None = keep every depth token."""
    grid: TokenGrid
    out_hw: tuple[int, int]


class Preprocessor:
    """Turns (B,3,H,W) [0,1] images and (B,H,W) metric depth into :class:`ModelInputs`.

    Built by the factory from the model config; ``mean``/``std`` are the (3,) normalisation
    statistics (the values stored in the checkpoint's ``encoder.image_mean``/``image_std``).
    """

    def __init__(self, patch_size: int, num_tokens_range: Sequence[int], remap_depth_in: str,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.patch_size = int(patch_size)
        self.num_tokens_range = (int(num_tokens_range[0]), int(num_tokens_range[1]))
        self.remap_depth_in = remap_depth_in
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._stats: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def grid(self, height: int, width: int, *, resolution_level: int = 9,
             num_tokens: int | None = None) -> TokenGrid:
        """Token grid for an image; ``num_tokens`` overrides ``resolution_level``."""
        if num_tokens is None:
            num_tokens = num_tokens_for_level(resolution_level, self.num_tokens_range)
        return token_grid(height, width, num_tokens, self.patch_size)

    def _statistics(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (like.device, like.dtype)
        if key not in self._stats:
            self._stats[key] = (torch.tensor(self.mean, dtype=like.dtype, device=like.device).reshape(1, 3, 1, 1),
                                torch.tensor(self.std, dtype=like.dtype, device=like.device).reshape(1, 3, 1, 1))
        return self._stats[key]

    def __call__(self, image: torch.Tensor, depth_m: torch.Tensor, grid: TokenGrid, *,
                 enable_depth_mask: bool = True) -> ModelInputs:
        """image: (B, 3, H, W) float RGB in [0, 1]; depth_m: (B, H, W) float [m] (0/NaN = none)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise InputError(f"image tensor must be (B, 3, H, W), got {tuple(image.shape)}")
        b, _, h, w = image.shape
        if tuple(depth_m.shape) != (b, h, w):
            raise InputError(f"depth tensor must be (B, H, W) = {(b, h, w)}, got {tuple(depth_m.shape)}")
        size = grid.input_hw
        mean, std = self._statistics(image)
        image_in = normalize_image(resize_image(image, size), mean, std)
        depth = resize_depth_nearest(depth_m[:, None].float(), size)
        remapped, _ = remap_depth(depth, self.remap_depth_in)
        keep = depth_token_keep(remapped, self.patch_size) if enable_depth_mask else None
        return ModelInputs(image=image_in, depth=remapped, depth_keep=keep, grid=grid, out_hw=(h, w))
