"""The ``model_config`` schema of LingBot-Depth checkpoints: parsing, validation, reference values.

Official checkpoints carry a nested dict of primitives under ``checkpoint['model_config']``; the
network is always built from it, never from hard-coded sizes. :func:`parse_model_config` checks it
and returns typed, fully resolved dataclasses; every problem raises :class:`ConfigError` naming the
offending key.

Extension (ours, not in official checkpoints): ``encoder['backbone']`` may be a dict instead of a
DINOv2 hub name, e.g. ``{'embed_dim': 64, 'depth': 2, 'num_heads': 2, 'patch_size': 14,
'img_size': 518, 'mlp_ratio': 4.0}``. It exists so that tests can build tiny models; official
checkpoints always use a hub name such as ``'dinov2_vitl14'``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lingbot_depth_ros.errors import ConfigError

LOG = logging.getLogger(__name__)

#: DINOv2 hub backbones (pretrained=False values): width, depth, heads. All use patch 14,
#: img_size 518, MLP ratio 4, LayerScale 1.0, no registers, biases on, LayerNorm eps 1e-6.
HUB_BACKBONES: dict[str, dict[str, int]] = {
    "dinov2_vits14": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "dinov2_vitb14": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    "dinov2_vitl14": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
}
#: Hub names we recognise but cannot build (SwiGLU FFN, different key layout).
UNSUPPORTED_BACKBONES = {"dinov2_vitg14": "ViT-g/14 uses a SwiGLU feed-forward layer, which is not implemented"}

NORMS = ("layer_norm", "group_norm", "instance_norm", "none")
ACTIVATIONS = ("relu", "leaky_relu", "silu", "elu")
UPSAMPLERS = ("conv_transpose", "bilinear", "nearest", "pixel_shuffle")
TOP_LEVEL_KEYS = {"encoder", "neck", "depth_head", "mask_head", "normal_head", "scale_head",
                  "remap_output", "remap_depth_in", "remap_depth_out", "num_tokens_range"}
ENCODER_KEYS = {"backbone", "intermediate_layers", "dim_out", "ignore_layers", "strict", "in_chans",
                "img_depth_fuse_mode", "depth_emb_mode", "depth_mask_ratio", "img_mask_ratio"}
CONVSTACK_KEYS = {"dim_in", "dim_res_blocks", "dim_out", "resamplers", "dim_times_res_block_hidden",
                  "num_res_blocks", "res_block_in_norm", "res_block_hidden_norm", "activation"}


@dataclass(frozen=True)
class BackboneConfig:
    """DINOv2-style RGB-D ViT. ``embed_dim`` = width D; tokens are ``patch_size`` px squares."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int = 14
    img_size: int = 518
    mlp_ratio: float = 4.0
    in_chans: int = 3
    layer_scale_init: float = 1.0
    hub_name: str | None = None

    @property
    def pos_grid(self) -> int:
        """Side of the square positional-embedding grid (518 / 14 = 37)."""
        return self.img_size // self.patch_size

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)


@dataclass(frozen=True)
class EncoderConfig:
    backbone: BackboneConfig
    layer_indices: tuple[int, ...]
    """0-based block indices whose outputs are projected and summed, in execution order."""
    dim_out: int


@dataclass(frozen=True)
class ConvStackConfig:
    """A MoGe-style multi-level conv decoder; every list has one entry per level (or transition)."""

    dim_in: tuple[int | None, ...]
    dim_res_blocks: tuple[int, ...]
    dim_out: tuple[int | None, ...]
    resamplers: tuple[str, ...]
    num_res_blocks: tuple[int, ...]
    hidden_factor: int = 1
    in_norm: str = "layer_norm"
    hidden_norm: str = "group_norm"
    activation: str = "relu"

    @property
    def levels(self) -> int:
        return len(self.dim_res_blocks)

    def out_channels(self, level: int) -> int:
        """Channels of this stack's output at ``level`` (working channels when dim_out is None)."""
        out = self.dim_out[level]
        return self.dim_res_blocks[level] if out is None else out


