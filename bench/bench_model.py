#!/usr/bin/env python3
"""Benchmark LingBot-Depth inference (our implementation) with random weights.

Measures, side by side in one run, for 640x480 frames (``--size``), per backend, level, mode and batch:

* end-to-end latency as the node runs it (numpy uint8 image + float32 sparse depth in -> published
  float32 depth, NaN = invalid, out; preprocessing, output resize and validity on the device) and
  throughput (frames/s = batch / latency);
* network-only time (preprocessed tensors in, synchronised);
* host<->device MB per frame (uploads / downloads of the end-to-end path, ``DepthModel.transfers``);
* peak memory: CUDA ``max_memory_allocated``, on the CPU the process's peak RSS so far;
* the analytic FLOPs of the forward (spec §10 method), the achieved TFLOP/s and the ratio of network
  time to the FLOP floor: FLOPs / peak, with the peak 800 TFLOP/s (H100/H200 dense bf16) on CUDA and,
  on the CPU, the fp32 matmul rate measured at start-up (so "x floor" = how far from matmul speed).

``--cameras 1 2 4`` adds a table for one model serving several cameras: one frame per camera (different images
and sparse masks) in one batched forward as the multi-camera node runs it, against the same frames one after
another and against one camera alone (each camera's latency is the batch's time).

Backends: ``torch`` (eager, ``--compile``, ``--token-path drop|mask``) and ``onnxruntime`` (engines
exported on the fly from the random weights into a temporary folder, one per level, or from
``--engine-dir`` for one level). With both, a ratio line per case compares their end-to-end times.

Examples::

    python bench/bench_model.py --config tiny --device cpu --levels 0 1 2 3 4 5 6 7 8 9 --batches 1
    python bench/bench_model.py --config reference --device cpu --levels 0 --batches 1 --modes completion \
        --backend torch onnxruntime --iters 2 --warmup 1
    python bench/bench_model.py --config tiny --device cpu --levels 9 --batches 1 --cameras 1 2 3 \
        --backend torch onnxruntime
    python bench/bench_model.py --config reference --device cuda                      # GPU, torch bf16 + fp32
    python bench/bench_model.py --config reference --device cuda --backend onnxruntime --fp16 \
        --providers CUDAExecutionProvider          # or TensorrtExecutionProvider,CUDAExecutionProvider

Targets on H100/H200 (reference config): completion at level 9 >= 30 Hz; network time within 2x
of the FLOP floor.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lingbot_depth_ros.model import reference_model_config, resolve_device, tiny_model_config
from lingbot_depth_ros.model.factory import build_model
from lingbot_depth_ros.model.flops import forward_flops
from lingbot_depth_ros.model.inference import DepthModel

PEAK_FLOPS = 800e12  # H100/H200 dense bf16 tensor-core FLOP/s used for the floor
DEFAULT_PROVIDERS = "TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("tiny", "reference"), default=None,
                        help="model size (default: reference on CUDA, tiny on CPU)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--backend", nargs="+", choices=("torch", "onnxruntime"), default=["torch"],
                        help="one or both (both: a torch/onnxruntime ratio line per case)")
    parser.add_argument("--size", default="640x480", help="frame size WxH")
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 5, 9])
    parser.add_argument("--modes", nargs="+", choices=("monocular", "completion"),
                        default=["monocular", "completion"])
    parser.add_argument("--precisions", nargs="+", choices=("bf16", "fp32"), default=None,
                        help="torch: default bf16 fp32 on CUDA, fp32 on CPU (bf16 is CUDA-only)")
    parser.add_argument("--token-path", choices=("drop", "mask"), default="drop",
                        help="torch: drop empty depth tokens (official) or keep them masked (fixed shape)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cameras", type=int, nargs="+", default=[],
                        help="also time N cameras served by one model (the multi-camera node's batched forward) "
                             "against the same N frames one after another and against one camera, e.g. 1 2 4")
    parser.add_argument("--density", type=float, default=0.05, help="sparse depth density for completion")
    parser.add_argument("--warmup", type=int, default=None, help="default 5 on CUDA, 2 on CPU")
    parser.add_argument("--iters", type=int, default=None, help="default 20 on CUDA, 5 on CPU")
    parser.add_argument("--compile", default="none",
                        choices=("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
                        help="torch: wrap the network in torch.compile with this mode (reduce-overhead = CUDA graphs)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark = True (autotuned convs for the fixed input size)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convs in the fp32 rows")
    parser.add_argument("--tokens-range", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                        help="override num_tokens_range (e.g. 1200 3600 to give the tiny model the reference grids)")
    parser.add_argument("--providers", default=DEFAULT_PROVIDERS, help="onnxruntime execution providers")
    parser.add_argument("--fp16", action="store_true", help="onnxruntime: export fp16 engines")
    parser.add_argument("--engine-dir", type=Path, default=None,
                        help="onnxruntime: an exported folder to use (its level only) instead of exporting")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall clock (default) or process CPU time (shared, loaded CPU machines)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def make_inputs(batch: int, density: float, completion: bool, size: tuple[int, int],
                seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Random uint8 RGB and (completion) sparse depth with ``density`` valid pixels in 0.5..10 m."""
    width, height = size
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    if not completion:
        return rgb, None
    sparse = np.zeros((batch, height, width), np.float32)
    hit = rng.random(sparse.shape) < density
    sparse[hit] = rng.uniform(0.5, 10.0, int(hit.sum()))
    return rgb, sparse


