"""Tiny random-weight Hugging Face checkpoints for tests and CPU benchmarks (no download needed).

Each maker builds the model from its transformers config class with tiny sizes, saves it with
``save_pretrained`` and writes the image processor config the real checkpoints ship
(``preprocessor_config.json``), so a test loads it through exactly the path a real checkpoint takes
(:class:`lingbot_depth_ros.estimators.hf_common.HFDepthEstimator`). :func:`add_to_hf_cache` files a
folder into a Hugging Face cache under a repo id, for the offline repo-id resolution.

The random weights are nudged so outputs are usable end to end (non-negative disparity around 1,
metric depth around ``max_depth / 2``); the values mean nothing beyond that.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TINY_INPUT_SIZE = 56  # px, processor target side (4 x 14)


def _tiny_backbone() -> Any:
    from transformers import Dinov2Config

    # The config takes other keywords than its declared fields at run time (out_indices: the backbone
    # property, intermediate_size: kept as an attribute, unused by Dinov2, which sizes its MLP by mlp_ratio);
    # transformers' generated __init__ signature lists only the fields.
    return Dinov2Config(image_size=TINY_INPUT_SIZE, patch_size=14, hidden_size=32,  # type: ignore[call-arg]
                        num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, out_indices=[1, 2, 3, 4],
                        reshape_hidden_states=False, initializer_range=0.2)


def _tiny_head_kwargs() -> dict[str, Any]:
    return {"reassemble_hidden_size": 32, "neck_hidden_sizes": [8, 16, 32, 32], "fusion_hidden_size": 16,
            "head_hidden_size": 8, "initializer_range": 0.2}


def _processor_config(processor_type: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"image_processor_type": processor_type, "do_resize": True, "size": {"height": size, "width": size},
            "keep_aspect_ratio": True, "ensure_multiple_of": 14, "resample": 3, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD,
            "do_pad": False, "size_divisor": None, **extra}


def _save(model: Any, folder: Path, processor: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return folder


def _nudge_head(model: Any, weight_scale: float, bias: float) -> None:
    import torch
    with torch.no_grad():
        model.head.conv3.weight.mul_(weight_scale)
        model.head.conv3.bias.fill_(bias)


def save_tiny_depth_anything(folder: str | Path, *, metric: bool = False, max_depth: int = 20,
                             seed: int = 0, input_size: int = TINY_INPUT_SIZE) -> Path:
    """A tiny Depth Anything checkpoint folder: relative (disparity) head, or ``metric`` with ``max_depth`` [m]."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation
    config = DepthAnythingConfig(backbone_config=_tiny_backbone(), **_tiny_head_kwargs(),
                                 depth_estimation_type="metric" if metric else "relative",
                                 max_depth=max_depth if metric else 1)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    _nudge_head(model, 0.02 if metric else 1.0, 0.0 if metric else 1.0)
    return _save(model, Path(folder), _processor_config("DPTImageProcessor", input_size))


def save_tiny_prompt_depth_anything(folder: str | Path, *, seed: int = 0, input_size: int = TINY_INPUT_SIZE) -> Path:
    """A tiny Prompt Depth Anything checkpoint folder (prompt in metres after ``prompt_scale_to_meter``)."""
    import torch
    from transformers import PromptDepthAnythingConfig, PromptDepthAnythingForDepthEstimation
    config = PromptDepthAnythingConfig(backbone_config=_tiny_backbone(), **_tiny_head_kwargs(),
                                       depth_estimation_type="metric", max_depth=1)
    torch.manual_seed(seed)
    model = PromptDepthAnythingForDepthEstimation(config).eval()
    _nudge_head(model, 0.05, 0.5)
    with torch.no_grad():  # make the prompt branch matter visibly in a random model
        for layer in model.neck.fusion_stage.layers:  # (zero-initialised in the library, as in PromptDA)
            layer.prompt_depth_layer.convolution3.weight.normal_(0.0, 0.5)
    return _save(model, Path(folder), _processor_config("PromptDepthAnythingImageProcessor", input_size,
                                                        prompt_scale_to_meter=0.001))


def add_to_hf_cache(folder: str | Path, cache_dir: str | Path, repo_id: str,
                    commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """Copy ``folder`` into a Hugging Face hub cache as the ``main`` snapshot of model ``repo_id``.

    ``cache_dir`` is the hub cache (``$HF_HOME/hub``); returns the snapshot folder.
    """
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
