"""Process-wide allocator setting for per-frame array work (no ROS, no torch).

Every frame allocates and frees a few dozen temporaries of one image size (a 640x480 float64 array is 2.4 MB).
glibc serves allocations above its mmap threshold (128 KB at start, raised on the fly up to 32 MB) with a fresh
``mmap`` and returns them to the kernel on ``free``, and trims freed heap memory above 2x that threshold: so the
next frame pays one page fault per 4 KB page again. Measured on the batch worker's scoring of a 640x480 frame:
about 10,000 minor page faults and 38 ms per frame, against about 0 faults and 16 ms with the setting below
(``bench/bench_batch.py`` shows the whole-frame effect).

:func:`retain_freed_memory` keeps such blocks in the process for reuse: the resident memory stays at the peak
of one frame's working set instead of going up and down every frame. It changes no result. The batch workers call it at
start; set the environment variable
``LINGBOT_DEPTH_ALLOCATOR=default`` to keep glibc's own behaviour (e.g. to compare). The ROS node does not:
measured over real topics, its steady state already has about 10 minor page faults per 640x480 frame, and
retaining changed nothing there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["ALLOCATOR_ENV", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "retain_freed_memory"]

_LOG = logging.getLogger(__name__)

ALLOCATOR_ENV = "LINGBOT_DEPTH_ALLOCATOR"
"""Environment variable: ``default`` leaves the allocator as it is (``retain``, the default, sets it)."""
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations below this [bytes] come from the heap and are reused (glibc's largest dynamic threshold)."""
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Freed heap memory above this [bytes] is returned to the kernel."""

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once; later calls return the first answer).

    Returns:
        True when set; False where the C library is not glibc (musl, macOS), refused, or when
        ``LINGBOT_DEPTH_ALLOCATOR=default``: nothing changes then.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(ALLOCATOR_ENV, "retain").strip().lower() == "default":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt  # glibc only
    except (OSError, AttributeError):
        _LOG.debug("no glibc mallopt: allocator thresholds left as they are")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _applied
