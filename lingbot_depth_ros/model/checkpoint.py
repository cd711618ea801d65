"""Reading LingBot-Depth checkpoints safely and matching their keys to our modules.

Accepted sources:

* an official-format ``model.pt`` (a ``torch.save`` of ``{'model_config': dict, 'model': state_dict}``),
  always read with ``torch.load(..., weights_only=True)``;
* a ``.safetensors`` export with its ``config.json`` beside it (see ``lingbot-depth-export``), or the
  config embedded in the safetensors metadata;
* a directory holding either of the above;
* a Hugging Face repo id (``robbyant/lingbot-depth-pretrain-vitl-14-v0.5``): ``model.pt`` is fetched
  through huggingface_hub's cache, so a machine that has downloaded it once works offline.

Key matching is strict: ``depth_mask_patch_embed`` (the name in some official files) is mapped to
``depth_patch_embed``; ``normal_head.*`` and ``scale_head.*`` (stored but never used) are ignored;
any other missing, unexpected or mis-shaped key raises :class:`CheckpointError` listing them.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lingbot_depth_ros.errors import CheckpointError

LOG = logging.getLogger(__name__)

CHECKPOINT_FILENAME = "model.pt"
SAFETENSORS_FILENAME = "model.safetensors"
CONFIG_FILENAME = "config.json"
SAFETENSORS_CONFIG_METADATA = "model_config"
IGNORED_PREFIXES = ("normal_head.", "scale_head.")
KEY_ALIASES = {"encoder.backbone.depth_mask_patch_embed.": "encoder.backbone.depth_patch_embed."}
DEFAULT_REPO_ID = "robbyant/lingbot-depth-pretrain-vitl-14-v0.5"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_MAX_LISTED = 20


@dataclass
class RawCheckpoint:
    """What a checkpoint file holds, before it is matched to a model."""

    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    path: Path
    source: str
    notes: list[str] = field(default_factory=list)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def looks_like_repo_id(source: str) -> bool:
    """'owner/name' with no file extension and not an existing path."""
    return bool(_REPO_ID.match(source)) and not Path(source).exists() \
        and not source.endswith((".pt", ".pth", ".safetensors", ".json"))


def download_from_hub(repo_id: str, filename: str = CHECKPOINT_FILENAME, *, revision: str | None = None,
                      cache_dir: str | Path | None = None) -> Path:
    """Path of ``filename`` of model repo ``repo_id`` in the Hugging Face cache, downloading it if needed.

    A cached copy is used without contacting the Hub; only a missing file is downloaded.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise CheckpointError(f"'{repo_id}' looks like a Hugging Face repo id but huggingface_hub is not "
                              "installed (pip install -r requirements-model.txt); or pass a local path "
                              "to model.pt") from exc

    def download(local_files_only: bool) -> Path:
        return Path(hf_hub_download(repo_id, filename, repo_type="model", revision=revision,
                                    cache_dir=None if cache_dir is None else str(cache_dir),
                                    local_files_only=local_files_only))

    try:  # a cached copy wins: instant, works offline, and the robot keeps the weights it was tested with
        return download(local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - not cached (or cache unreadable): try the network below
        cache_miss = exc
    try:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            # read at call time (huggingface_hub reads it only at import): no 20 s of retries offline
            raise cache_miss
        return download(local_files_only=False)
    except Exception as exc:  # offline, unknown repo, gated repo, disk full: one clear message
        raise CheckpointError(
            f"could not get '{filename}' of Hugging Face repo '{repo_id}' ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no details'}). If this machine is offline, download it "
            f"elsewhere (hf download {repo_id} {filename}) and either copy the Hugging Face "
            f"cache (HF_HOME, default ~/.cache/huggingface) here or pass the file path, e.g. "
            f"checkpoint:=/path/to/{filename}") from exc


def _check_structure(obj: Any, path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if not isinstance(obj, Mapping) or "model" not in obj or "model_config" not in obj:
        keys = sorted(map(str, obj.keys()))[:10] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{path.name}: not an official LingBot-Depth checkpoint: expected a dict with "
                              f"'model_config' and 'model', found {keys}")
    config, state = obj["model_config"], obj["model"]
    if not isinstance(config, Mapping):
        raise CheckpointError(f"{path.name}: 'model_config' is a {type(config).__name__}, expected a dict")
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path.name}: 'model' must be a non-empty dict of tensors")
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path.name}: 'model' holds entries that are not tensors: {_listing(bad)}")
    return dict(config), dict(state)


