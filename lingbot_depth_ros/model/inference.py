"""Inference wrapper: numpy/torch inputs in, metric depth, validity and points out.

:class:`DepthModel` owns a built network and its :class:`Preprocessor`, keeps everything on one
device, and runs the network under bf16 autocast on CUDA GPUs with native bf16 when asked (float32 otherwise).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.model.device_cloud import CloudRequest, cloud_xyz, published_depth
from lingbot_depth_ros.model.network.mdm import MDMNetwork
from lingbot_depth_ros.model.preprocess import ModelInputs, Preprocessor

LOG = logging.getLogger(__name__)
PRECISIONS = ("bf16", "fp32")
MASK_THRESHOLD = 0.5
TOKEN_PATHS = ("drop", "mask")

IntrinsicsLike = CameraIntrinsics | Sequence[CameraIntrinsics] | np.ndarray | torch.Tensor


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> CUDA when available, else CPU. Raises ConfigError for an unavailable device."""
    text = str(device)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {text!r}; use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {text!r} requested but CUDA is not available to torch "
                          f"{torch.__version__} on this machine; use device 'cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {text!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {text!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def cuda_bf16_native(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with native bf16 arithmetic (compute capability >= 8.0, Ampere on)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_dtype(device_type: str, precision: str, cuda_bf16_supported: bool) -> torch.dtype | None:
    """The dtype the network runs under autocast, or None for plain float32.

    bf16 only for ``precision`` 'bf16' on a ``device_type`` 'cuda' GPU with native bf16
    (``cuda_bf16_supported``); older GPUs (emulated bf16 is slower than float32) and the CPU run float32.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16" and device_type == "cuda" and cuda_bf16_supported:
        return torch.bfloat16
    return None


def backproject_torch(depth_m: torch.Tensor, valid: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, H, W) depth [m] + (B, 3, 3) pixel K -> (B, H, W, 3) optical-frame points [m], NaN if invalid.

    Pixel centres sit at integer coordinates (u = column, v = row), as in sensor_msgs/CameraInfo.
    """
    b, h, w = depth_m.shape
    k = k.to(depth_m.device, torch.float32)
    u = torch.arange(w, device=depth_m.device, dtype=torch.float32)[None, None, :]
    v = torch.arange(h, device=depth_m.device, dtype=torch.float32)[None, :, None]
    fx, fy = k[:, 0, 0, None, None], k[:, 1, 1, None, None]
    cx, cy = k[:, 0, 2, None, None], k[:, 1, 2, None, None]
    z = torch.where(valid, depth_m, torch.full_like(depth_m, float("nan")))
    return torch.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], dim=-1)


@dataclass
class TransferCounter:
    """Bytes across the host/device boundary (uploads of inputs, downloads of results).

    Counted where the data crosses it in the code (numpy -> device tensor, device tensor -> numpy),
    also when the device is the CPU (where those are no-copy views), so CPU runs show what a GPU
    would move. ``frames`` counts images (batch samples).
    """

    host_to_device_bytes: int = 0
    device_to_host_bytes: int = 0
    frames: int = 0

    def reset(self) -> None:
        self.host_to_device_bytes = self.device_to_host_bytes = self.frames = 0

    def per_frame_mb(self) -> tuple[float, float]:
        """(upload, download) MB per frame (1 MB = 1e6 bytes)."""
        n = max(self.frames, 1)
        return self.host_to_device_bytes / n / 1e6, self.device_to_host_bytes / n / 1e6


