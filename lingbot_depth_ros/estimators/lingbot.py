"""The ``lingbot`` estimator: LingBot-Depth (our PyTorch implementation) for completion and monocular.

Completion feeds the sparse depth to the model; monocular feeds an all-zero depth map (every depth
token is then dropped), which is how the official model is meant to run without depth.

Backends: ``torch`` (the checkpoint, any size and level) or ``onnxruntime`` (an exported engine
folder: fixed size and level, providers TensorRT / CUDA / CPU). Either way the uint8 image and the
sparse depth go to the device once, preprocessing, the output resize and the validity run there,
and only the published depth (float32, NaN where invalid) comes back; asked with a ``CloudRequest``
(``estimate_batch(frames, cloud=...)``, the pipeline does when the cloud is on and the depth is not
aligned on the host), the cloud xyz is back-projected there too and downloaded with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lingbot_depth_ros.errors import CheckpointError, ConfigError, EstimatorError, EstimatorOutOfMemory, InputError
from lingbot_depth_ros.estimators.base import (
    COMPLETION,
    MONOCULAR,
    DepthEstimate,
    DepthEstimator,
    validate_rgb,
    validate_sparse,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.pointcloud import CloudPoints
from lingbot_depth_ros.param_spec import ParamSpec

if TYPE_CHECKING:
    from lingbot_depth_ros.model.device_cloud import CloudRequest
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    from lingbot_depth_ros.model.inference import DepthModel

PRECISIONS = ("bf16", "fp32")
BACKENDS = ("torch", "onnxruntime")
DEFAULT_PROVIDERS = "TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider"

P = ParamSpec
#: the lingbot estimator's options (node parameters ``lingbot.<option>``, CLI flags ``--<option>``)
OPTIONS: tuple[ParamSpec, ...] = (
    P("checkpoint", "", "LingBot-Depth checkpoint: a local model.pt / .safetensors path, or a Hugging "
      "Face repo id (e.g. robbyant/lingbot-depth-postrain-dc-vitl14) resolved through the local HF cache.",
      read_only=True),
    P("device", "auto", "Device for LingBot-Depth: auto (CUDA if available), cuda, cuda:N or cpu.", read_only=True),
    P("precision", "bf16", "bf16 (autocast on CUDA GPUs with native bf16, compute capability >= 8.0) or fp32. "
      "Older GPUs and the CPU always run fp32.",
      choices=PRECISIONS, read_only=True),
    P("resolution_level", 9, "Token budget level 0..9 (1200..3600 ViT tokens): lower is faster.",
      min=0, max=9),
    P("backend", "torch", "torch (the checkpoint, any image size and level) or onnxruntime (an engine "
      "folder from lingbot-depth-export --onnx: fixed size and level, TensorRT/CUDA/CPU providers).",
      choices=BACKENDS, read_only=True),
    P("providers", DEFAULT_PROVIDERS,
      "onnxruntime backend: execution providers in order of preference; the installed ones are used "
      "(diagnostics 'estimator' says which one runs).", read_only=True),
    P("engine_dir", "", "onnxruntime backend (required there): folder written by lingbot-depth-export "
      "CHECKPOINT DIR --onnx (engine.json, model.onnx, model_monocular.onnx). With lingbot.checkpoint set too, "
      "the node refuses to start unless the checkpoint's sha256 is the one engine.json records (cached per file).",
      read_only=True),
    P("trt_cache_dir", "", "onnxruntime backend: TensorRT engine cache folder (built on the first run, "
      "minutes); empty = <engine_dir>/trt_cache.", read_only=True),
)


def _check_level(level: object) -> int:
    """``level`` if the ``resolution_level`` option's range takes it (ConfigError naming lingbot.resolution_level)."""
    spec = next(spec for spec in LingbotEstimator.node_params() if spec.name.endswith(".resolution_level"))
    problem = spec.check(level)
    if problem is not None:
        raise ConfigError(problem)
    assert isinstance(level, int)  # the spec checked its type
    return level


def _check_tokens(num_tokens: object) -> int | None:
    if num_tokens is None:
        return None
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens <= 0:
        raise ConfigError(f"num_tokens must be a positive integer (or unset), got {num_tokens!r}")
    return num_tokens


