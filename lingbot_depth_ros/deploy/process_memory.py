"""This process's memory, as the managed nodes report it when they load and release a model (no ROS).

:func:`sample` reads the resident set size (Linux ``/proc/self/status``) and, when torch is loaded and has
initialised CUDA, the bytes torch holds on the current GPU (``torch.cuda.memory_allocated``); it never
imports torch itself. :func:`release_freed_memory` hands freed memory back to the system after a model is
dropped (garbage collection, torch's CUDA cache, glibc's ``malloc_trim``), so the next sample shows it gone.

Figures of the managed node's configure / cleanup cycles: ``bench/bench_lifecycle.py`` (README "Managed
(lifecycle) node"). LingBot-Depth checkpoints are memory-mapped (``torch.load(mmap=True)``): their pages count in
the RSS once touched (the first frame), not at load.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemorySample", "describe_change", "release_freed_memory", "sample"]

_MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class MemorySample:
    """``rss_mib``: resident set size [MiB] (None off Linux); ``cuda_allocated_mib``: torch's allocated GPU
    memory [MiB] (None without torch or before CUDA is initialised)."""

    rss_mib: float | None
    cuda_allocated_mib: float | None


def _rss_mib(status: Path = Path("/proc/self/status")) -> float | None:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cuda_allocated_mib() -> float | None:
    torch = sys.modules.get("torch")  # never imported here: a weight-free estimator must not pay for torch
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        return float(torch.cuda.memory_allocated()) / _MIB
    except (RuntimeError, AttributeError):
        return None


def sample() -> MemorySample:
    """The process's memory now."""
    return MemorySample(_rss_mib(), _cuda_allocated_mib())


def release_freed_memory() -> None:
    """Give memory freed by dropped objects back to the system: a garbage collection, torch's CUDA cache
    (when initialised), glibc's ``malloc_trim(0)`` (elsewhere: nothing more)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.empty_cache()
        except (RuntimeError, AttributeError):
            pass
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name or "libc.so.6").malloc_trim  # glibc only
    except (OSError, AttributeError):
        return
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    trim(0)


def _change(label: str, unit: str, before: float | None, after: float | None) -> str | None:
    if before is None or after is None:
        return None
    return f"{label} {before:.0f} -> {after:.0f} {unit} ({after - before:+.0f})"


def describe_change(before: MemorySample, after: MemorySample) -> str:
    """``"RSS 312 -> 402 MiB (+90); CUDA allocated 0 -> 1300 MiB (+1300)"`` (the parts measured; "not
    measured" when neither is)."""
    cuda_before = before.cuda_allocated_mib
    if cuda_before is None and after.cuda_allocated_mib is not None:
        cuda_before = 0.0  # CUDA initialised in between: nothing was allocated before
    parts = [_change("RSS", "MiB", before.rss_mib, after.rss_mib),
             _change("CUDA allocated", "MiB", cuda_before, after.cuda_allocated_mib)]
    return "; ".join(p for p in parts if p) or "not measured"