class DepthModel:
    """A loaded LingBot-Depth network ready for :meth:`infer`.

    Args:
        network: the built (and usually loaded) network, already on ``device``.
        preprocessor: the matching preprocessing (from ``build_model``).
        device: torch device of the network.
        precision: 'bf16' (autocast on CUDA; CPU runs float32) or 'fp32'.
        source: where the weights came from (for logs).
        token_path: 'drop' removes the depth tokens of empty patches (variable sequence length, the
            official path); 'mask' keeps them masked as attention keys (fixed length 1 + 2*rows*cols,
            monocular 1 + rows*cols; same result, for graph capture / engines).
    """

    def __init__(self, network: MDMNetwork, preprocessor: Preprocessor, *, device: torch.device | str,
                 precision: str = "bf16", source: str = "(random weights)", notes: Sequence[str] = (),
                 token_path: str = "drop") -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if token_path not in TOKEN_PATHS:
            raise ConfigError(f"token_path must be one of {TOKEN_PATHS}, got {token_path!r}")
        self.token_path = token_path
        self.transfers = TransferCounter()
        self.network = network.eval()
        self.preprocessor = preprocessor
        self.device = torch.device(device)
        self.precision = precision
        self.source = source
        self.notes = list(notes)
        self._autocast_dtype = autocast_dtype(self.device.type, precision, cuda_bf16_native(self.device))
        if precision == "bf16" and self._autocast_dtype is None:
            LOG.info("precision bf16 needs a CUDA device with native bf16 (compute capability >= 8.0); "
                     "running float32 on %s", self.device)

    @property
    def effective_precision(self) -> str:
        return "bf16" if self._autocast_dtype == torch.bfloat16 else "fp32"

    @property
    def has_mask_head(self) -> bool:
        return self.network.mask_head is not None

    def describe(self) -> str:
        cfg = self.network.cfg.encoder.backbone
        arch = cfg.hub_name or f"ViT D={cfg.embed_dim} x{cfg.depth}"
        return f"{arch} from {self.source} on {self.device} ({self.effective_precision})"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context the network runs under (see :func:`autocast_dtype`; none = float32)."""
        if self._autocast_dtype is not None:
            return torch.autocast(device_type=self.device.type, dtype=self._autocast_dtype)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ input conversion
    def _image_tensor(self, rgb: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
        """-> ((B, 3, H, W) float32 in [0, 1] on device, batched?)."""
        if isinstance(rgb, np.ndarray):
            if rgb.dtype != np.uint8 or rgb.ndim not in (3, 4) or rgb.shape[-1] != 3:
                raise InputError(f"rgb must be (H, W, 3) or (B, H, W, 3) uint8, got shape {rgb.shape} "
                                 f"dtype {rgb.dtype}")
            batched = rgb.ndim == 4
            tensor = torch.from_numpy(np.ascontiguousarray(rgb if batched else rgb[None]))
            self.transfers.host_to_device_bytes += tensor.nbytes  # uint8 up: 3 B/px
            self.transfers.frames += tensor.shape[0]
            tensor = tensor.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
            return tensor, batched
        if isinstance(rgb, torch.Tensor):
            if rgb.ndim not in (3, 4) or rgb.shape[-3] != 3 or not rgb.is_floating_point():
                raise InputError(f"rgb tensor must be (3, H, W) or (B, 3, H, W) float in [0, 1], got "
                                 f"{tuple(rgb.shape)} {rgb.dtype}")
            batched = rgb.ndim == 4
            return (rgb if batched else rgb[None]).to(self.device, torch.float32), batched
        raise InputError(f"rgb must be a numpy array or a torch tensor, got {type(rgb).__name__}")

    def _depth_tensor(self, depth: np.ndarray | torch.Tensor | None, shape: tuple[int, int, int]) -> torch.Tensor:
        """-> (B, H, W) float32 [m] on device; None -> zeros (monocular: every depth token dropped)."""
        if depth is None:
            return torch.zeros(shape, dtype=torch.float32, device=self.device)
        if isinstance(depth, np.ndarray):
            if depth.dtype.kind != "f":
                raise InputError(f"sparse depth must be float metres, got dtype {depth.dtype}")
            depth = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))
            self.transfers.host_to_device_bytes += depth.nbytes
        if not isinstance(depth, torch.Tensor):
            raise InputError(f"sparse depth must be a numpy array or a torch tensor, got {type(depth).__name__}")
        if depth.ndim == 2:
            depth = depth[None]
        if tuple(depth.shape) != shape:
            raise InputError(f"sparse depth shape {tuple(depth.shape)} does not match the image (B, H, W) = {shape}")
        return depth.to(self.device, torch.float32, non_blocking=True)

    @staticmethod
    def _k_tensor(intrinsics: IntrinsicsLike, b: int, h: int, w: int) -> torch.Tensor:
        """-> (B, 3, 3) float32 pixel camera matrices for images of w x h."""
        if isinstance(intrinsics, CameraIntrinsics):
            intrinsics = [intrinsics] * b
        if isinstance(intrinsics, (list, tuple)):
            if len(intrinsics) != b:
                raise InputError(f"got {len(intrinsics)} intrinsics for a batch of {b}")
            for intr in intrinsics:
                if (intr.width, intr.height) != (w, h):
                    raise InputError(f"intrinsics are for {intr.width}x{intr.height} but the image is {w}x{h}")
            return torch.tensor(np.stack([intr.matrix() for intr in intrinsics]), dtype=torch.float32)
        k = torch.as_tensor(np.asarray(intrinsics) if not isinstance(intrinsics, torch.Tensor) else intrinsics,
                            dtype=torch.float32)
        if k.shape == (3, 3):
            k = k[None].expand(b, 3, 3)
        if tuple(k.shape) != (b, 3, 3) or not bool(torch.isfinite(k).all()) or bool((k[:, 0, 0] <= 0).any()) \
                or bool((k[:, 1, 1] <= 0).any()):
            raise InputError(f"intrinsics must be (3, 3) or (B, 3, 3) pixel camera matrices with positive "
                             f"focal lengths, got shape {tuple(k.shape)}")
        return k

    # ------------------------------------------------------------------ inference
    def prepare(self, rgb: np.ndarray | torch.Tensor, sparse_depth: np.ndarray | torch.Tensor | None = None, *,
                resolution_level: int = 9, num_tokens: int | None = None,
                enable_depth_mask: bool = True) -> tuple[ModelInputs, bool]:
        """Convert and preprocess inputs on the model device; returns (inputs, batched?)."""
        image, batched = self._image_tensor(rgb)
        b, _, h, w = image.shape
        if h == 0 or w == 0:
            raise InputError(f"rgb image is empty ({w}x{h})")
        depth = self._depth_tensor(sparse_depth, (b, h, w))
        grid = self.preprocessor.grid(h, w, resolution_level=resolution_level, num_tokens=num_tokens)
        return self.preprocessor(image, depth, grid, enable_depth_mask=enable_depth_mask), batched

    @torch.inference_mode()
    def run_network(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """The network alone under this model's autocast; float32 (B, H, W) outputs on device."""
        with self.autocast():
            if self.token_path == "mask" and inputs.depth_keep is not None:
                if not bool(inputs.depth_keep.any()):  # monocular: no depth tokens (sequence 1 + rows*cols)
                    return self.network(inputs.image, None, None, inputs.out_hw)
                return self.network(inputs.image, inputs.depth, inputs.depth_keep, inputs.out_hw, key_padding=True)
            return self.network(inputs.image, inputs.depth, inputs.depth_keep, inputs.out_hw)

    @torch.inference_mode()
    def infer(self, rgb: np.ndarray | torch.Tensor, sparse_depth: np.ndarray | torch.Tensor | None = None,
              intrinsics: IntrinsicsLike | None = None, *, resolution_level: int = 9, num_tokens: int | None = None,
              enable_depth_mask: bool = True, output: str = "numpy") -> dict[str, Any]:
        """Dense metric depth for one image or a batch.

        Args:
            rgb: (H, W, 3) / (B, H, W, 3) uint8 RGB, or a (3, H, W) / (B, 3, H, W) float tensor in [0, 1].
            sparse_depth: (H, W) / (B, H, W) float depth [m], 0/NaN = no measurement. None (or all
                zeros) = monocular mode.
            intrinsics: CameraIntrinsics (one, or one per sample) or (3, 3) / (B, 3, 3) pixel K;
                when given, ``points_m`` is returned.
            resolution_level: 0..9 token budget within the config's ``num_tokens_range``.
            num_tokens: explicit token budget (overrides ``resolution_level``).
            enable_depth_mask: drop depth tokens of patches without any valid pixel (official
                default); False keeps every depth token (a numerically different input).
            output: 'numpy' (CPU arrays) or 'torch' (tensors on the model device).

        Returns:
            ``depth_m`` (H, W) float32 [m] (raw prediction, also where invalid), ``valid`` (H, W)
            bool (finite, > 0 and mask probability > 0.5 when the model has a mask head),
            ``mask_prob`` (H, W) float32 (mask head only), ``points_m`` (H, W, 3) float32 [m]
            in the camera optical frame, NaN where invalid (with intrinsics). Leading B dim when
            the input was batched.
        """
        if output not in ("numpy", "torch"):
            raise ConfigError(f"output must be 'numpy' or 'torch', got {output!r}")
        inputs, batched = self.prepare(rgb, sparse_depth, resolution_level=resolution_level,
                                       num_tokens=num_tokens, enable_depth_mask=enable_depth_mask)
        k = None
        if intrinsics is not None:
            b, (h, w) = inputs.image.shape[0], inputs.out_hw
            k = self._k_tensor(intrinsics, b, h, w)
        raw = self.run_network(inputs)
        depth = raw["depth"]
        valid = torch.isfinite(depth) & (depth > 0)
        result: dict[str, torch.Tensor] = {"depth_m": depth}
        if "mask_prob" in raw:
            valid &= raw["mask_prob"] > MASK_THRESHOLD
            result["mask_prob"] = raw["mask_prob"]
        result["valid"] = valid
        if k is not None:
            result["points_m"] = backproject_torch(depth, valid, k)
        if not batched:
            result = {key: value[0] for key, value in result.items()}
        if output == "numpy":
            self.transfers.device_to_host_bytes += sum(v.nbytes for v in result.values())
            return {key: value.cpu().numpy() for key, value in result.items()}
        return result

    def infer_published(self, rgb: np.ndarray, sparse_depth: np.ndarray | None = None, *, resolution_level: int = 9,
                        num_tokens: int | None = None) -> np.ndarray:
        """What the node publishes: (H, W) / (B, H, W) float32 depth [m], NaN where not valid.

        Everything (preprocessing, network, output resize, validity) runs on the device; the uint8
        image and the sparse depth go up once and this one float32 array comes back (4 B/px).
        """
        return self.infer_published_cues(rgb, sparse_depth, resolution_level=resolution_level, num_tokens=num_tokens,
                                         mask_prob=False)[0]

    def infer_published_cues(self, rgb: np.ndarray, sparse_depth: np.ndarray | None = None, *,
                             resolution_level: int = 9, num_tokens: int | None = None, mask_prob: bool = True
                             ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`infer_published` and, with ``mask_prob`` and a mask head, the mask head's probability of a
        valid pixel ((H, W) / (B, H, W) float32 in [0, 1], a confidence cue; one more 4 B/px download), else None.
        """
        out = self.infer(rgb, sparse_depth, resolution_level=resolution_level, num_tokens=num_tokens, output="torch")
        depth = out["depth_m"]
        published = self.download(torch.where(out["valid"], depth, torch.full_like(depth, float("nan"))))
        prob = out.get("mask_prob") if mask_prob else None
        return published, (self.download(prob) if prob is not None else None)

    def infer_published_cloud(self, rgb: np.ndarray, sparse_depth: np.ndarray | None, intrinsics: IntrinsicsLike,
                              request: CloudRequest, *, resolution_level: int = 9, num_tokens: int | None = None,
                              mask_prob_out: list[np.ndarray] | None = None
                              ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray] | None]:
        """The published depth and its cloud, both made on the device; only they are downloaded.

        Args:
            rgb, sparse_depth: as :meth:`infer_published` (batched (B, ...) or one frame).
            intrinsics: of ``rgb`` (one, one per sample, or (3, 3) / (B, 3, 3) pixel K).
            request: depth limits and cloud settings (:class:`CloudRequest`).

        Returns:
            ``depth`` (B, H, W) float32 [m], NaN where invalid or outside the request's depth limits (the
            depth the node publishes); ``xyz`` per frame: (h, w, 3) float32 [m] organized (NaN points) or
            (N, 3) valid points; ``keep`` per frame: (h, w) bool kept points, downloaded only for an
            unorganized cloud with colours (else None). Always batched (B = 1 for one frame).
            ``mask_prob_out``: a list that receives the (B, H, W) float32 mask probability (a confidence cue, see
            :meth:`infer_published_cues`) when the model has a mask head; None = not downloaded.
        """
        out = self.infer(rgb, sparse_depth, resolution_level=resolution_level, num_tokens=num_tokens, output="torch")
        if mask_prob_out is not None and "mask_prob" in out:
            prob = out["mask_prob"]
            mask_prob_out.append(self.download(prob if prob.ndim == 3 else prob[None]))
        depth_dev = published_depth(out["depth_m"], out["valid"], request.depth_min_m, request.depth_max_m)
        if depth_dev.ndim == 2:
            depth_dev = depth_dev[None]
        b, h, w = depth_dev.shape
        k = self._k_tensor(intrinsics, b, h, w).to(self.device)
        xyz_dev, keep_dev = cloud_xyz(depth_dev, k, request)
        depth = self.download(depth_dev)
        if request.organized:
            return depth, list(self.download(xyz_dev)), None
        xyz = [self.download(one[mask]) for one, mask in zip(xyz_dev, keep_dev)]
        keep = list(self.download(keep_dev)) if request.colours else None
        return depth, xyz, keep

    def download(self, tensor: torch.Tensor) -> np.ndarray:
        """Device tensor -> numpy, counted in :attr:`transfers`."""
        self.transfers.device_to_host_bytes += tensor.nbytes
        return tensor.cpu().numpy()