class LingbotEstimator(DepthEstimator):
    """LingBot-Depth loaded from an official checkpoint.

    Options: :data:`OPTIONS` (keywords of the constructor, node parameters ``lingbot.<option>``):
    ``checkpoint`` (also the first positional argument) is a ``model.pt`` / ``model.safetensors``
    (+ ``config.json``) / a directory, or a Hugging Face repo id (downloaded into the HF cache when online);
    ``precision`` bf16 autocasts on CUDA only (the CPU runs float32); ``backend`` onnxruntime needs
    ``engine_dir`` (``checkpoint`` is then not loaded, only compared with the sha256 the engine records when
    given: another checkpoint is refused); ``providers`` are used in order where installed (``describe()``
    says which one runs); ``trt_cache_dir`` '' = ``<engine_dir>/trt_cache``. ``resolution_level`` left out
    (or None): the table's default with torch, the engine's level with onnxruntime (the CLI's default).

    Args:
        checkpoint: the ``checkpoint`` option.
        num_tokens: explicit token budget, overrides ``resolution_level`` when set (not a node parameter).
        options: the other options of :data:`OPTIONS`.

    Raises:
        CheckpointError: the checkpoint (engine folder) is missing, unsafe, or does not match its
            config (the message names the file and the problem).
        ConfigError: an unknown option, a value outside its range or choices, an unusable device or providers,
            a bad token count.
    """

    name = "lingbot"
    summary = "LingBot-Depth network"
    supported_modes = frozenset({COMPLETION, MONOCULAR})
    options = OPTIONS
    live_options = frozenset({"resolution_level"})  # settable between frames (the rate governor, ros2 param set)
    requires = ("torch",)
    learned = True  # weights: checked by the LiDAR agreement guard
    device_cloud = True  # estimate_batch(..., cloud=CloudRequest) makes the cloud on the model's device

    def __init__(self, checkpoint: str | None = None, *, num_tokens: int | None = None, **options: Any) -> None:
        o = self.resolve_options({"checkpoint": checkpoint, **options})
        level_given = options.get("resolution_level") is not None
        self._resolution_level: int = o["resolution_level"]
        self._num_tokens = _check_tokens(num_tokens)
        self.backend: str = o["backend"]
        #: the ONNX engine (backend onnxruntime; also :attr:`model`), whose level and token budget are fixed
        self.engine: OnnxDepthModel | None = None
        self.model: DepthModel
        device, precision = o["device"], o["precision"]
        if self.backend == "onnxruntime":
            from lingbot_depth_ros.optional import require
            require("lingbot.backend onnxruntime", "torch", "onnxruntime")
            from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
            self.checkpoint = o["engine_dir"]
            self.model = self.engine = OnnxDepthModel(o["engine_dir"], providers=o["providers"],
                                                      trt_cache_dir=o["trt_cache_dir"], device=device,
                                                      checkpoint=o["checkpoint"])
            if not level_given:
                self._resolution_level = self.engine.level
            self.engine.check_budget(self._resolution_level, self._num_tokens)
            return
        if not o["checkpoint"]:
            raise CheckpointError("the lingbot estimator needs a checkpoint: a path to model.pt or a Hugging "
                                  "Face repo id such as robbyant/lingbot-depth-pretrain-vitl-14-v0.5")
        try:
            from lingbot_depth_ros.model.factory import load_model
        except ImportError as exc:
            raise CheckpointError(f"the lingbot estimator needs torch (pip install -r requirements.txt -r "
                                  f"requirements-model.txt): {exc}") from exc
        self.checkpoint = o["checkpoint"]
        self.model = load_model(self.checkpoint, device=device, precision=precision)

    @property
    def resolution_level(self) -> int | None:
        """Token budget level 0..9 used by the next frame (settable at runtime).

        None with the onnxruntime backend: its level is fixed by the engine (:attr:`available_levels`),
        so the node's rate governor and out-of-memory level step stay off; setting another level
        raises ConfigError.
        """
        return None if self.backend == "onnxruntime" else self._resolution_level

    @resolution_level.setter
    def resolution_level(self, level: int) -> None:
        level = _check_level(level)
        if self.engine is not None:
            self.engine.check_budget(level)  # ConfigError: the engine's level is fixed at export
        self._resolution_level = level

    @property
    def available_levels(self) -> tuple[int, ...]:
        """Levels :attr:`resolution_level` accepts: 0..9 (torch), the exported one (onnxruntime)."""
        return (self.engine.level,) if self.engine is not None else tuple(range(10))

    @property
    def num_tokens(self) -> int | None:
        """Explicit token budget overriding ``resolution_level`` (None = use the level)."""
        return self._num_tokens

    @num_tokens.setter
    def num_tokens(self, value: int | None) -> None:
        value = _check_tokens(value)
        if self.engine is not None:
            self.engine.check_budget(None, value)
        self._num_tokens = value

    def describe(self) -> str:
        return f"lingbot: {self.model.describe()}, {self._budget_text()}"

    def _estimate(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
                  intrinsics: CameraIntrinsics | None) -> DepthEstimate:
        return self._run(rgb, sparse_depth_m)[0]

    def estimate_batch(self, frames: Sequence[tuple[np.ndarray, np.ndarray | None, CameraIntrinsics | None]],
                       cloud: CloudRequest | None = None) -> list[DepthEstimate]:
        """Several frames in as few forwards as possible: one per (image size, completion/monocular) group.

        Args:
            frames: (rgb (H, W, 3) uint8, sparse_depth_m (H, W) float32 [m] or None, intrinsics or None)
                per frame (``EstimatorInput`` or plain tuples), as for :meth:`estimate`.
            cloud: also make each frame's cloud on the device (``DepthEstimate.cloud``); the depth is then
                already limited to the request's ``depth_min_m``/``depth_max_m`` (NaN outside). Needs intrinsics.

        Returns:
            One DepthEstimate per frame, in the order given (same values as :meth:`estimate` per frame,
            up to float rounding of the batched kernels).

        Raises:
            InputError: a malformed frame (nothing is run). EstimatorError / EstimatorOutOfMemory.
        """
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, (rgb, sparse, intrinsics) in enumerate(frames):
            self._validate(rgb, sparse, intrinsics)
            if cloud is not None and intrinsics is None:
                raise InputError("the device cloud needs the intrinsics of every frame")
            groups[(rgb.shape, sparse is None)].append(index)
        results: list[DepthEstimate | None] = [None] * len(frames)
        for (_, monocular), indices in groups.items():
            rgb = np.stack([frames[i][0] for i in indices])
            sparse = None if monocular else np.stack([np.asarray(frames[i][1], np.float32) for i in indices])
            # with a cloud request every frame has intrinsics (checked above)
            cameras = [k for k in (frames[i][2] for i in indices) if k is not None] if cloud is not None else None
            for index, estimate in zip(indices, self._run(rgb, sparse, cameras, cloud)):
                given = frames[index][1]
                if given is not None:  # what the output was completed from (the confidence's LiDAR support)
                    estimate.cues.setdefault("sparse_input", given)
                results[index] = estimate
        return results  # type: ignore[return-value]

    def _validate(self, rgb: np.ndarray, sparse: np.ndarray | None, intrinsics: CameraIntrinsics | None) -> None:
        validate_rgb(rgb)
        if sparse is not None:
            validate_sparse(sparse, rgb.shape[:2])
        if intrinsics is not None and (intrinsics.width, intrinsics.height) != (rgb.shape[1], rgb.shape[0]):
            raise InputError(f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the image is "
                             f"{rgb.shape[1]}x{rgb.shape[0]}")

    def _run(self, rgb: np.ndarray, sparse_depth_m: np.ndarray | None,
             intrinsics: list[CameraIntrinsics] | None = None, cloud: CloudRequest | None = None
             ) -> list[DepthEstimate]:
        """(H, W, 3) or (B, H, W, 3) frames -> one estimate each; downloads only depth (NaN = invalid), and
        with ``cloud`` (and one intrinsics per frame) the cloud xyz made on the device."""
        xyz = keep = mask_prob = None
        try:  # the device -> host copies: the published depth, 4 B/px (+ the cloud xyz, 12 B per point; + the mask
            # probability, 4 B/px, only with confidence_cues)
            if cloud is None:
                depth, mask_prob = self.model.infer_published_cues(
                    rgb, sparse_depth_m, resolution_level=self._resolution_level, num_tokens=self._num_tokens,
                    mask_prob=self.confidence_cues)
            else:
                if intrinsics is None:
                    raise InputError("the device cloud needs the intrinsics of every frame")
                probs: list[np.ndarray] | None = [] if self.confidence_cues else None
                depth, xyz, keep = self.model.infer_published_cloud(
                    rgb, sparse_depth_m, intrinsics, cloud, resolution_level=self._resolution_level,
                    num_tokens=self._num_tokens, mask_prob_out=probs)
                mask_prob = probs[0] if probs else None
        except (InputError, ConfigError):
            raise
        except (RuntimeError, MemoryError) as exc:  # CUDA OOM, driver errors
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if _is_out_of_memory(exc):
                _release_cached_memory()
                raise EstimatorOutOfMemory(f"LingBot-Depth ran out of memory on {self.model.device} at "
                                           f"{self._budget_text()} ({detail})") from exc
            raise EstimatorError(f"LingBot-Depth inference failed on {self.model.device}: {detail}") from exc
        if depth.ndim == 2:
            depth = depth[None]
        probs_per_frame: list[dict[str, np.ndarray]] = [{} for _ in depth]
        if mask_prob is not None:
            for cues, prob in zip(probs_per_frame, mask_prob.reshape(depth.shape)):
                cues["mask_prob"] = prob
        if xyz is None or cloud is None:
            return [DepthEstimate(depth_m=d, valid=np.isfinite(d), cues=c) for d, c in zip(depth, probs_per_frame)]
        images = rgb if rgb.ndim == 4 else rgb[None]
        estimates = []
        for i, d in enumerate(depth):
            colours = None
            if cloud.colours:
                colours = np.ascontiguousarray(images[i, ::cloud.stride, ::cloud.stride, :3])
                if keep is not None:
                    colours = colours[keep[i]]
            estimates.append(DepthEstimate(depth_m=d, valid=np.isfinite(d), cloud=CloudPoints(xyz[i], colours),
                                           cues=probs_per_frame[i]))
        return estimates

    def _budget_text(self) -> str:
        return f"num_tokens={self._num_tokens}" if self._num_tokens else f"resolution_level={self._resolution_level}"


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "failed to allocate memory" in text


def _release_cached_memory() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