CLOCK: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn: Callable[[], Any], warmup: int, iters: int, device: torch.device) -> list[float]:
    """Seconds of ``fn`` per call on the chosen clock, synchronising CUDA around each call.

    ``--clock cpu`` (process CPU time of all threads) is for shared CPU machines where other jobs
    make wall-clock times meaningless; it is about threads x wall time when this process has the cores.
    """
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    times = []
    for _ in range(iters):
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(clock() - start)
    return times


def cpu_matmul_flops(seconds: float = 1.0) -> float:
    """Measured fp32 FLOP/s of a 2048^3 matmul on this CPU (torch's thread count)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return n * 2 * 2048 ** 3 / (time.perf_counter() - start)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB -> GiB (Linux)


def bench_case(model: Any, *, batch: int, level: int, mode: str, density: float, size: tuple[int, int],
               warmup: int, iters: int, peak_flops: float) -> dict[str, Any]:
    device = model.device
    rgb, sparse = make_inputs(batch, density, mode == "completion", size)
    prepared, _ = model.prepare(rgb, sparse, resolution_level=level)
    grid = prepared.grid
    kept = prepared.depth_keep.sum(dim=1).tolist() if prepared.depth_keep is not None else [grid.num_patches] * batch
    if getattr(model, "token_path", "drop") == "mask":  # fixed shape: every depth token computed (masked)
        kept = [grid.num_patches if any(kept) else 0] * batch
    flops = sum(forward_flops(model_cfg(model), grid.rows, grid.cols, int(k))["total"] for k in kept)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.transfers.reset()
    e2e = timed(lambda: model.infer_published(rgb, sparse, resolution_level=level), warmup, iters, device)
    up_mb, down_mb = model.transfers.per_frame_mb()
    net = timed(lambda: model.run_network(prepared), warmup, iters, device)
    e2e_s, net_s = statistics.median(e2e), statistics.median(net)
    return {
        "backend": backend_name(model), "precision": model.effective_precision, "batch": batch, "level": level,
        "mode": mode, "grid": f"{grid.rows}x{grid.cols}", "seq_len": 1 + grid.num_patches + int(max(kept)),
        "e2e_ms": 1e3 * e2e_s, "e2e_p90_ms": 1e3 * sorted(e2e)[min(len(e2e) - 1, math.ceil(0.9 * len(e2e)) - 1)],
        "fps": batch / e2e_s, "net_ms": 1e3 * net_s, "up_mb": up_mb, "down_mb": down_mb,
        "peak_mem_gib": peak_memory_gib(device), "gflop": flops / 1e9, "tflops_per_s": flops / net_s / 1e12,
        "floor_ms": 1e3 * flops / peak_flops, "net_over_floor": net_s / (flops / peak_flops),
    }


def bench_cameras(model: Any, *, cameras: int, level: int, mode: str, density: float, size: tuple[int, int],
                  warmup: int, iters: int) -> dict[str, Any]:
    """One frame from each of ``cameras`` cameras (different images and sparse masks) served by one model:
    one batched ``infer_published`` as the multi-camera node runs it, vs the frames one after another, vs one
    camera alone. Every camera's frame is published when the batch ends, so its latency is the batch time."""
    device = model.device
    rgb, sparse = make_inputs(cameras, density, mode == "completion", size, seed=cameras)
    one = [(rgb[i:i + 1], None if sparse is None else sparse[i:i + 1]) for i in range(cameras)]
    batched = statistics.median(timed(lambda: model.infer_published(rgb, sparse, resolution_level=level),
                                      warmup, iters, device))
    sequential = statistics.median(timed(lambda: [model.infer_published(r, s, resolution_level=level) for r, s in one],
                                         warmup, iters, device))
    single = statistics.median(timed(lambda: model.infer_published(*one[0], resolution_level=level),
                                     warmup, iters, device))
    return {"backend": backend_name(model), "precision": model.effective_precision, "cameras": cameras,
            "level": level, "mode": mode, "single_ms": 1e3 * single, "batched_ms": 1e3 * batched,
            "sequential_ms": 1e3 * sequential, "extra_ms": 1e3 * (batched - single),
            "fps": cameras / batched, "batched_over_sequential": batched / sequential}