@dataclass(frozen=True)
class ModelConfig:
    encoder: EncoderConfig
    neck: ConvStackConfig
    depth_head: ConvStackConfig
    mask_head: ConvStackConfig | None
    remap_depth_in: str = "log"
    remap_depth_out: str = "exp"
    num_tokens_range: tuple[int, int] = (1200, 3600)
    raw: Mapping[str, Any] | None = None
    """The validated source dict (deep copy), saved verbatim by exporters and test checkpoints."""


def _per_level(value: Any, count: int, key: str, *, allow_none: bool, kind: type = int) -> tuple:
    """Broadcast a scalar to ``count`` entries or check a list has exactly ``count`` entries."""
    items = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(items) != count:
        raise ConfigError(f"'{key}' has {len(items)} entries, expected {count}")
    for item in items:
        if item is None:
            if not allow_none:
                raise ConfigError(f"'{key}' may not contain None")
        elif kind is int and (isinstance(item, bool) or not isinstance(item, int) or item < 0):
            raise ConfigError(f"'{key}' entries must be non-negative integers, got {item!r}")
        elif kind is str and not isinstance(item, str):
            raise ConfigError(f"'{key}' entries must be strings, got {item!r}")
    return tuple(items)


def _backbone(spec: Any, in_chans: int) -> BackboneConfig:
    if isinstance(spec, str):
        if spec in UNSUPPORTED_BACKBONES:
            raise ConfigError(f"encoder.backbone '{spec}': {UNSUPPORTED_BACKBONES[spec]}")
        if spec not in HUB_BACKBONES:
            raise ConfigError(f"unknown encoder.backbone '{spec}'; known: {', '.join(HUB_BACKBONES)} "
                              "(or a dict with embed_dim/depth/num_heads for test models)")
        return BackboneConfig(**HUB_BACKBONES[spec], in_chans=in_chans, hub_name=spec)
    if isinstance(spec, Mapping):
        allowed = {"embed_dim", "depth", "num_heads", "patch_size", "img_size", "mlp_ratio"}
        unknown = set(spec) - allowed
        missing = {"embed_dim", "depth", "num_heads"} - set(spec)
        if unknown or missing:
            raise ConfigError(f"encoder.backbone dict: unknown keys {sorted(unknown)}, missing keys "
                              f"{sorted(missing)} (allowed: {sorted(allowed)})")
        cfg = BackboneConfig(**{k: spec[k] for k in allowed if k in spec}, in_chans=in_chans)
        for name in ("embed_dim", "depth", "num_heads", "patch_size", "img_size"):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"encoder.backbone.{name} must be a positive integer, got {value!r}")
        if cfg.embed_dim % cfg.num_heads:
            raise ConfigError(f"encoder.backbone.embed_dim {cfg.embed_dim} is not divisible by "
                              f"num_heads {cfg.num_heads}")
        if cfg.img_size % cfg.patch_size:
            raise ConfigError(f"encoder.backbone.img_size {cfg.img_size} is not a multiple of "
                              f"patch_size {cfg.patch_size}")
        if not float(cfg.mlp_ratio) > 0:
            raise ConfigError(f"encoder.backbone.mlp_ratio must be > 0, got {cfg.mlp_ratio!r}")
        return cfg
    raise ConfigError(f"encoder.backbone must be a hub name or a dict, got {type(spec).__name__}")


