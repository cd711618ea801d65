"""Run exported LingBot-Depth engines (engine_export.py) with ONNX Runtime.

:class:`OnnxDepthModel` has the :class:`DepthModel` interface (``infer``, ``prepare``,
``run_network``, ``describe``, ``transfers``): preprocessing and post-processing are the same torch
code on ``device``; the network runs in ONNX Runtime. Both engines of the folder are loaded, so
``auto`` mode switches between completion (``model.onnx``) and monocular (``model_monocular.onnx``)
per batch without reloading.

Providers: the requested names in order, keeping those the installed onnxruntime offers (the
``onnxruntime`` wheel has the CPU one; ``onnxruntime-gpu`` adds CUDA and TensorRT). TensorRT builds
its engines on the first run and caches them in ``trt_cache_dir``. On CUDA the inputs and outputs
are bound to torch's device buffers (no host round trip).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lingbot_depth_ros.errors import CheckpointError, ConfigError, InputError
from lingbot_depth_ros.model.checkpoint import checkpoint_file, looks_like_repo_id
from lingbot_depth_ros.model.checkpoint_hash import cached_sha256
from lingbot_depth_ros.model.engine_export import COMPLETION_ONNX, ENGINE_FORMAT, ENGINE_JSON, MONOCULAR_ONNX
from lingbot_depth_ros.model.inference import DepthModel, TransferCounter, resolve_device
from lingbot_depth_ros.model.preprocess import ModelInputs, Preprocessor

LOG = logging.getLogger(__name__)
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def parse_providers(text: str | Sequence[str]) -> list[str]:
    """'A, B,C' (or a list) -> ['A', 'B', 'C']; ConfigError when empty."""
    names = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p and p.strip()]
    if not names:
        raise ConfigError("lingbot.providers is empty; e.g. TensorrtExecutionProvider,CUDAExecutionProvider,"
                          "CPUExecutionProvider")
    return names


def choose_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The requested providers that are installed, in the requested order.

    Raises:
        ConfigError: none of them is installed (the message lists what is).
    """
    chosen = [p for p in requested if p in available]
    if not chosen:
        raise ConfigError(f"none of the ONNX Runtime providers {', '.join(requested)} is installed (installed: "
                          f"{', '.join(available)}); pip install onnxruntime-gpu for CUDA/TensorRT")
    return chosen


NO_ENGINE_DIR = ("the onnxruntime backend needs an engine folder (node: lingbot.engine_dir, CLI: --engine-dir): "
                 "one written by lingbot-depth-export CHECKPOINT OUT_DIR --onnx")


def read_engine_meta(engine_dir: str | Path) -> dict[str, Any]:
    """engine.json of an exported folder, checked.

    Raises:
        CheckpointError: no folder given, missing folder/file or an unknown format.
    """
    if not str(engine_dir).strip():  # (Path('') is '.': test the text, not the path)
        raise CheckpointError(NO_ENGINE_DIR)
    folder = Path(engine_dir).expanduser()
    path = folder / ENGINE_JSON
    if not path.is_file():
        raise CheckpointError(f"{folder} is not an exported engine folder ({ENGINE_JSON} missing); write one with "
                              f"lingbot-depth-export CHECKPOINT {folder} --onnx")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from exc
    if meta.get("format") != ENGINE_FORMAT:
        raise CheckpointError(f"{path}: engine format {meta.get('format')!r}, this version reads {ENGINE_FORMAT}; "
                              "re-export the engine")
    for name in (COMPLETION_ONNX, MONOCULAR_ONNX):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: {name} missing; re-export the engine")
    return meta


def export_command(meta: dict[str, Any], checkpoint: str | Path, engine_dir: Path) -> str:
    """The lingbot-depth-export command that rebuilds ``engine_dir`` from ``checkpoint`` (same size, level,
    precision)."""
    w, h = (int(v) for v in meta["image_size_wh"])
    fp16 = " --fp16" if meta.get("precision") == "fp16" else ""
    return (f"lingbot-depth-export {checkpoint} {engine_dir} --onnx --size {w}x{h} "
            f"--level {int(meta['resolution_level'])}{fp16}")


