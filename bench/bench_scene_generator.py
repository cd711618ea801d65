"""Procedural scene generator speed: ms per frame at 640x480 (RGB + GT depth + 32-beam LiDAR + projection),
and the speed-up of the per-box screen-rectangle culling measured side by side in one run.

    .venv/bin/python bench/bench_scene_generator.py [--frames 20] [--width 640] [--height 480]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lingbot_depth_ros.synthetic import LidarConfig, SceneGenerator
from lingbot_depth_ros.synthetic.raycast import cast_rays, rotate_axis_major


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    for beams in (16, 32, 64):
        gen = SceneGenerator(width=args.width, height=args.height, seed=0, lidar=LidarConfig.preset(beams))
        gen.frame(0)
        start = time.perf_counter()
        for index in range(args.frames):
            gen.frame(index)
        per_frame = (time.perf_counter() - start) / args.frames * 1000
        print(f"{args.width}x{args.height}, {beams}-beam LiDAR: {per_frame:.1f} ms/frame (all outputs)")

    gen = SceneGenerator(width=args.width, height=args.height, seed=0)
    culled, full = [], []
    for index in range(args.frames):
        pose = gen.pose_at(index)
        rays = rotate_axis_major(pose[:3, :3], gen._rays_optical)
        origin = pose[:3, 3]
        t = time.perf_counter()
        cast_rays(origin, rays, gen.layout.room_min, gen.layout.room_max, gen.layout.boxes,
                  candidates=gen._box_pixel_candidates(pose), axis_major=True)
        culled.append(time.perf_counter() - t)
        t = time.perf_counter()
        cast_rays(origin, rays, gen.layout.room_min, gen.layout.room_max, gen.layout.boxes, axis_major=True)
        full.append(time.perf_counter() - t)
    print(f"camera ray cast, {len(gen.layout.boxes)} boxes: {np.median(culled) * 1000:.1f} ms with box culling, "
          f"{np.median(full) * 1000:.1f} ms without ({np.median(full) / np.median(culled):.2f}x)")


if __name__ == "__main__":
    main()
