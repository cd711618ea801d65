"""Message decoding speed: RVL (compressedDepth rvl) and sensor_msgs/Image of every common encoding.

Usage: python bench/bench_codecs.py [--size 640x480] [--repeats 20] [--only rvl|images]

RVL: a 16-bit depth image with 2 %, 50 % and 100 % valid pixels (valid pixels at random places: 50 % is the
worst case for RVL, one run per two pixels) is RVL-encoded, then decoded by the vectorised decoder and by the
old one-Python-step-per-run walk (runs alternate, so a busy machine slows them alike). Prints min and median
[ms] per frame and checks both give the image.

Images: a frame in each encoding, as the node receives it (rclpy message, ``uint8[]`` as array.array) and as
``lingbot-depth batch`` reads it from a bag (rosbags message, numpy data), decoded to RGB / depth [m] by
:mod:`lingbot_depth_ros.messages.image` (one decoder for both). Prints min / median [ms] per frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lingbot_depth_ros.errors import EncodingError
from lingbot_depth_ros.messages.compressed import rvl_decode, rvl_encode
from lingbot_depth_ros.messages.encoding_table import ENCODINGS
from lingbot_depth_ros.messages.image import depth_m_from_message, rgb_from_message

#: decoder of each origin: (colour, depth)
DECODERS: dict[str, tuple[Callable[[Any], np.ndarray], Callable[[Any], np.ndarray]]] = {
    "node": (rgb_from_message, depth_m_from_message), "bag": (rgb_from_message, depth_m_from_message)}
IMAGE_ENCODINGS = ("rgb8", "bgr8", "mono8", "rgb16", "yuv422", "bayer_rggb8", "16UC1", "32FC1")

DENSITIES = (0.02, 0.5, 1.0)


def legacy_rvl_decode(data: bytes, num_values: int) -> np.ndarray:
    """The decoder before bench_codecs (kept here only as the "old" column): np.add.at varints, then one
    Python step per run."""
    if num_values <= 0:
        return np.zeros(0, dtype=np.uint16)
    words = np.frombuffer(data, dtype="<u4", count=len(data) // 4).astype(np.int64)
    nibbles = ((words[:, None] >> np.arange(28, -1, -4, dtype=np.int64)[None, :]) & 0xF).reshape(-1)
    ends = np.flatnonzero((nibbles & 8) == 0)
    if ends.size == 0:
        raise EncodingError("RVL stream holds no complete value")
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 11:
        raise EncodingError("RVL stream is corrupt (a varint longer than 32 bits)")
    nibbles = nibbles[: ends[-1] + 1]
    group = np.repeat(np.arange(ends.size), lengths)
    shift = 3 * (np.arange(nibbles.size) - np.repeat(starts, lengths))
    values = np.zeros(ends.size, dtype=np.int64)
    np.add.at(values, group, (nibbles & 7) << shift)

    out_starts, value_starts, counts = [], [], []
    pos = out = 0
    n_values = values.size
    walk = values.tolist()  # the run walk is sequential: Python ints index faster than numpy scalars
    while out < num_values:
        if pos + 2 > n_values:
            raise EncodingError(f"RVL stream ends after {out} of {num_values} pixels")
        zeros, nonzeros = walk[pos], walk[pos + 1]
        pos += 2
        if out + zeros + nonzeros > num_values:
            raise EncodingError(f"RVL stream is corrupt: a run ends at pixel {out + zeros + nonzeros} of "
                                f"{num_values}")
        if pos + nonzeros > n_values:
            raise EncodingError(f"RVL stream ends inside a run at pixel {out + zeros} of {num_values}")
        if nonzeros:
            out_starts.append(out + zeros)
            value_starts.append(pos)
            counts.append(nonzeros)
        pos += nonzeros
        out += zeros + nonzeros
    result = np.zeros(num_values, dtype=np.uint16)
    if counts:
        counts_arr = np.asarray(counts, dtype=np.int64)
        offsets = np.arange(counts_arr.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts_arr) - counts_arr,
                                                                          counts_arr)
        zigzag = values[np.repeat(value_starts, counts_arr) + offsets]
        delta = (zigzag >> 1) ^ -(zigzag & 1)
        result[np.repeat(out_starts, counts_arr) + offsets] = (np.cumsum(delta) & 0xFFFF).astype(np.uint16)
    return result


def timings_ms(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """(min, median) [ms] of each run over ``repeats`` alternating rounds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def depth_image(width: int, height: int, density: float, seed: int = 0) -> np.ndarray:
    """(height, width) uint16 [mm]: a smooth 0.5-8 m ramp, valid at ``density`` of the pixels (random places)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(500, 8000, width)[None, :] + 300 * np.sin(np.linspace(0, 6, height))[:, None]
    noisy = ramp + rng.normal(0, 5, size=(height, width))
    return np.where(rng.random((height, width)) < density, noisy, 0).astype(np.uint16)


def image_messages(width: int, height: int) -> dict[str, dict[str, Any]]:
    """encoding -> origin (``node``: rclpy, ``bag``: rosbags) -> a (height, width) frame of that encoding, from the
    same CDR bytes (``bag`` only without rclpy)."""
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    try:
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image
    except ImportError:  # no ROS 2 here: the bag origin only
        deserialize_message = Image = None
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.dstack([40 + 200 * x / width, 210 - 150 * y / height, 60 + 100 * (x + y) / (width + height)])
    rgb = rgb.astype(np.uint8)
    depth_mm = (500 + 7000 * x / width).astype(np.uint16)
    out: dict[str, dict[str, Any]] = {}
    for encoding in IMAGE_ENCODINGS:
        entry = ENCODINGS[encoding]
        if entry.from_rgb is not None:
            pixels = entry.from_rgb(rgb)
        else:
            pixels = depth_mm if entry.dtype == np.uint16 else (depth_mm / 1000.0).astype(np.float32)
        pixels = np.ascontiguousarray(pixels)
        msg = typestore.types["sensor_msgs/msg/Image"](
            header=typestore.types["std_msgs/msg/Header"](
                stamp=typestore.types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="cam"),
            height=height, width=width, encoding=encoding, is_bigendian=0, step=pixels.nbytes // height,
            data=pixels.view(np.uint8).reshape(-1))
        cdr = typestore.serialize_cdr(msg, "sensor_msgs/msg/Image")
        out[encoding] = {"bag": typestore.deserialize_cdr(cdr, "sensor_msgs/msg/Image")}
        if deserialize_message is not None:
            out[encoding]["node"] = deserialize_message(bytes(cdr), Image)
    return out


def bench_images(width: int, height: int, repeats: int) -> None:
    print(f"Image decode, {width}x{height}, min / median over {repeats} rounds [ms per frame]")
    print(f"{'encoding':>12} | {'node (rclpy)':>17} | {'bag (rosbags)':>17}")
    for encoding, by_origin in image_messages(width, height).items():
        runs = {}
        for origin, msg in by_origin.items():
            decode = DECODERS[origin][0 if ENCODINGS[encoding].from_rgb is not None else 1]
            try:
                decode(msg)
            except EncodingError:
                continue  # this origin's decoder does not read the encoding
            runs[origin] = lambda decode=decode, msg=msg: decode(msg)
        got = timings_ms(runs, repeats)
        cells = [f"{got[o][0]:>7.3f} / {got[o][1]:>7.3f}" if o in got else f"{'refused':>17}" for o in ("node", "bag")]
        print(f"{encoding:>12} | {cells[0]} | {cells[1]}")


def bench_rvl(width: int, height: int, repeats: int) -> None:
    print(f"RVL decode, {width}x{height} 16UC1, min / median over {repeats} rounds [ms per frame]")
    print(f"{'valid pixels':>12} | {'bytes':>8} | {'old (per-run loop)':>20} | {'new (vectorised)':>18} | speed-up")
    for density in DENSITIES:
        image = depth_image(width, height, density)
        data = rvl_encode(image)
        for decode in (rvl_decode, legacy_rvl_decode):
            assert np.array_equal(decode(data, image.size).reshape(image.shape), image)
        got = timings_ms({"old": partial(legacy_rvl_decode, data, image.size),
                          "new": partial(rvl_decode, data, image.size)}, repeats)
        (old_min, old_med), (new_min, new_med) = got["old"], got["new"]
        print(f"{density * 100:>11.0f}% | {len(data):>8} | {old_min:>8.1f} / {old_med:>8.1f} | "
              f"{new_min:>7.1f} / {new_med:>7.1f} | x{old_med / new_med:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--only", choices=("rvl", "images"), help="run one of the two benchmarks")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.only != "images":
        bench_rvl(width, height, args.repeats)
    if args.only != "rvl":
        bench_images(width, height, args.repeats)


if __name__ == "__main__":
    main()