def verify_engine_checkpoint(meta: dict[str, Any], engine_dir: Path, checkpoint: str | Path) -> str:
    """Check that ``checkpoint`` is the one the engine was exported from (its sha256 in engine.json).

    The checkpoint's digest is cached by path, size and mtime (:mod:`checkpoint_hash`): only the first
    start after a checkpoint changes reads the whole file. A Hugging Face repo id not in the local cache
    cannot be hashed; it is accepted when engine.json names the same repo as the export's source.

    Returns:
        What was compared, for :meth:`OnnxDepthModel.describe` (the node's start-up line).

    Raises:
        CheckpointError: another checkpoint (naming both digests and the export command that rebuilds
            the engine), an unreadable checkpoint, or an engine.json without the digest.
    """
    entry = meta.get("checkpoint")
    recorded: dict[str, Any] = entry if isinstance(entry, dict) else {}
    expected = recorded.get("sha256")
    if not isinstance(expected, str) or not expected:
        raise CheckpointError(f"{engine_dir / ENGINE_JSON} records no checkpoint sha256, so it cannot be checked "
                              f"against checkpoint {checkpoint}; re-export it: "
                              f"{export_command(meta, checkpoint, engine_dir)}")
    text = str(checkpoint)
    try:
        path = checkpoint_file(text, download=False)
    except CheckpointError:
        same_repo = recorded.get("source") == f"hf://{text}"
        if same_repo and not Path(text).expanduser().exists() and looks_like_repo_id(text):
            return f"checkpoint {text} not hashed (not in the local HF cache), engine.json names the same repo"
        raise
    try:
        actual = cached_sha256(path)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable ({exc.strerror or type(exc).__name__})") from exc
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {text} (sha256 {actual}) is not the one the engine in {engine_dir} was exported from "
            f"({recorded.get('file', '?')}, sha256 {expected}); rebuild the engine from this checkpoint: "
            f"{export_command(meta, text, engine_dir)} (or point the engine folder at its own export)")
    return f"checkpoint {path.name} matches the engine (sha256 {actual[:12]}...)"


