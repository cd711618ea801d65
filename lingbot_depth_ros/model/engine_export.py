"""Fixed-shape ONNX engines of LingBot-Depth for the robot's GPU: one image size and level per folder.

``export_onnx(CHECKPOINT, OUT_DIR, level=L, size=(W, H), fp16=...)`` writes

* ``model.onnx`` — the completion engine: inputs ``image`` (B, 3, h, w) float32 normalised RGB,
  ``depth`` (B, 1, h, w) float32 remapped depth (invalid = 0), ``depth_keep`` (B, rows*cols) bool;
  static sequence ``1 + 2*rows*cols`` (dropped depth tokens masked as attention keys);
* ``model_monocular.onnx`` — the monocular engine: input ``image`` only, sequence ``1 + rows*cols``
  (no depth tokens at all, as the token-dropping path does with no depth);
* ``engine.json`` — shapes, level, grid, preprocessing constants, precision and the checkpoint's sha256.

Both output ``depth_m`` (B, H, W) float32 [m] and (mask head) ``mask_prob`` (B, H, W) float32. The batch
dimension is dynamic; the image size (W x H) and the level are fixed per folder. Preprocessing (resize,
normalise, depth remap, keep mask) stays outside the engine (``Preprocessor``, torch, on the device).
With ``fp16`` the weights and the computation are float16, the inputs and outputs stay float32.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.model.checkpoint import read_checkpoint
from lingbot_depth_ros.model.checkpoint_hash import cached_sha256
from lingbot_depth_ros.model.factory import network_from_checkpoint
from lingbot_depth_ros.model.network.mdm import MDMNetwork
from lingbot_depth_ros.model.preprocess import MAX_RESOLUTION_LEVEL, Preprocessor, TokenGrid, num_tokens_for_level

LOG = logging.getLogger(__name__)
ENGINE_JSON = "engine.json"
COMPLETION_ONNX = "model.onnx"
MONOCULAR_ONNX = "model_monocular.onnx"
ENGINE_FORMAT = 1
OPSET = 18
MAX_BATCH = 64


class FixedShapeEngine(nn.Module):
    """The network at one token grid and output size, positional embeddings frozen as a constant.

    ``monocular``: forward(image) with no depth tokens; otherwise forward(image, depth, depth_keep)
    with the key-padding-mask path. Returns (depth_m, mask_prob) float32 (mask_prob only with a mask head).
    """

    def __init__(self, network: MDMNetwork, grid: TokenGrid, out_hw: tuple[int, int], *, monocular: bool,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.network = network
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        self.monocular = monocular
        self.dtype = dtype
        with torch.no_grad():
            pos = network.encoder.backbone.interpolate_pos_embed(grid.rows, grid.cols).detach().clone()
        self.register_buffer("pos", pos.to(dtype))

    def forward(self, image: torch.Tensor, depth: torch.Tensor | None = None,
                depth_keep: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        image = image.to(self.dtype)
        if self.monocular:
            out = self.network(image, None, None, self.out_hw, pos_embed=self.pos)
        else:
            assert depth is not None, "a completion engine takes a depth input"
            out = self.network(image, depth.to(self.dtype), depth_keep, self.out_hw, key_padding=True,
                               pos_embed=self.pos)
        if "mask_prob" in out:
            return out["depth"].float(), out["mask_prob"].float()
        return (out["depth"].float(),)


def engine_metadata(network: MDMNetwork, preprocessor: Preprocessor, grid: TokenGrid, level: int,
                    size_wh: tuple[int, int], fp16: bool, checkpoint: Path, source: str) -> dict[str, Any]:
    """The ``engine.json`` content (see module docstring)."""
    n = grid.num_patches
    h, w = grid.input_hw
    outputs = ["depth_m"] + (["mask_prob"] if network.mask_head is not None else [])
    return {
        "format": ENGINE_FORMAT,
        "image_size_wh": list(size_wh),
        "resolution_level": level,
        "num_tokens": num_tokens_for_level(level, preprocessor.num_tokens_range),
        "grid_rows_cols": [grid.rows, grid.cols],
        "input_hw": [h, w],
        "batch": f"dynamic (1..{MAX_BATCH})",
        "precision": "fp16" if fp16 else "fp32",
        "preprocessing": {
            "patch_size": preprocessor.patch_size, "num_tokens_range": list(preprocessor.num_tokens_range),
            "remap_depth_in": preprocessor.remap_depth_in, "mean": list(preprocessor.mean),
            "std": list(preprocessor.std), "image_resize": "bilinear, antialias, align_corners=False",
            "depth_resize": "legacy nearest", "min_valid_depth_m": 0.01,
        },
        "mask_head": network.mask_head is not None,
        "engines": {
            "completion": {"file": COMPLETION_ONNX, "sequence_length": 1 + 2 * n,
                           "inputs": {"image": ["B", 3, h, w], "depth": ["B", 1, h, w], "depth_keep": ["B", n]},
                           "outputs": {name: ["B", size_wh[1], size_wh[0]] for name in outputs}},
            "monocular": {"file": MONOCULAR_ONNX, "sequence_length": 1 + n,
                          "inputs": {"image": ["B", 3, h, w]},
                          "outputs": {name: ["B", size_wh[1], size_wh[0]] for name in outputs}},
        },
        "checkpoint": {"source": source, "file": checkpoint.name, "sha256": cached_sha256(checkpoint, refresh=True)},
        "opset": OPSET,
    }


def export_engine_module(engine: FixedShapeEngine, path: Path, grid: TokenGrid, *, exporter: str = "torchscript",
                         batch: int = 2) -> None:
    """Export one engine with a dynamic batch dimension.

    ``exporter``: 'torchscript' (torch.onnx's tracing exporter: seconds) or 'dynamo' (torch.export based:
    slower, the exporter newer torch releases keep; used for fp16). Both give the same graph semantics.
    """
    h, w = grid.input_hw
    image = torch.zeros(batch, 3, h, w)
    outputs = ["depth_m", "mask_prob"] if engine.network.mask_head is not None else ["depth_m"]
    if engine.monocular:
        args: tuple = (image,)
        names = ["image"]
    else:
        keep = torch.zeros(batch, grid.num_patches, dtype=torch.bool)
        keep[0, 0] = True
        args = (image, torch.zeros(batch, 1, h, w), keep)
        names = ["image", "depth", "depth_keep"]
    external = _needs_external_data(engine)
    if exporter == "dynamo":
        dim = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        program = torch.onnx.export(engine, args, None, input_names=names, output_names=outputs,
                                    dynamic_shapes={name: {0: dim} for name in names}, dynamo=True,
                                    opset_version=OPSET, verbose=False)
        assert program is not None, "the dynamo exporter returns its ONNXProgram (None: only the TorchScript one)"
        program.save(str(path), external_data=external)
        return
    if exporter != "torchscript":
        raise ConfigError(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(engine, args, str(path), input_names=names, output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in names + outputs}, dynamo=False,
                          opset_version=OPSET)
    if external:  # > 2 GB protobuf limit: weights to a side file
        import onnx
        model = onnx.load(str(path))
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data")


def _needs_external_data(module: nn.Module) -> bool:
    """ONNX protobufs are limited to 2 GB: big models keep their weights in a side file."""
    size = sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))
    return size > 1_500_000_000


def export_onnx(source: str | Path, out_dir: str | Path, *, level: int = 9,
                size_wh: tuple[int, int] = (640, 480), fp16: bool = False, exporter: str = "torchscript") -> Path:
    """Export both engines of a checkpoint to ``out_dir``; returns the ``engine.json`` path.

    Raises:
        CheckpointError: unreadable or mismatching checkpoint. ConfigError: bad level or size.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_RESOLUTION_LEVEL:
        raise ConfigError(f"--level must be an integer in 0..{MAX_RESOLUTION_LEVEL}, got {level!r}")
    w, h = (int(size_wh[0]), int(size_wh[1]))
    if w <= 0 or h <= 0:
        raise ConfigError(f"--size must be WxH with positive sides, got {w}x{h}")
    raw = read_checkpoint(source)
    network, preprocessor, _ = network_from_checkpoint(raw, torch.device("cpu"))
    grid = preprocessor.grid(h, w, resolution_level=level)
    dtype = torch.float16 if fp16 else torch.float32
    network = network.to(dtype).eval().requires_grad_(False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fp16:  # the tracing exporter mixes float32 into fp16 attention (LayerNorm type error in ORT)
        exporter = "dynamo"
    for monocular, name in ((False, COMPLETION_ONNX), (True, MONOCULAR_ONNX)):
        engine = FixedShapeEngine(network, grid, (h, w), monocular=monocular, dtype=dtype).eval()
        export_engine_module(engine, out / name, grid, exporter=exporter)
    meta = engine_metadata(network, preprocessor, grid, level, (w, h), fp16, raw.path, raw.source)
    path = out / ENGINE_JSON
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); ConfigError otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 640x480 (width x height), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ConfigError(f"--size must be WxH with positive sides, got {text!r}")
    return w, h