def read_torch_checkpoint(path: Path) -> RawCheckpoint:
    """Read an official ``model.pt`` with ``weights_only=True`` (no arbitrary code runs)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or isinstance(exc, pickle.UnpicklingError):
            raise CheckpointError(f"{path.name}: refused to load: not a plain dict of tensors and primitives, "
                                  f"or corrupt (torch.load weights_only=True rejected it: {first})") from exc
        try:  # old (non-zip) serialisation cannot be memory-mapped
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc2:
            raise CheckpointError(f"{path.name}: refused to load: not a plain dict of tensors "
                                  f"({str(exc2).splitlines()[0]})") from exc2
        except Exception as exc2:
            raise CheckpointError(f"{path.name}: unreadable checkpoint ({type(exc2).__name__}: {exc2})") from exc2
    except Exception as exc:
        raise CheckpointError(f"{path.name}: unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
    config, state = _check_structure(obj, path)
    return RawCheckpoint(model_config=config, state_dict=state, path=path, source=str(path))


def read_safetensors_checkpoint(path: Path, config_path: Path | None = None) -> RawCheckpoint:
    """Read a ``.safetensors`` file plus its config (``config.json`` / ``<stem>.json`` / metadata)."""
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError as exc:
        raise CheckpointError("reading .safetensors needs the 'safetensors' package") from exc
    try:
        state = load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:
        raise CheckpointError(f"{path.name}: unreadable safetensors file ({type(exc).__name__}: {exc})") from exc
    candidates = [config_path] if config_path is not None else [path.with_suffix(".json"),
                                                               path.parent / CONFIG_FILENAME]
    config = None
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            try:
                config = json.loads(candidate.read_text())
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"{candidate.name}: invalid JSON config ({exc})") from exc
            config = config.get("model_config", config) if isinstance(config, dict) else config
            break
    if config is None and SAFETENSORS_CONFIG_METADATA in metadata:
        try:
            config = json.loads(metadata[SAFETENSORS_CONFIG_METADATA])
        except ValueError as exc:
            raise CheckpointError(f"{path.name}: invalid model_config in metadata ({exc})") from exc
    if config is None:
        raise CheckpointError(f"{path.name}: no model config found: put {CONFIG_FILENAME} (written by "
                              f"lingbot-depth-export) beside it")
    config, state = _check_structure({"model_config": config, "model": state}, path)
    return RawCheckpoint(model_config=config, state_dict=state, path=path, source=str(path))


def checkpoint_file(source: str | Path, *, cache_dir: str | Path | None = None, download: bool = True) -> Path:
    """The file a checkpoint source names: the path itself, ``model.safetensors`` / ``model.pt`` of a
    directory, or ``model.pt`` of a Hugging Face repo id in the local HF cache (fetched when ``download``).

    Raises:
        CheckpointError: nothing given, no such file, a directory without a checkpoint, or a repo id that is
            not cached (``download=False``) or cannot be fetched.
    """
    text = str(source)
    path = Path(text).expanduser()
    if not text:
        raise CheckpointError("no checkpoint given: set a path to model.pt / model.safetensors or a Hugging "
                              f"Face repo id such as {DEFAULT_REPO_ID}")
    if not path.exists() and looks_like_repo_id(text):
        if download:
            return download_from_hub(text, cache_dir=cache_dir)
        return cached_hub_file(text, cache_dir=cache_dir)
    if path.is_dir():
        for name in (SAFETENSORS_FILENAME, CHECKPOINT_FILENAME):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"checkpoint directory {path} holds neither {SAFETENSORS_FILENAME} nor "
                              f"{CHECKPOINT_FILENAME}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}. Download model.pt from Hugging Face "
                              f"(e.g. {DEFAULT_REPO_ID}) and pass its path, or pass the repo id on a "
                              "machine with network access")
    return path


def cached_hub_file(repo_id: str, filename: str = CHECKPOINT_FILENAME, *,
                    cache_dir: str | Path | None = None) -> Path:
    """``filename`` of ``repo_id`` if the local Hugging Face cache has it (never downloads).

    Raises:
        CheckpointError: not cached, or huggingface_hub missing.
    """
    try:
        from huggingface_hub import hf_hub_download
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="model",
                                    cache_dir=None if cache_dir is None else str(cache_dir), local_files_only=True))
    except Exception as exc:
        raise CheckpointError(f"'{filename}' of Hugging Face repo '{repo_id}' is not in the local cache "
                              f"({type(exc).__name__})") from exc


def read_checkpoint(source: str | Path, *, cache_dir: str | Path | None = None) -> RawCheckpoint:
    """Read a checkpoint from a file, a directory or a Hugging Face repo id (see module docstring).

    Raises:
        CheckpointError: missing file (with where to put it), unsafe or malformed content.
    """
    text = str(source)
    path = checkpoint_file(source, cache_dir=cache_dir)
    if not Path(text).expanduser().exists() and looks_like_repo_id(text):
        raw = read_torch_checkpoint(path)
        raw.source = f"hf://{text}"
        return raw
    if path.suffix == ".safetensors":
        return read_safetensors_checkpoint(path)
    return read_torch_checkpoint(path)


def match_state_dict(checkpoint_state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size],
                     name: str = "checkpoint") -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map checkpoint keys onto ``expected`` (key -> shape of our module) strictly.

    Returns the renamed state dict and notes (aliases used, ignored keys).

    Raises:
        CheckpointError: listing every missing, unexpected and mis-shaped key.
    """
    notes: list[str] = []
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    aliased: list[tuple[str, str]] = []
    for key, tensor in checkpoint_state.items():
        if key.startswith(IGNORED_PREFIXES):
            ignored.append(key)
            continue
        alias = next((a for a in KEY_ALIASES if key.startswith(a)), None)
        if alias is not None:
            aliased.append((key, KEY_ALIASES[alias] + key[len(alias):]))
            continue
        mapped[key] = tensor
    for key, target in aliased:
        if target in mapped:  # both spellings stored: the canonical one wins, as upstream would load it
            notes.append(f"ignored {key} (the file also has {target})")
        else:
            mapped[target] = checkpoint_state[key]
            notes.append(f"loaded {key} as {target}")
    if ignored:
        groups = ", ".join(sorted({k.split(".")[0] for k in ignored}))
        notes.append(f"ignored {len(ignored)} unused tensor(s) of {groups}")
    missing = sorted(set(expected) - set(mapped))
    unexpected = sorted(set(mapped) - set(expected))
    wrong = sorted(f"{k} (file {tuple(mapped[k].shape)}, model {tuple(expected[k])})"
                   for k in set(mapped) & set(expected) if tuple(mapped[k].shape) != tuple(expected[k]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): {_listing(wrong)}")
    if problems:
        raise CheckpointError(f"{name} does not match the architecture in its model_config: " + "; ".join(problems))
    return mapped, notes