CAMERA_HEADER = ("| backend | precision | cameras | level | mode | 1 camera ms "
                 "| N batched ms (each camera's latency) | N one after another ms | extra latency vs 1 camera ms "
                 "| frames/s (all cameras) | batched/sequential |")


def format_camera_row(row: dict[str, Any]) -> str:
    cells = [row["backend"], row["precision"], str(row["cameras"]), str(row["level"]), row["mode"],
             f"{row['single_ms']:.1f}", f"{row['batched_ms']:.1f}", f"{row['sequential_ms']:.1f}",
             f"{row['extra_ms']:+.1f}", f"{row['fps']:.2f}", f"{row['batched_over_sequential']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def run_cases(backend: str, by_level: dict[int, Any], counts: list[int], levels: list[int], modes: list[str],
              format_fn: Callable[[dict[str, Any]], str],
              case: Callable[[Any, int, int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """``case(model, count, level, mode)`` for every batch size / camera count, level the backend has, and mode;
    each row printed as it comes (an out-of-memory case prints one line and is left out)."""
    rows = []
    for count in counts:
        for level in levels:
            if level not in by_level:
                continue
            for mode in modes:
                try:
                    row = case(by_level[level], count, level, mode)
                except torch.cuda.OutOfMemoryError as exc:
                    print(f"| {backend} | {count} | {level} | {mode} | out of memory: {exc} |")
                    torch.cuda.empty_cache()
                    continue
                rows.append(row)
                print(format_fn(row), flush=True)
    return rows


def model_cfg(model: Any) -> Any:
    return model.flops_config


def backend_name(model: Any) -> str:
    if hasattr(model, "sessions"):
        return f"onnxruntime/{model.provider.replace('ExecutionProvider', '')}"
    return f"torch/{model.token_path}"


def format_row(row: dict[str, Any]) -> str:
    cells = [row["backend"], row["precision"], str(row["batch"]), str(row["level"]), row["mode"], row["grid"],
             str(row["seq_len"]), f"{row['e2e_ms']:.1f}", f"{row['e2e_p90_ms']:.1f}", f"{row['fps']:.2f}",
             f"{row['net_ms']:.1f}", f"{row['up_mb']:.2f}/{row['down_mb']:.2f}", f"{row['peak_mem_gib']:.2f}",
             f"{row['gflop']:.1f}", f"{row['tflops_per_s']:.3f}", f"{row['floor_ms']:.1f}",
             f"{row['net_over_floor']:.2f}"]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| backend | precision | batch | level | mode | grid | seq | e2e ms (median) | e2e ms (p90) | frames/s | "
          "network ms | host->dev/dev->host MB per frame | peak GiB | GFLOP | TFLOP/s | floor ms | net/floor |")


def onnx_models(config: dict, state: dict, levels: list[int], size: tuple[int, int], args: argparse.Namespace,
                tmp: Path) -> dict[int, Any]:
    """level -> OnnxDepthModel, exported from the random weights (or the one --engine-dir)."""
    from lingbot_depth_ros.model.engine_export import export_onnx
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    if args.engine_dir is not None:
        model = OnnxDepthModel(args.engine_dir, providers=args.providers, device=args.device)
        return {model.level: model}
    checkpoint = tmp / "model.pt"
    torch.save({"model_config": config, "model": state}, checkpoint)
    models = {}
    for level in levels:
        start = time.perf_counter()
        folder = export_onnx(checkpoint, tmp / f"engine_L{level}", level=level, size_wh=size, fp16=args.fp16).parent
        print(f"# exported level {level} to ONNX in {time.perf_counter() - start:.1f} s", flush=True)
        models[level] = OnnxDepthModel(folder, providers=args.providers, device=args.device)
    return models


def main(argv: list[str] | None = None) -> int:
    global clock
    args = parse_args(argv)
    clock = CLOCK[args.clock]
    device = resolve_device(args.device)
    size = tuple(int(v) for v in args.size.lower().split("x"))
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
    peak = PEAK_FLOPS if device.type == "cuda" else cpu_matmul_flops()
    torch.manual_seed(0)
    start = time.perf_counter()
    network, preprocessor = build_model(config, device=device)
    network.requires_grad_(False)
    build_s = time.perf_counter() - start
    cfg = network.cfg
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    if args.compile != "none":
        network = torch.compile(network, mode=None if args.compile == "default" else args.compile)
    params = sum(p.numel() for p in network.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# LingBot-Depth benchmark: config={config_name} ({params / 1e6:.2f} M params, built in {build_s:.1f} s), "
          f"device={name}, torch {torch.__version__}, backends={'+'.join(args.backend)}, compile={args.compile}, "
          f"token path={args.token_path}, cudnn.benchmark={args.cudnn_benchmark}, tf32={args.tf32}, input "
          f"{size[0]}x{size[1]}, completion density {args.density:.0%}, warmup {warmup}, iters {iters}, "
          f"clock {args.clock}, floor peak {peak / 1e12:.3f} TFLOP/s "
          f"({'bf16 H100/H200' if device.type == 'cuda' else 'measured fp32 matmul'})")
    rows: list[dict[str, Any]] = []
    camera_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
        per_backend: dict[str, list[tuple[str, dict[int, Any] | Any]]] = {}
        if "torch" in args.backend:
            per_backend["torch"] = [(p, DepthModel(network, preprocessor, device=device, precision=p,
                                                    source="random weights", token_path=args.token_path))
                                    for p in precisions]
        if "onnxruntime" in args.backend:
            per_backend["onnxruntime"] = [("engine", onnx_models(config, state, args.levels, size, args, Path(tmp)))]
        print(HEADER)
        print("|" + "---|" * (HEADER.count("|") - 1))
        for backend, entries in per_backend.items():
            for _, models in entries:
                by_level = models if isinstance(models, dict) else {lv: models for lv in args.levels}
                for model in {id(m): m for m in by_level.values()}.values():
                    model.flops_config = cfg
                    lv = max(lv for lv, m in by_level.items() if m is model)
                    for mode in args.modes:  # one-off start-up costs (thread pools, kernels, compilation)
                        rgb, sparse = make_inputs(max(args.batches), args.density, mode == "completion", size)
                        model.infer(rgb, sparse, resolution_level=lv)
                rows += run_cases(backend, by_level, args.batches, args.levels, args.modes, format_row,
                                  lambda model, n, level, mode: bench_case(
                                      model, batch=n, level=level, mode=mode, density=args.density, size=size,
                                      warmup=warmup, iters=iters, peak_flops=peak))
        if args.cameras:
            print("\n# several cameras, one model (the multi-camera node's batch of one frame per camera)")
            print(CAMERA_HEADER)
            print("|" + "---|" * (CAMERA_HEADER.count("|") - 1))
            for backend, entries in per_backend.items():
                for _, models in entries:
                    by_level = models if isinstance(models, dict) else {lv: models for lv in args.levels}
                    camera_rows += run_cases(backend, by_level, args.cameras, args.levels, args.modes,
                                             format_camera_row,
                                             lambda model, n, level, mode: bench_cameras(
                                                 model, cameras=n, level=level, mode=mode, density=args.density,
                                                 size=size, warmup=warmup, iters=iters))
    if len(args.backend) == 2:
        for row in rows:
            if row["backend"].startswith("torch"):
                for other in rows:
                    if other["backend"].startswith("onnxruntime") and all(
                            other[k] == row[k] for k in ("batch", "level", "mode")):
                        print(f"# ratio {row['backend']} {row['precision']} / {other['backend']} {other['precision']}, "
                              f"batch {row['batch']}, level {row['level']}, {row['mode']}: end-to-end "
                              f"{row['e2e_ms'] / other['e2e_ms']:.2f}, network {row['net_ms'] / other['net_ms']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"config": config_name, "device": name, "compile": args.compile,
                                         "backends": args.backend, "clock": args.clock, "rows": rows,
                                         "camera_rows": camera_rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