class OnnxDepthModel(DepthModel):
    """A LingBot-Depth ONNX engine folder ready for :meth:`infer`.

    Args:
        engine_dir: folder written by ``lingbot-depth-export CHECKPOINT OUT_DIR --onnx``.
        providers: ONNX Runtime execution providers in order of preference (names or 'A,B,C').
        trt_cache_dir: TensorRT engine/timing cache folder ('' = ``<engine_dir>/trt_cache``).
        device: torch device for pre/post-processing: 'auto' = CUDA when a GPU provider runs and
            torch sees CUDA, else the CPU.
        checkpoint: the checkpoint the engine must come from ('' = not checked): its sha256 (cached,
            see :func:`verify_engine_checkpoint`) must equal the one engine.json records.

    Raises:
        CheckpointError: not an engine folder, or exported from another checkpoint.
        ConfigError: no usable provider / bad device.
    """

    def __init__(self, engine_dir: str | Path, *, providers: str | Sequence[str] = DEFAULT_PROVIDERS,
                 trt_cache_dir: str | Path = "", device: str = "auto", checkpoint: str | Path = "") -> None:
        import onnxruntime as ort
        self.meta = read_engine_meta(engine_dir)
        self.engine_dir = Path(engine_dir).expanduser()
        self.notes: list[str] = []
        self.checkpoint_check = ""  # what verify_engine_checkpoint compared ('' = no checkpoint given)
        if str(checkpoint).strip():
            self.checkpoint_check = verify_engine_checkpoint(self.meta, self.engine_dir, checkpoint)
            self.notes.append(self.checkpoint_check)
        pre = self.meta["preprocessing"]
        self.preprocessor = Preprocessor(pre["patch_size"], pre["num_tokens_range"], pre["remap_depth_in"],
                                         pre["mean"], pre["std"])
        self.level = int(self.meta["resolution_level"])
        self.num_tokens = int(self.meta["num_tokens"])
        self.size_wh = tuple(int(v) for v in self.meta["image_size_wh"])
        self.precision = self.meta["precision"]
        self.source = f"ONNX engine {self.engine_dir}"
        self.token_path = "mask"
        self.transfers = TransferCounter()
        self._autocast_dtype = None
        self.requested_providers = parse_providers(providers)
        self.available_providers = list(ort.get_available_providers())
        chosen = choose_providers(self.requested_providers, self.available_providers)
        gpu = any(p in GPU_PROVIDERS for p in chosen)
        if device == "auto":
            self.device = torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")
        else:
            self.device = resolve_device(device)
        cache = Path(trt_cache_dir).expanduser() if str(trt_cache_dir) else self.engine_dir / "trt_cache"
        options = []
        for name in chosen:
            if name == "TensorrtExecutionProvider":
                cache.mkdir(parents=True, exist_ok=True)
                options.append({"trt_fp16_enable": self.precision == "fp16", "trt_engine_cache_enable": True,
                                "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
                                "trt_timing_cache_path": str(cache)})
            elif name == "CUDAExecutionProvider":
                options.append({"device_id": self.device.index or 0} if self.device.type == "cuda" else {})
            else:
                options.append({})
        self.trt_cache_dir = cache
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.sessions = {
                kind: ort.InferenceSession(str(self.engine_dir / self.meta["engines"][kind]["file"]),
                                           sess_options=session_options, providers=chosen, provider_options=options)
                for kind in ("completion", "monocular")}
        except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
            raise CheckpointError(f"{self.engine_dir}: ONNX Runtime cannot load the engine: "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        self.active_providers = list(self.sessions["completion"].get_providers())
        self._outputs = [o.name for o in self.sessions["completion"].get_outputs()]
        LOG.info("loaded %s", self.describe())

    # ------------------------------------------------------------------ DepthModel interface
    @property
    def effective_precision(self) -> str:
        return self.precision

    @property
    def has_mask_head(self) -> bool:
        return bool(self.meta["mask_head"])

    @property
    def provider(self) -> str:
        """The execution provider that runs the engine (the first one the session kept)."""
        return self.active_providers[0]

    def describe(self) -> str:
        w, h = self.size_wh
        missing = [p for p in self.requested_providers if p not in self.available_providers]
        text = (f"onnxruntime engine {self.engine_dir} ({w}x{h}, level {self.level}, {self.precision}) on "
                f"{self.provider}")
        if missing:
            text += f" (not installed: {', '.join(missing)})"
        text += f", pre/post-processing on {self.device}"
        return text + (f", {self.checkpoint_check}" if self.checkpoint_check else "")

    def prepare(self, rgb: np.ndarray | torch.Tensor, sparse_depth: np.ndarray | torch.Tensor | None = None, *,
                resolution_level: int | None = None, num_tokens: int | None = None,
                enable_depth_mask: bool = True) -> tuple[ModelInputs, bool]:
        """As :meth:`DepthModel.prepare`, for the engine's fixed size and level only."""
        self.check_budget(resolution_level, num_tokens)
        if not enable_depth_mask:
            raise ConfigError("the ONNX engines drop (mask) empty depth patches; enable_depth_mask=False is "
                              "torch-only")
        shape = getattr(rgb, "shape", ())
        hw = tuple(shape[-3:-1]) if isinstance(rgb, np.ndarray) else tuple(shape[-2:])
        if len(hw) == 2 and hw != (self.size_wh[1], self.size_wh[0]):
            w, h = self.size_wh
            raise InputError(f"the ONNX engine in {self.engine_dir} was exported for {w}x{h} "
                             f"images, this one is {hw[1]}x{hw[0]}; export one for it: lingbot-depth-export "
                             f"CHECKPOINT OUT_DIR --onnx --size {hw[1]}x{hw[0]} --level {self.level}")
        return super().prepare(rgb, sparse_depth, resolution_level=self.level)

    def check_budget(self, resolution_level: int | None, num_tokens: int | None = None) -> None:
        """ConfigError unless the level / token budget is the engine's (fixed at export)."""
        if resolution_level is not None and resolution_level != self.level:
            raise ConfigError(f"the ONNX engine in {self.engine_dir} was exported at resolution_level {self.level}; "
                              f"{resolution_level} needs its own export (lingbot-depth-export ... --onnx --level "
                              f"{resolution_level})")
        if num_tokens is not None and num_tokens != self.num_tokens:
            raise ConfigError(f"the ONNX engine in {self.engine_dir} has a fixed budget of {self.num_tokens} tokens; "
                              f"num_tokens {num_tokens} needs its own export")

    def infer(self, rgb: np.ndarray | torch.Tensor, sparse_depth: np.ndarray | torch.Tensor | None = None,
              intrinsics: Any = None, *, resolution_level: int | None = None, num_tokens: int | None = None,
              enable_depth_mask: bool = True, output: str = "numpy") -> dict[str, Any]:
        """As :meth:`DepthModel.infer` (level and size fixed by the engine)."""
        self.check_budget(resolution_level, num_tokens)
        return super().infer(rgb, sparse_depth, intrinsics, resolution_level=self.level,
                             enable_depth_mask=enable_depth_mask, output=output)

    def engine_for(self, inputs: ModelInputs) -> str:
        """'monocular' when no sample has a depth token, else 'completion'."""
        return "completion" if inputs.depth_keep is not None and bool(inputs.depth_keep.any()) else "monocular"

    def run_network(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """The engine for this batch; float32 (B, H, W) outputs on :attr:`device`."""
        kind = self.engine_for(inputs)
        feeds = {"image": inputs.image.float().contiguous()}
        if kind == "completion":
            assert inputs.depth_keep is not None, "engine_for: completion only with depth tokens"
            feeds["depth"] = inputs.depth.float().contiguous()
            feeds["depth_keep"] = inputs.depth_keep.contiguous()
        session = self.sessions[kind]
        try:
            outputs = self._run(session, feeds, inputs)
        except (RuntimeError, MemoryError):
            raise
        except Exception as exc:  # onnxruntime's own exception types derive from Exception only
            raise RuntimeError(f"onnxruntime ({self.provider}): {exc}") from exc
        result = {"depth": outputs[0]}
        if len(outputs) > 1:
            result["mask_prob"] = outputs[1]
        return result

    def _run(self, session: Any, feeds: dict[str, torch.Tensor], inputs: ModelInputs) -> list[torch.Tensor]:
        if self.device.type == "cuda" and self.provider in GPU_PROVIDERS:
            outputs = self._run_bound(session, feeds, inputs)
        else:
            if self.provider in GPU_PROVIDERS:  # host feeds to a GPU provider: ORT copies them up and back
                self.transfers.host_to_device_bytes += sum(t.nbytes for t in feeds.values())
            arrays = session.run(self._outputs, {k: v.cpu().numpy() for k, v in feeds.items()})
            if self.provider in GPU_PROVIDERS:
                self.transfers.device_to_host_bytes += sum(a.nbytes for a in arrays)
            outputs = [torch.from_numpy(a).to(self.device) for a in arrays]
        return outputs

    def _run_bound(self, session: Any, feeds: dict[str, torch.Tensor], inputs: ModelInputs) -> list[torch.Tensor]:
        """CUDA: bind torch's device buffers as the engine's inputs and outputs (no host copies)."""
        binding = session.io_binding()
        index = self.device.index or 0
        for name, tensor in feeds.items():
            dtype = np.bool_ if tensor.dtype == torch.bool else np.float32
            binding.bind_input(name, "cuda", index, dtype, list(tensor.shape), tensor.data_ptr())
        b = inputs.image.shape[0]
        h, w = inputs.out_hw
        outputs = [torch.empty((b, h, w), dtype=torch.float32, device=self.device) for _ in self._outputs]
        for name, tensor in zip(self._outputs, outputs):
            binding.bind_output(name, "cuda", index, np.float32, list(tensor.shape), tensor.data_ptr())
        torch.cuda.current_stream(self.device).synchronize()  # inputs written by torch's stream
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return outputs