def _encoder(enc: Any) -> EncoderConfig:
    if not isinstance(enc, Mapping):
        raise ConfigError(f"'encoder' must be a dict, got {type(enc).__name__}")
    for key in ("backbone", "intermediate_layers", "dim_out"):
        if key not in enc:
            raise ConfigError(f"encoder.{key} is required")
    unknown = set(enc) - ENCODER_KEYS
    if unknown:
        LOG.info("ignoring unused encoder keys %s", sorted(unknown))
    if enc.get("img_depth_fuse_mode", "") != "cat_token":
        raise ConfigError(f"encoder.img_depth_fuse_mode must be 'cat_token' (the only fusion the model "
                          f"runs), got {enc.get('img_depth_fuse_mode', '')!r}")
    if enc.get("depth_emb_mode", "") != "conv_1c":
        raise ConfigError(f"encoder.depth_emb_mode must be 'conv_1c', got {enc.get('depth_emb_mode', '')!r}")
    if float(enc.get("img_mask_ratio", 0.0)) != 0.0:
        raise ConfigError(f"encoder.img_mask_ratio must be 0 at inference, got {enc['img_mask_ratio']!r}")
    in_chans = enc.get("in_chans", 3)
    if in_chans != 3:
        raise ConfigError(f"encoder.in_chans must be 3 (RGB), got {in_chans!r}")
    backbone = _backbone(enc["backbone"], in_chans)
    layers = enc["intermediate_layers"]
    if isinstance(layers, int) and not isinstance(layers, bool):
        if not 1 <= layers <= backbone.depth:
            raise ConfigError(f"encoder.intermediate_layers={layers} must be in 1..{backbone.depth}")
        indices = tuple(range(backbone.depth - layers, backbone.depth))
    elif isinstance(layers, (list, tuple)) and layers:
        indices = tuple(layers)
        if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < backbone.depth for i in indices) \
                or list(indices) != sorted(set(indices)):
            raise ConfigError(f"encoder.intermediate_layers {list(layers)} must be increasing distinct block "
                              f"indices in 0..{backbone.depth - 1}")
    else:
        raise ConfigError(f"encoder.intermediate_layers must be an int or a non-empty list, got {layers!r}")
    dim_out = enc["dim_out"]
    if dim_out != backbone.embed_dim:
        raise ConfigError(f"encoder.dim_out ({dim_out}) must equal the ViT width ({backbone.embed_dim}) "
                          "because the class token is added to the projected features")
    return EncoderConfig(backbone=backbone, layer_indices=indices, dim_out=dim_out)


def _convstack(spec: Any, name: str) -> ConvStackConfig:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"'{name}' must be a dict, got {type(spec).__name__}")
    for key in ("dim_in", "dim_res_blocks", "dim_out", "resamplers"):
        if key not in spec:
            raise ConfigError(f"{name}.{key} is required")
    unknown = set(spec) - CONVSTACK_KEYS
    if unknown:
        raise ConfigError(f"{name}: unknown keys {sorted(unknown)}")
    res = spec["dim_res_blocks"]
    if not isinstance(res, (list, tuple)) or not res:
        raise ConfigError(f"{name}.dim_res_blocks must be a non-empty list, got {res!r}")
    levels = len(res)
    dim_res = _per_level(res, levels, f"{name}.dim_res_blocks", allow_none=False)
    if min(dim_res) <= 0:
        raise ConfigError(f"{name}.dim_res_blocks must be positive, got {list(dim_res)}")
    dim_in = _per_level(spec["dim_in"], levels, f"{name}.dim_in", allow_none=True)
    dim_out = _per_level(spec["dim_out"], levels, f"{name}.dim_out", allow_none=True)
    resamplers = _per_level(spec["resamplers"], levels - 1, f"{name}.resamplers", allow_none=False, kind=str)
    bad = [r for r in resamplers if r not in UPSAMPLERS]
    if bad:
        raise ConfigError(f"{name}.resamplers {bad} not supported; use one of {UPSAMPLERS}")
    blocks = _per_level(spec.get("num_res_blocks", 1), levels, f"{name}.num_res_blocks", allow_none=False)
    factor = spec.get("dim_times_res_block_hidden", 1)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor <= 0:
        raise ConfigError(f"{name}.dim_times_res_block_hidden must be a positive int, got {factor!r}")
    cfg = ConvStackConfig(dim_in=dim_in, dim_res_blocks=dim_res, dim_out=dim_out, resamplers=resamplers,
                          num_res_blocks=blocks, hidden_factor=factor,
                          in_norm=spec.get("res_block_in_norm", "layer_norm"),
                          hidden_norm=spec.get("res_block_hidden_norm", "group_norm"),
                          activation=spec.get("activation", "relu"))
    for key, value in (("res_block_in_norm", cfg.in_norm), ("res_block_hidden_norm", cfg.hidden_norm)):
        if value not in NORMS:
            raise ConfigError(f"{name}.{key}={value!r}; use one of {NORMS}")
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"{name}.activation={cfg.activation!r}; use one of {ACTIVATIONS}")
    for level, channels in enumerate(dim_res):
        for key, norm, ch in (("res_block_in_norm", cfg.in_norm, channels),
                              ("res_block_hidden_norm", cfg.hidden_norm, channels * factor)):
            if norm == "group_norm" and blocks[level] and ch % 32:
                raise ConfigError(f"{name}.{key}='group_norm' needs channels divisible by 32, level "
                                  f"{level} has {ch}")
    if dim_in[0] is None:
        raise ConfigError(f"{name}.dim_in[0] may not be None: level 0 has nothing else to start from")
    return cfg


