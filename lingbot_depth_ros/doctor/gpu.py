"""GPU checks: torch and CUDA (device, memory, bf16), ONNX Runtime providers, TensorRT, the engine's fp16 (no rclpy).

Nothing here imports torch or onnxruntime unless installed; a node running a weight-free estimator needs neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lingbot_depth_ros.doctor.config import NodeConfig
from lingbot_depth_ros.doctor.install import dist_version, installed
from lingbot_depth_ros.doctor.report import FAIL, OK, WARN, Check

GROUP = "gpu"
GPU_README = "README 'GPU on the robot'"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
TENSORRT_DISTS = ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_libs", "tensorrt-libs")
BF16_CAPABILITY = (8, 0)
FP16_CAPABILITY = (5, 3)


@dataclass(frozen=True)
class CudaDevice:
    """What torch says of one CUDA device: name, compute capability, memory [bytes]."""

    index: int
    name: str
    capability: tuple[int, int]
    total_bytes: int
    free_bytes: int | None
    bf16: bool


TorchInfo = tuple[str, str | None, list[CudaDevice]]


def torch_devices() -> TorchInfo:
    """(torch version, its CUDA version or None for a CPU build, the CUDA devices torch sees). Needs torch."""
    import torch

    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            try:
                free: int | None = int(torch.cuda.mem_get_info(index)[0])
            except RuntimeError:
                free = None
            with torch.cuda.device(index):
                bf16 = bool(torch.cuda.is_bf16_supported())
            devices.append(CudaDevice(index, str(props.name), (int(props.major), int(props.minor)),
                                      int(props.total_memory), free, bf16))
    return str(torch.__version__), torch.version.cuda, devices


def _uses_torch_gpu(config: NodeConfig) -> tuple[bool, str]:
    """(whether the configured estimator runs torch on a device it picks, the device parameter's value)."""
    estimator = config.estimator
    device = str(config.values.get(f"{estimator}.device", "") or "")
    if estimator == "lingbot" and config.values.get("lingbot.backend") == "onnxruntime":
        return False, device
    return bool(device), device


def check_torch(config: NodeConfig, info: TorchInfo | None) -> Check:
    """torch present (``info``: :func:`torch_devices`, None when not installed), CUDA build, the devices (name,
    memory) vs what the estimator's ``device`` asks."""
    title = "torch / CUDA"
    uses_gpu, device = _uses_torch_gpu(config)
    if info is None:
        if uses_gpu:
            return Check("gpu.torch", GROUP, title, FAIL, f"torch not installed; estimator {config.estimator} needs it",
                         f"install a CUDA build of torch ({GPU_README})")
        return Check("gpu.torch", GROUP, title, OK, f"torch not installed (estimator {config.estimator} needs no GPU)")
    version, cuda, devices = info
    if devices:
        shown = "; ".join(f"cuda:{d.index} {d.name} (sm {d.capability[0]}.{d.capability[1]}, "
                          f"{d.total_bytes / 2**30:.1f} GiB" + (f", {d.free_bytes / 2**30:.1f} GiB free" if
                                                               d.free_bytes is not None else "") + ")"
                          for d in devices)
        summary = f"torch {version}, CUDA {cuda}: {shown}"
        wanted = _device_index(device)
        if wanted is not None and wanted >= len(devices):
            return Check("gpu.torch", GROUP, title, FAIL, summary + f"; {config.estimator}.device {device} does not "
                         "exist", f"set {config.estimator}.device to auto or cuda:0..cuda:{len(devices) - 1}")
        return Check("gpu.torch", GROUP, title, OK, summary)
    build = "a CPU-only build" if cuda is None else f"built for CUDA {cuda}, but no CUDA device is usable"
    summary = f"torch {version}, {build}"
    advice = (f"install the NVIDIA driver and a CUDA build of torch ({GPU_README})" if cuda is None else
              "check the NVIDIA driver (nvidia-smi) and that it supports CUDA " + str(cuda))
    if not uses_gpu:
        return Check("gpu.torch", GROUP, title, OK, summary + f" (estimator {config.estimator} needs no GPU)")
    if device.startswith("cuda"):
        return Check("gpu.torch", GROUP, title, FAIL, summary + f"; {config.estimator}.device is {device}", advice)
    if device == "cpu":
        return Check("gpu.torch", GROUP, title, OK, summary + f" ({config.estimator}.device cpu)")
    return Check("gpu.torch", GROUP, title, WARN, summary + f": {config.estimator} runs on the CPU (slow)", advice)


def _device_index(device: str) -> int | None:
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    return None


def onnx_providers() -> tuple[str, list[str]]:
    """(onnxruntime version, its available execution providers). Needs onnxruntime."""
    import onnxruntime

    return str(onnxruntime.__version__), list(onnxruntime.get_available_providers())


def requested_providers(config: NodeConfig) -> list[str]:
    """``lingbot.providers`` as a list (order of preference)."""
    return [p.strip() for p in str(config.values.get("lingbot.providers", "")).split(",") if p.strip()]


def _onnx_backend(config: NodeConfig) -> bool:
    return config.estimator == "lingbot" and config.values.get("lingbot.backend") == "onnxruntime"


def check_onnxruntime(config: NodeConfig, info: tuple[str, list[str]] | None) -> Check:
    """ONNX Runtime's providers (``info``: :func:`onnx_providers`, None when not installed) vs
    ``lingbot.providers`` (onnxruntime backend)."""
    title = "ONNX Runtime"
    used = _onnx_backend(config)
    if info is None:
        if used:
            return Check("gpu.onnxruntime", GROUP, title, FAIL, "not installed; lingbot.backend is onnxruntime",
                         "python3 -m pip install onnxruntime-gpu (CUDA / TensorRT) or onnxruntime (CPU)")
        return Check("gpu.onnxruntime", GROUP, title, OK,
                     "not installed (not used: lingbot.backend is not onnxruntime)")
    version, available = info
    summary = f"onnxruntime {version}, providers {', '.join(available)}"
    if not used:
        return Check("gpu.onnxruntime", GROUP, title, OK, summary)
    requested = requested_providers(config)
    chosen = [p for p in requested if p in available]
    if not chosen:
        return Check("gpu.onnxruntime", GROUP, title, FAIL, summary + f"; none of lingbot.providers "
                     f"{', '.join(requested)} is available", "pip install onnxruntime-gpu for CUDA/TensorRT, or add "
                     "CPUExecutionProvider to lingbot.providers")
    if chosen[0] not in GPU_PROVIDERS and any(p in GPU_PROVIDERS for p in requested):
        missing = [p for p in requested if p in GPU_PROVIDERS and p not in available]
        return Check("gpu.onnxruntime", GROUP, title, WARN, summary + f"; the engine runs on {chosen[0]} "
                     f"({', '.join(missing)} not available)", "python3 -m pip install onnxruntime-gpu (matching the "
                     "CUDA version) and the NVIDIA driver")
    return Check("gpu.onnxruntime", GROUP, title, OK, summary + f"; the engine runs on {chosen[0]}")


def check_tensorrt(config: NodeConfig, available_providers: list[str] | None) -> Check:
    """TensorRT's version, and whether ONNX Runtime can use it when lingbot.providers asks for it first."""
    title = "TensorRT"
    version = dist_version(TENSORRT_DISTS)
    provider = available_providers is not None and "TensorrtExecutionProvider" in available_providers
    summary = (f"TensorRT {version}" if version else "TensorRT Python package not installed") + \
        (", onnxruntime has TensorrtExecutionProvider" if provider else "")
    wants = _onnx_backend(config) and requested_providers(config)[:1] == ["TensorrtExecutionProvider"]
    if wants and not provider:
        return Check("gpu.tensorrt", GROUP, title, WARN, summary + "; lingbot.providers asks for TensorRT first",
                     "install onnxruntime-gpu and TensorRT (pip install tensorrt-cu12) to build TensorRT engines, "
                     "or drop TensorrtExecutionProvider from lingbot.providers")
    return Check("gpu.tensorrt", GROUP, title, OK, summary)


def engine_precision(config: NodeConfig) -> str | None:
    """``precision`` of the engine folder's engine.json (onnxruntime backend), None when unreadable."""
    folder = str(config.values.get("lingbot.engine_dir", "") or "").strip()
    if not folder:
        return None
    try:
        meta = json.loads((Path(folder).expanduser() / "engine.json").read_text())
    except (OSError, ValueError):
        return None
    value = meta.get("precision") if isinstance(meta, dict) else None
    return str(value) if value is not None else None


def check_precision(config: NodeConfig, devices: list[CudaDevice] | None, available_providers: list[str] | None
                    ) -> Check:
    """The precision the model asks for (lingbot.precision bf16, an fp16 engine) vs what the hardware runs."""
    title = "precision"
    if config.estimator != "lingbot":
        return Check("gpu.precision", GROUP, title, OK, f"estimator {config.estimator}: no precision setting")
    if _onnx_backend(config):
        precision = engine_precision(config)
        if precision is None:
            return Check("gpu.precision", GROUP, title, OK, "engine precision unknown (see the engine check)")
        gpu_provider = next((p for p in requested_providers(config) if p in (available_providers or [])), None)
        if precision == "fp16" and gpu_provider not in GPU_PROVIDERS:
            runs_on = gpu_provider or "no provider"
            return Check("gpu.precision", GROUP, title, WARN, f"the engine is fp16 but runs on {runs_on}: the CPU has "
                         "no fast fp16", "export the engine without --fp16 for the CPU, or install onnxruntime-gpu")
        slow = [d for d in devices or [] if d.capability < FP16_CAPABILITY]
        if precision == "fp16" and slow:
            return Check("gpu.precision", GROUP, title, WARN, f"the engine is fp16 but {slow[0].name} (sm "
                         f"{slow[0].capability[0]}.{slow[0].capability[1]}) has no fast fp16",
                         "export the engine without --fp16")
        return Check("gpu.precision", GROUP, title, OK, f"engine {precision}" + (f" on {gpu_provider}" if gpu_provider
                                                                                else ""))
    precision = str(config.values.get("lingbot.precision", "bf16"))
    if precision == "bf16" and devices and not all(d.bf16 for d in devices):
        old = next(d for d in devices if not d.bf16)
        return Check("gpu.precision", GROUP, title, OK, f"lingbot.precision bf16: {old.name} (sm {old.capability[0]}."
                     f"{old.capability[1]}) has no native bf16, the node runs fp32")
    where = "CUDA" if devices else "the CPU (always fp32)"
    return Check("gpu.precision", GROUP, title, OK, f"lingbot.precision {precision} on {where}")


def gpu_checks(config: NodeConfig) -> list[Check]:
    """Every GPU check, in report order."""
    torch_info = torch_devices() if installed("torch") else None
    onnx_info = onnx_providers() if installed("onnxruntime") else None
    providers = onnx_info[1] if onnx_info is not None else None
    return [check_torch(config, torch_info), check_onnxruntime(config, onnx_info),
            check_tensorrt(config, providers),
            check_precision(config, torch_info[2] if torch_info is not None else None, providers)]
