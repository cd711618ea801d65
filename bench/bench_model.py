#!/usr/bin/env python3
"""Benchmark LingBot-Depth inference (our implementation) with random weights.

Measures, side by side in one run, for 640x480 frames:

* end-to-end ``DepthModel.infer`` latency (numpy uint8 in -> numpy depth/valid out, including the
  host<->device copies and preprocessing) and throughput (frames/s = batch / latency);
* network-only time (preprocessed tensors in, synchronised);
* peak GPU memory (CUDA);
* the analytic FLOPs of the forward (spec §10 method), the achieved TFLOP/s and, on CUDA, the
  ratio of network time to the FLOP floor (FLOPs / 800 TFLOP/s, the H100/H200 dense bf16 peak).

Examples::

    python bench/bench_model.py --config tiny --device cpu           # CI-size, any machine
    python bench/bench_model.py --config reference --device cuda      # ViT-L, GPU
    python bench/bench_model.py --config reference --device cuda --compile default --batches 1

Targets on H100/H200 (reference config): completion at level 9 >= 30 Hz; network time within 2x
of the FLOP floor.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lingbot_depth_ros.model import reference_model_config, resolve_device, tiny_model_config  # noqa: E402
from lingbot_depth_ros.model.factory import build_model  # noqa: E402
from lingbot_depth_ros.model.flops import forward_flops  # noqa: E402
from lingbot_depth_ros.model.inference import DepthModel  # noqa: E402

PEAK_FLOPS = 800e12  # H100/H200 dense bf16 tensor-core FLOP/s used for the floor
WIDTH, HEIGHT = 640, 480


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("tiny", "reference"), default=None,
                        help="model size (default: reference on CUDA, tiny on CPU)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 5, 9])
    parser.add_argument("--modes", nargs="+", choices=("monocular", "completion"),
                        default=["monocular", "completion"])
    parser.add_argument("--precisions", nargs="+", choices=("bf16", "fp32"), default=None,
                        help="default: bf16 fp32 on CUDA, fp32 on CPU (bf16 is CUDA-only)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--density", type=float, default=0.05, help="sparse depth density for completion")
    parser.add_argument("--warmup", type=int, default=None, help="default 5 on CUDA, 2 on CPU")
    parser.add_argument("--iters", type=int, default=None, help="default 20 on CUDA, 5 on CPU")
    parser.add_argument("--compile", default="none",
                        choices=("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
                        help="wrap the network in torch.compile with this mode (reduce-overhead = CUDA graphs)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True (autotuned convs for the fixed input size)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convs in the fp32 rows")
    parser.add_argument("--tokens-range", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                        help="override num_tokens_range (e.g. 1200 3600 to give the tiny model the reference grids)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def make_inputs(batch: int, density: float, completion: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Random 640x480 uint8 RGB and (completion) sparse depth with ``density`` valid pixels in 0.5..10 m."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (batch, HEIGHT, WIDTH, 3), dtype=np.uint8)
    if not completion:
        return rgb, None
    sparse = np.zeros((batch, HEIGHT, WIDTH), np.float32)
    hit = rng.random(sparse.shape) < density
    sparse[hit] = rng.uniform(0.5, 10.0, int(hit.sum()))
    return rgb, sparse


def timed(fn: Callable[[], Any], warmup: int, iters: int, device: torch.device) -> list[float]:
    """Wall-clock seconds of ``fn`` per call, synchronising CUDA around each call."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def bench_case(model: DepthModel, *, batch: int, level: int, mode: str, density: float, warmup: int,
               iters: int) -> dict[str, Any]:
    device = model.device
    rgb, sparse = make_inputs(batch, density, mode == "completion")
    prepared, _ = model.prepare(rgb, sparse, resolution_level=level)
    grid = prepared.grid
    kept = (prepared.depth_keep.sum(dim=1).tolist() if prepared.depth_keep is not None
            else [grid.num_patches] * batch)
    flops = sum(forward_flops(model.network.cfg, grid.rows, grid.cols, int(k))["total"] for k in kept)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    e2e = timed(lambda: model.infer(rgb, sparse, resolution_level=level), warmup, iters, device)
    net = timed(lambda: model.run_network(prepared), warmup, iters, device)
    e2e_s, net_s = statistics.median(e2e), statistics.median(net)
    row = {
        "precision": model.effective_precision, "batch": batch, "level": level, "mode": mode,
        "grid": f"{grid.rows}x{grid.cols}", "seq_len": 1 + grid.num_patches + int(max(kept)),
        "e2e_ms": 1e3 * e2e_s, "e2e_p90_ms": 1e3 * sorted(e2e)[min(len(e2e) - 1, math.ceil(0.9 * len(e2e)) - 1)],
        "fps": batch / e2e_s, "net_ms": 1e3 * net_s, "gflop": flops / 1e9, "tflops_per_s": flops / net_s / 1e12,
    }
    if device.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
        row["floor_ms"] = 1e3 * flops / PEAK_FLOPS
        row["net_over_floor"] = net_s / (flops / PEAK_FLOPS)
    return row