def _head(spec: Any, key: str, neck: ConvStackConfig) -> ConvStackConfig:
    """The head ``key`` (depth_head, mask_head): a conv stack on the neck's levels, one channel out."""
    head = _convstack(spec, key)
    if head.levels != neck.levels:
        raise ConfigError(f"{key} has {head.levels} levels but the neck has {neck.levels}")
    for level in range(head.levels):
        if head.dim_in[level] not in (None, neck.out_channels(level)):
            raise ConfigError(f"{key}.dim_in[{level}] is {head.dim_in[level]} but the neck outputs "
                              f"{neck.out_channels(level)} channels there")
    if head.dim_out[-1] != 1:
        raise ConfigError(f"{key}.dim_out[-1] must be 1 (one channel per pixel), got {head.dim_out[-1]!r}")
    return head


def parse_model_config(model_config: Mapping[str, Any]) -> ModelConfig:
    """Validate an official-format ``model_config`` dict and resolve it into a :class:`ModelConfig`.

    Raises:
        ConfigError: a missing, unknown or inconsistent entry (the message names the key).
    """
    if not isinstance(model_config, Mapping):
        raise ConfigError(f"model_config must be a dict, got {type(model_config).__name__}")
    unknown = set(model_config) - TOP_LEVEL_KEYS
    if unknown:
        LOG.warning("ignoring unknown model_config keys %s", sorted(unknown))
    for key in ("encoder", "neck", "depth_head"):
        if model_config.get(key) is None:
            raise ConfigError(f"model_config['{key}'] is required" +
                              (" (a model without a depth head cannot estimate depth)" if key == "depth_head" else ""))
    encoder = _encoder(model_config["encoder"])
    neck = _convstack(model_config["neck"], "neck")
    if neck.dim_in[0] != encoder.dim_out + 2:
        raise ConfigError(f"neck.dim_in[0] is {neck.dim_in[0]} but level 0 receives encoder features plus "
                          f"2 UV channels = {encoder.dim_out + 2}")
    for level in range(1, neck.levels):
        if neck.dim_in[level] not in (None, 2):
            raise ConfigError(f"neck.dim_in[{level}] is {neck.dim_in[level]}; levels > 0 receive the 2-channel "
                              "UV map (use 2, or None for no input)")
    depth_head = _head(model_config["depth_head"], "depth_head", neck)
    mask_spec = model_config.get("mask_head")
    mask_head = None if mask_spec is None else _head(mask_spec, "mask_head", neck)
    remap_in = model_config.get("remap_depth_in", "log")
    remap_out = model_config.get("remap_depth_out", "exp")
    if remap_in not in ("log", "linear"):
        raise ConfigError(f"remap_depth_in must be 'log' or 'linear', got {remap_in!r}")
    if remap_out not in ("exp", "linear"):
        raise ConfigError(f"remap_depth_out must be 'exp' or 'linear', got {remap_out!r}")
    tok = model_config.get("num_tokens_range", [1200, 3600])
    if (not isinstance(tok, (list, tuple)) or len(tok) != 2
            or any(isinstance(t, bool) or not isinstance(t, int) for t in tok) or not 0 < tok[0] <= tok[1]):
        raise ConfigError(f"num_tokens_range must be [min, max] positive ints with min <= max, got {tok!r}")
    return ModelConfig(encoder=encoder, neck=neck, depth_head=depth_head, mask_head=mask_head,
                       remap_depth_in=remap_in, remap_depth_out=remap_out,
                       num_tokens_range=(int(tok[0]), int(tok[1])), raw=copy.deepcopy(dict(model_config)))


