"""Shared machinery of the estimators that load Hugging Face checkpoints (transformers / diffusers).

* :func:`resolve_hf_checkpoint` — ``<name>.checkpoint`` -> a local folder in the Hugging Face layout:
  either that folder itself, or a repo id resolved through the local Hugging Face cache exactly like
  ``lingbot.checkpoint`` (a cached snapshot wins and needs no network; only a missing one is
  downloaded, never when ``HF_HUB_OFFLINE`` is set).
* :func:`resolve_precision` — ``fp32 | fp16 | bf16`` -> the torch dtype the model runs in on its device
  (reduced precision only on CUDA; bf16 only where the GPU has native bf16; the CPU always runs fp32).
* :func:`device_and_dtype`, :func:`run_guarded`, :func:`short_error` — device/precision, inference
  guard and one-line errors, also used by the estimators that do not fit :class:`HFDepthEstimator`
  (``depth_pro``, ``marigold``).
* :class:`HFDepthEstimator` — loading (model class + image processor, local files only), device,
  dtype, out-of-memory handling and ``describe()`` for the concrete estimators.

torch and transformers are imported lazily by the estimator factories through
:func:`lingbot_depth_ros.optional.require`, so none of this is needed for ``classical``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError, EstimatorError, EstimatorOutOfMemory
from lingbot_depth_ros.estimators.base import DepthEstimator
from lingbot_depth_ros.param_spec import ParamSpec

LOG = logging.getLogger(__name__)
T = TypeVar("T")

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES_HELP = "'auto' (CUDA if available), 'cuda', 'cuda:N' or 'cpu'"
#: files that mark a folder as a Hugging Face model (transformers) or pipeline (diffusers)
MODEL_MARKERS = ("config.json",)
PIPELINE_MARKERS = ("model_index.json",)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def snapshot_from_hub(repo_id: str, estimator: str, *, cache_dir: str | Path | None = None,
                      revision: str | None = None) -> Path:
    """Local folder of Hugging Face model repo ``repo_id`` (its cached snapshot; downloaded if missing).

    A cached snapshot is used without contacting the Hub (instant, offline-safe, and the robot keeps
    the weights it was tested with). With ``HF_HUB_OFFLINE`` set nothing is downloaded.

    Raises:
        CheckpointError: huggingface_hub missing, or the repo is neither cached nor downloadable.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise CheckpointError(f"'{repo_id}' looks like a Hugging Face repo id but huggingface_hub is not "
                              "installed (pip install huggingface_hub); or pass a local checkpoint folder") from exc
    kwargs: dict[str, Any] = {"repo_id": repo_id, "repo_type": "model", "revision": revision,
                              "cache_dir": None if cache_dir is None else str(cache_dir)}
    try:
        return Path(snapshot_download(**kwargs, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - not cached (or cache unreadable): try the network below
        cache_miss = exc
    try:
        if _offline():  # read at call time: no retries against an unreachable Hub
            raise cache_miss
        return Path(snapshot_download(**kwargs))
    except Exception as exc:  # offline, unknown or gated repo, disk full: one clear message
        detail = str(exc).splitlines()[0] if str(exc) else "no details"
        raise CheckpointError(
            f"{estimator}.checkpoint: could not get Hugging Face repo '{repo_id}' ({type(exc).__name__}: {detail}). "
            f"If this machine is offline, download it elsewhere (hf download {repo_id}) and either copy the "
            f"Hugging Face cache (HF_HOME, default ~/.cache/huggingface) here or pass the downloaded folder, "
            f"e.g. {estimator}.checkpoint:=/path/to/folder") from exc


def resolve_hf_checkpoint(checkpoint: str | Path | None, estimator: str, example_repo: str, *,
                          markers: tuple[str, ...] = MODEL_MARKERS,
                          cache_dir: str | Path | None = None) -> tuple[Path, str]:
    """``(folder, source)`` of a checkpoint given as a local folder or a Hugging Face repo id.

    Args:
        checkpoint: a folder in the Hugging Face layout (``config.json`` + weights + processor config),
            or a repo id ``owner/name`` (resolved through the local HF cache, see :func:`snapshot_from_hub`).
        estimator: estimator name, for messages (``depth_anything.checkpoint ...``).
        example_repo: a repo id to suggest when nothing is given.
        markers: files of which the folder must hold at least one.
        cache_dir: Hugging Face hub cache (default: huggingface_hub's, from HF_HOME / HF_HUB_CACHE).

    Returns:
        The folder and a source string for logs (the folder, or ``hf://owner/name``).

    Raises:
        CheckpointError: nothing given, a file instead of a folder, a folder without the marker
            files, or a repo id that is neither cached nor downloadable.
    """
    text = "" if checkpoint is None else str(checkpoint).strip()
    if not text:
        raise CheckpointError(f"estimator '{estimator}' needs {estimator}.checkpoint: a local folder in the "
                              f"Hugging Face layout or a repo id such as {example_repo} (resolved through the "
                              "local Hugging Face cache)")
    path = Path(text).expanduser()
    source = str(path)
    if not path.exists():
        from lingbot_depth_ros.model.checkpoint import looks_like_repo_id
        if not looks_like_repo_id(text):
            raise CheckpointError(f"{estimator}.checkpoint: folder not found: {path} (give a Hugging Face "
                                  f"checkpoint folder or a repo id such as {example_repo})")
        path, source = snapshot_from_hub(text, estimator, cache_dir=cache_dir), f"hf://{text}"
    if not path.is_dir():
        raise CheckpointError(f"{estimator}.checkpoint: {path} is a file; give the checkpoint folder (the one "
                              f"holding {' / '.join(markers)} and the weights) or a repo id")
    if not any((path / marker).is_file() for marker in markers):
        raise CheckpointError(f"{estimator}.checkpoint: {path} holds no {' / '.join(markers)}: not a Hugging "
                              f"Face checkpoint folder (download one with: hf download {example_repo})")
    return path, source


def read_model_type(folder: Path, estimator: str, expected: tuple[str, ...]) -> dict[str, Any]:
    """The folder's ``config.json`` as a dict, after checking its ``model_type`` is one of ``expected``.

    Raises:
        CheckpointError: unreadable config, or a model of another family (names both).
    """
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: unreadable ({exc})") from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in expected:
        raise CheckpointError(f"{estimator}.checkpoint {folder} holds a '{model_type}' model; estimator "
                              f"'{estimator}' loads {' / '.join(repr(t) for t in expected)} checkpoints")
    return config


def resolve_precision(precision: str, device: Any) -> tuple[Any, str]:
    """``(torch dtype, effective precision)`` for ``precision`` on ``device`` (a torch.device).

    fp16 and bf16 run only on CUDA (bf16 only with native support, compute capability >= 8.0);
    elsewhere the model runs fp32 (logged).

    Raises:
        ConfigError: an unknown precision.
    """
    import torch

    from lingbot_depth_ros.model.inference import cuda_bf16_native
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return torch.float32, "fp32"
    if device.type != "cuda":
        LOG.info("precision %s runs only on CUDA; %s runs fp32", precision, device)
        return torch.float32, "fp32"
    if precision == "bf16" and not cuda_bf16_native(device):
        LOG.info("precision bf16 needs native bf16 (compute capability >= 8.0); %s runs fp32", device)
        return torch.float32, "fp32"
    return (torch.float16, "fp16") if precision == "fp16" else (torch.bfloat16, "bf16")


def _quiet_transformers() -> Callable[[], None]:
    """Silence transformers' informational warnings while loading (e.g. the torchvision fallback)."""
    from transformers.utils import logging as hf_logging
    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the node's log

    def restore() -> None:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()
    return restore


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device or host out-of-memory error."""
    import torch
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def short_error(exc: BaseException) -> str:
    """``Type: first line`` of an exception, for one-line messages."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}"


def device_and_dtype(device: str, precision: str) -> tuple[Any, Any, str]:
    """``(torch.device, torch dtype, effective precision)`` (reduced precision only on CUDA).

    Raises:
        ConfigError: unavailable device or unknown precision.
    """
    from lingbot_depth_ros.model.inference import resolve_device
    dev = resolve_device(device)
    dtype, effective = resolve_precision(precision, dev)
    return dev, dtype, effective


def run_guarded(fn: Callable[[], T], label: str, device: Any) -> T:
    """``fn()``, with runtime failures turned into EstimatorOutOfMemory / EstimatorError naming ``label``.

    Raises:
        EstimatorOutOfMemory: device or host memory exhausted (cached CUDA memory released).
        EstimatorError: any other runtime failure.
    """
    try:
        return fn()
    except (RuntimeError, MemoryError) as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if is_out_of_memory(exc):
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EstimatorOutOfMemory(f"{label} ran out of memory on {device} ({detail})") from exc
        raise EstimatorError(f"{label} inference failed on {device}: {detail}") from exc


def hf_options(label: str, checkpoint: str, checkpoint_text: str, precision_text: str) -> tuple[ParamSpec, ...]:
    """The ``checkpoint``, ``device`` and ``precision`` options of an estimator that loads a Hugging Face
    checkpoint (``label``: its name for people, e.g. "Depth Pro"; ``checkpoint``: the default repo id)."""
    return (ParamSpec("checkpoint", checkpoint, checkpoint_text, read_only=True),
            ParamSpec("device", "auto", f"Device for {label}: auto (CUDA if available), cuda, cuda:N or cpu.",
                      read_only=True),
            ParamSpec("precision", "bf16", precision_text, choices=PRECISIONS, read_only=True))


class HFDepthEstimator(DepthEstimator):
    """Base of the transformers depth estimators: checkpoint, device, precision, inference guard.

    Subclasses set ``name``, ``supported_modes``, ``options`` (starting with :func:`hf_options`),
    ``model_types`` (accepted ``config.json`` ``model_type`` values), ``model_class`` (transformers class
    name), and implement ``_estimate`` using :meth:`run_model`.

    Args:
        options: the subclass's resolved options (:meth:`resolve_options`), of which this reads
            ``checkpoint`` (a local folder in the Hugging Face layout or a repo id, see
            :func:`resolve_hf_checkpoint`), ``device`` and ``precision`` (see :func:`resolve_precision`).
        cache_dir: Hugging Face hub cache for repo ids (default: huggingface_hub's).

    Raises:
        CheckpointError: missing folder, wrong model family, or files transformers cannot load.
        ConfigError: unusable device or precision.
    """

    model_types: tuple[str, ...] = ()
    model_class: str = ""

    def __init__(self, options: Mapping[str, Any], cache_dir: str | Path | None = None) -> None:
        import torch
        import transformers

        self.device, self.dtype, self.precision = device_and_dtype(options["device"], options["precision"])
        self.folder, self.source = resolve_hf_checkpoint(options["checkpoint"], self.name,
                                                         self.option_default("checkpoint"), cache_dir=cache_dir)
        self.config_dict = read_model_type(self.folder, self.name, self.model_types)
        restore = _quiet_transformers()
        try:
            model_cls = getattr(transformers, self.model_class)
            try:
                self.model = model_cls.from_pretrained(str(self.folder), local_files_only=True, dtype=self.dtype)
            except Exception as exc:
                raise CheckpointError(f"{self.name}.checkpoint {self.source}: transformers could not load it as "
                                      f"{self.model_class} ({short_error(exc)})") from exc
            if not (self.folder / "preprocessor_config.json").is_file():
                raise CheckpointError(f"{self.name}.checkpoint {self.source}: no preprocessor_config.json (the "
                                      "image processor settings of the checkpoint)")
            try:
                self.processor = transformers.AutoImageProcessor.from_pretrained(str(self.folder),
                                                                                 local_files_only=True)
            except Exception as exc:
                raise CheckpointError(f"{self.name}.checkpoint {self.source}: unreadable image processor config "
                                      f"({type(exc).__name__}: {exc})") from exc
        finally:
            restore()
        self.model = self.model.to(self.device).eval().requires_grad_(False)
        self._torch = torch

    def run_model(self, inputs: dict[str, Any]) -> Any:
        """Run the model on processor ``inputs`` (tensors moved to the device, floats cast to its dtype).

        Raises:
            EstimatorOutOfMemory: device or host memory exhausted (cached CUDA memory released).
            EstimatorError: any other runtime failure of the model.
        """
        torch = self._torch
        moved = {key: (value.to(self.device, dtype=self.dtype) if value.is_floating_point() else value.to(self.device))
                 if isinstance(value, torch.Tensor) else value for key, value in inputs.items()}

        def forward() -> Any:
            with torch.inference_mode():
                return self.model(**moved)
        return run_guarded(forward, self.name, self.device)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        """(H, W) float32 numpy array of a model output tensor."""
        return tensor.detach().float().cpu().numpy().astype(np.float32, copy=False)

    def describe(self) -> str:
        return (f"{self.name}: {self.config_dict.get('model_type')} ({self.output_kind}) from {self.source} "
                f"on {self.device} ({self.precision})")
