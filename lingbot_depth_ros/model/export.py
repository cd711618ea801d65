"""A checkpoint as ``model.safetensors`` + ``config.json`` (what ``lingbot-depth-export`` writes without ``--onnx``;
the ONNX engines are :mod:`lingbot_depth_ros.model.engine_export`).

The checkpoint (a ``model.pt`` path, a directory, or a Hugging Face repo id) is read with
``weights_only=True``, built from its ``model_config`` and strictly key-checked; the written
``model.safetensors`` holds exactly the keys this package loads (the depth-embed alias renamed,
unused ``normal_head``/``scale_head`` tensors dropped), and ``config.json`` holds the
``model_config``. The config is also embedded in the safetensors metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lingbot_depth_ros.model.checkpoint import (
    CONFIG_FILENAME,
    SAFETENSORS_CONFIG_METADATA,
    SAFETENSORS_FILENAME,
    match_state_dict,
    read_checkpoint,
)
from lingbot_depth_ros.model.factory import build_model, expected_shapes

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def export_checkpoint(source: str | Path, out_dir: str | Path, *, dtype: str = "fp32") -> tuple[Path, Path]:
    """Write ``OUT_DIR/model.safetensors`` and ``OUT_DIR/config.json``; returns both paths.

    Raises:
        CheckpointError: unreadable or mismatching checkpoint. ConfigError: invalid config.
    """
    from safetensors.torch import save_file

    raw = read_checkpoint(source)
    network, _ = build_model(raw.model_config, device="meta")
    state, notes = match_state_dict(raw.state_dict, expected_shapes(network), name=raw.path.name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    tensors = {}
    for key in sorted(state):
        tensor = state[key]
        if tensor.is_floating_point():
            tensor = tensor.to(DTYPES[dtype])
        tensor = tensor.contiguous()
        if tensor.untyped_storage().data_ptr() in seen:  # safetensors refuses shared storage
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        tensors[key] = tensor
    config_text = json.dumps(raw.model_config, indent=2, sort_keys=True)
    weights_path = out / SAFETENSORS_FILENAME
    config_path = out / CONFIG_FILENAME
    save_file(tensors, str(weights_path), metadata={SAFETENSORS_CONFIG_METADATA: json.dumps(raw.model_config),
                                                   "format": "pt", "source": raw.source,
                                                   "notes": "; ".join(notes)})
    config_path.write_text(config_text + "\n")
    return weights_path, config_path