def format_row(row: dict[str, Any]) -> str:
    cells = [row["precision"], str(row["batch"]), str(row["level"]), row["mode"], row["grid"], str(row["seq_len"]),
             f"{row['e2e_ms']:.1f}", f"{row['e2e_p90_ms']:.1f}", f"{row['fps']:.1f}", f"{row['net_ms']:.1f}",
             f"{row['gflop']:.1f}", f"{row['tflops_per_s']:.3f}"]
    cells += ([f"{row['peak_mem_gib']:.2f}", f"{row['floor_ms']:.1f}", f"{row['net_over_floor']:.2f}"]
              if "floor_ms" in row else ["-", "-", "-"])
    return "| " + " | ".join(cells) + " |"


HEADER = ("| precision | batch | level | mode | grid | seq | e2e ms (median) | e2e ms (p90) | frames/s | "
          "network ms | GFLOP | TFLOP/s | peak GiB | floor ms | net/floor |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    config_name = args.config or ("reference" if device.type == "cuda" else "tiny")
    config = reference_model_config() if config_name == "reference" else tiny_model_config()
    if args.tokens_range:
        config["num_tokens_range"] = list(args.tokens_range)
    precisions = args.precisions or (["bf16", "fp32"] if device.type == "cuda" else ["fp32"])
    warmup = args.warmup if args.warmup is not None else (5 if device.type == "cuda" else 2)
    iters = args.iters if args.iters is not None else (20 if device.type == "cuda" else 5)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.manual_seed(0)
    start = time.perf_counter()
    network, preprocessor = build_model(config, device=device)
    network.requires_grad_(False)
    build_s = time.perf_counter() - start
    if args.compile != "none":
        network = torch.compile(network, mode=None if args.compile == "default" else args.compile)
    params = sum(p.numel() for p in network.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# LingBot-Depth benchmark: config={config_name} ({params / 1e6:.2f} M params, built in {build_s:.1f} s), "
          f"device={name}, torch {torch.__version__}, compile={args.compile}, "
          f"cudnn.benchmark={args.cudnn_benchmark}, tf32={args.tf32}, input {WIDTH}x{HEIGHT}, "
          f"completion density {args.density:.0%}, warmup {warmup}, iters {iters}")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    rows = []
    for precision in precisions:
        model = DepthModel(network, preprocessor, device=device, precision=precision, source="random weights")
        for mode in args.modes:  # one-off start-up costs (thread pools, kernels, compilation) out of the table
            rgb, sparse = make_inputs(max(args.batches), args.density, mode == "completion")
            model.infer(rgb, sparse, resolution_level=max(args.levels))
        for batch in args.batches:
            for level in args.levels:
                for mode in args.modes:
                    try:
                        row = bench_case(model, batch=batch, level=level, mode=mode, density=args.density,
                                         warmup=warmup, iters=iters)
                    except torch.cuda.OutOfMemoryError as exc:
                        print(f"| {precision} | {batch} | {level} | {mode} | out of memory: {exc} |")
                        torch.cuda.empty_cache()
                        continue
                    rows.append(row)
                    print(format_row(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"config": config_name, "device": name, "compile": args.compile,
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