def _moge2_head(dims: Sequence[int], out: int) -> dict[str, Any]:
    return {"dim_in": list(dims), "dim_res_blocks": list(dims), "dim_out": [None] * (len(dims) - 1) + [out],
            "num_res_blocks": [0, 1, 1, 1, 0], "res_block_in_norm": "none", "res_block_hidden_norm": "none",
            "resamplers": ["conv_transpose", "conv_transpose", "conv_transpose", "bilinear"]}


def reference_model_config() -> dict[str, Any]:
    """The reference ViT-L/14 config of the spec (§2.4): 324,310,658 parameters.

    Official checkpoints may differ (e.g. ``intermediate_layers=1`` or no mask head); loaders always
    use the checkpoint's own config. This one is for benchmarks and structural tests.
    """
    dims = [1024, 256, 128, 64, 32]
    return {
        "encoder": {"backbone": "dinov2_vitl14", "intermediate_layers": [5, 11, 17, 23], "dim_out": 1024,
                    "depth_emb_mode": "conv_1c", "img_depth_fuse_mode": "cat_token", "strict": False},
        "neck": {"dim_in": [1026, 2, 2, 2, 2], "dim_out": None, "dim_res_blocks": dims,
                 "num_res_blocks": [0, 2, 2, 2, 0], "res_block_in_norm": "none", "res_block_hidden_norm": "none",
                 "resamplers": ["conv_transpose", "conv_transpose", "conv_transpose", "bilinear"]},
        "depth_head": _moge2_head(dims, 1),
        "mask_head": _moge2_head(dims, 1),
        "remap_depth_in": "log",
        "remap_depth_out": "exp",
        "num_tokens_range": [1200, 3600],
    }


def tiny_model_config(width: int = 64, depth: int = 2, heads: int = 2, *,
                      num_tokens_range: Sequence[int] = (64, 256), mask_head: bool = True,
                      intermediate_layers: int | list[int] | None = None) -> dict[str, Any]:
    """A small config with the reference layout (for tests and CPU benchmarks).

    Uses the backbone-dict extension. The token budget defaults to 64..256 so that
    ``resolution_level=9`` stays fast on a CPU. ``neck.dim_in[0]`` is ``width + 2``.
    """
    dims = [width, 32, 16, 8, 8]
    layers = intermediate_layers if intermediate_layers is not None else list(range(depth))
    cfg = reference_model_config()
    cfg["encoder"].update({"backbone": {"embed_dim": width, "depth": depth, "num_heads": heads,
                                        "patch_size": 14, "img_size": 518, "mlp_ratio": 4.0},
                           "intermediate_layers": layers, "dim_out": width})
    cfg["neck"].update({"dim_in": [width + 2, 2, 2, 2, 2], "dim_res_blocks": dims,
                        "num_res_blocks": [0, 1, 1, 1, 0]})
    cfg["depth_head"] = _moge2_head(dims, 1)
    cfg["mask_head"] = _moge2_head(dims, 1) if mask_head else None
    cfg["num_tokens_range"] = list(num_tokens_range)
    return cfg
