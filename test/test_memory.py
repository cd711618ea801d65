"""memory.retain_freed_memory: per-frame temporaries are reused instead of page-faulted in every frame."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from lingbot_depth_ros.batch.memory import retain_freed_memory

CHILD = r"""
import json, resource, sys
import numpy as np
from lingbot_depth_ros.batch.memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
image = np.random.default_rng(0).random((480, 640))
for _ in range(3):  # warm: the heap grows to one frame's working set
    (np.log(image + 1.0) * 2.0 - image).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a frame's worth of float64 temporaries, 2.4 MB each
    (np.log(image + 1.0) * 2.0 - image).sum()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults_per_frame": faults / 20}))
"""


def run_child(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator setting is glibc's (no-op elsewhere)")
def test_retained_memory_stops_per_frame_page_faults() -> None:
    default, retained = run_child("default"), run_child("retain")
    assert retained["applied"] is True
    # 3 temporaries of 600 pages each: page-faulted in again every frame by default, reused once retained
    assert default["faults_per_frame"] > 300, default
    assert retained["faults_per_frame"] < 50, retained


def test_retain_freed_memory_answers_the_same_every_call() -> None:
    first = retain_freed_memory()
    assert retain_freed_memory() is first
    assert first is (platform.libc_ver()[0] == "glibc")
