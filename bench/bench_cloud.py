"""PointCloud2 packing speed: xyz vs xyzrgb (today's one-column colour write vs the old byte-by-byte write).

Usage: python bench/bench_cloud.py [--size 640x480] [--stride 1] [--repeats 50] [--allocator retain|default]
Prints min and median time [ms] per cloud of each packing (runs alternate); the old packing is kept here
only as a reference (and checked to give the same bytes).
"""

from __future__ import annotations

import argparse
import array
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lingbot_depth_ros.ros.cloud_codec import xyz_to_pointcloud2


def legacy_xyzrgb_bytes(xyz: np.ndarray, rgb: np.ndarray) -> array.array:
    """The packing before issue 15: colour bytes written by numpy, channel by channel, into the 16-byte points."""
    height, width = xyz.shape[:2]
    data = array.array("B", b"\0") * (height * width * 16)
    points = np.frombuffer(data, dtype=np.float32).reshape(height, width, 4)
    points[..., :3] = xyz
    rgba_bytes = points.view(np.uint8).reshape(height, width, 16)
    for k, channel in enumerate((2, 1, 0) if sys.byteorder == "little" else (0, 1, 2)):
        rgba_bytes[..., (12 if sys.byteorder == "little" else 13) + k] = rgb[..., channel]
    return data


def timings_ms(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """(min, median) [ms] of each run; the runs alternate, so a busy machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: (1e3 * min(v), 1e3 * statistics.median(v)) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480", help="image WxH")
    parser.add_argument("--stride", type=int, default=1, help="cloud.stride (pixel decimation)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--allocator", choices=("retain", "default"), default="retain",
                        help="retain: freed message buffers reused (memory.retain_freed_memory): what the running node "
                             "sees (about 10 page faults per 640x480 frame in its steady state); default: glibc's "
                             "as this loop triggers it, handing the multi-MB buffers back to the kernel each time")
    args = parser.parse_args()
    if args.allocator == "retain":
        from lingbot_depth_ros.batch.memory import retain_freed_memory
        retain_freed_memory()
    width, height = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    xyz = rng.random((height, width, 3), dtype=np.float32)[::args.stride, ::args.stride]
    xyz = np.ascontiguousarray(xyz)
    rgb = np.ascontiguousarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)[::args.stride, ::args.stride])
    assert bytes(xyz_to_pointcloud2(xyz, None, rgb).data) == bytes(legacy_xyzrgb_bytes(xyz, rgb)), "packings differ"
    result = timings_ms({"xyz": lambda: xyz_to_pointcloud2(xyz),
                         "xyzrgb (cv2 channel copies)": lambda: xyz_to_pointcloud2(xyz, None, rgb),
                         "xyzrgb (old byte writes)": lambda: legacy_xyzrgb_bytes(xyz, rgb)}, args.repeats)
    print(f"{width}x{height} stride {args.stride} ({xyz.shape[1]}x{xyz.shape[0]} points), allocator "
          f"{args.allocator}, {args.repeats} alternating runs, min / median [ms] and ratio to xyz:")
    base_min, base_median = result["xyz"]
    for name, (low, median) in result.items():
        print(f"  {name:27s} {low:6.2f} / {median:6.2f}   ({low / base_min:4.1f}x / {median / base_median:4.1f}x)")


if __name__ == "__main__":
    main()
