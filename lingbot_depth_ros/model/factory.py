"""The one place that turns a ``model_config`` (or a checkpoint) into a ready model.

* :func:`build_model` — config dict -> (network with random weights, preprocessor).
* :func:`load_network` — checkpoint source -> network with the checkpoint's weights, strictly matched.
* :func:`load_model` — checkpoint source -> :class:`DepthModel` with ``.infer(...)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lingbot_depth_ros.errors import CheckpointError, ConfigError
from lingbot_depth_ros.model.checkpoint import RawCheckpoint, match_state_dict, read_checkpoint
from lingbot_depth_ros.model.config import parse_model_config
from lingbot_depth_ros.model.inference import DepthModel, resolve_device
from lingbot_depth_ros.model.network.encoder import IMAGENET_MEAN, IMAGENET_STD
from lingbot_depth_ros.model.network.mdm import MDMNetwork
from lingbot_depth_ros.model.preprocess import Preprocessor

LOG = logging.getLogger(__name__)


def _preprocessor_for(network: MDMNetwork, mean: Any = IMAGENET_MEAN, std: Any = IMAGENET_STD) -> Preprocessor:
    cfg = network.cfg
    return Preprocessor(cfg.encoder.backbone.patch_size, cfg.num_tokens_range, cfg.remap_depth_in, mean, std)


def build_model(model_config: Mapping[str, Any], *,
                device: str | torch.device | None = None) -> tuple[MDMNetwork, Preprocessor]:
    """Build the network described by an official-format ``model_config`` (random weights).

    ``device='meta'`` builds shapes only (no memory, instant), as used for key checks.

    Raises:
        ConfigError: the config is invalid (the message names the key).
    """
    cfg = parse_model_config(model_config)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        network = MDMNetwork(cfg)
    network.eval()
    return network, _preprocessor_for(network)


def expected_shapes(network: MDMNetwork) -> dict[str, torch.Size]:
    """state_dict key -> shape of ``network`` (parameters and persistent buffers)."""
    return {key: value.shape for key, value in network.state_dict().items()}


def network_from_checkpoint(raw: RawCheckpoint, device: torch.device) -> tuple[MDMNetwork, Preprocessor, list[str]]:
    """Build from ``raw.model_config`` on the meta device, then assign the matched weights."""
    name = raw.path.name
    try:
        network, _ = build_model(raw.model_config, device="meta")
    except ConfigError as exc:
        raise CheckpointError(f"{name}: its model_config is not usable: {exc}") from exc
    state, notes = match_state_dict(raw.state_dict, expected_shapes(network), name=name)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    network.load_state_dict(state, strict=True, assign=True)
    network = network.to(device).requires_grad_(False).eval()
    mean = network.encoder.image_mean.flatten().tolist()
    std = network.encoder.image_std.flatten().tolist()
    for note in notes:
        LOG.info("%s: %s", name, note)
    return network, _preprocessor_for(network, mean, std), notes


def load_network(source: str | Path, *, device: str | torch.device = "cpu",
                 cache_dir: str | Path | None = None) -> tuple[MDMNetwork, Preprocessor, RawCheckpoint, list[str]]:
    """Read a checkpoint (path, directory, safetensors export or HF repo id) and build its network.

    Raises:
        CheckpointError: missing/unsafe/malformed file, invalid config, or key mismatch.
        ConfigError: unusable ``device``.
    """
    dev = resolve_device(device)
    raw = read_checkpoint(source, cache_dir=cache_dir)
    network, preprocessor, notes = network_from_checkpoint(raw, dev)
    return network, preprocessor, raw, notes


def load_model(source: str | Path, *, device: str | torch.device = "auto", precision: str = "bf16",
               cache_dir: str | Path | None = None) -> DepthModel:
    """Load a checkpoint into a :class:`DepthModel` on ``device`` ('auto', 'cpu', 'cuda[:N]').

    Raises:
        CheckpointError: the checkpoint is missing, unsafe, malformed or does not match its config.
        ConfigError: bad ``device`` or ``precision``.
    """
    dev = resolve_device(device)
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"precision must be 'bf16' or 'fp32', got {precision!r}")
    network, preprocessor, raw, notes = load_network(source, device=dev, cache_dir=cache_dir)
    model = DepthModel(network, preprocessor, device=dev, precision=precision, source=raw.source, notes=notes)
    LOG.info("loaded %s", model.describe())
    return model


def model_from_config(model_config: Mapping[str, Any], *, device: str | torch.device = "cpu",
                      precision: str = "bf16", seed: int | None = 0) -> DepthModel:
    """A :class:`DepthModel` with random weights (benchmarks, tests); built directly on ``device``."""
    dev = resolve_device(device)
    if seed is not None:
        torch.manual_seed(seed)
    network, preprocessor = build_model(model_config, device=dev)
    return DepthModel(network.requires_grad_(False), preprocessor, device=dev, precision=precision)
