#!/usr/bin/env bash
# The prepared LingBot-Depth GPU benchmark (issue 15 §6): run once on a CUDA machine from the repo root.
#   bash bench/run_gpu_bench.sh [OUT_DIR]          (default bench/results/gpu_<hostname>)
# Full ViT-L reference config (random weights), 640x480, levels 0/5/9, monocular + completion at 5 %, batch 1 and 4:
# torch bf16 eager (with the several-cameras table, 1/2/4 cameras), torch bf16 torch.compile (fixed-shape token
# path), onnxruntime CUDA fp16 and TensorRT fp16 when those providers are installed (onnxruntime-gpu; the CPU
# onnxruntime wheel has neither, and the step says so). Each step writes its table to OUT_DIR/<step>.txt and its
# rows to OUT_DIR/<step>.json; a failing or timed-out step does not stop the others.
# Sized for a short device lease: the whole script stops after GPU_BENCH_BUDGET_S seconds (default 480), most
# important step first, each step capped at its share; PYTHON picks the interpreter (default: .venv/bin/python
# when it exists, else python3 -- e.g. a CUDA image's own PyTorch; the bench needs torch, numpy, opencv, PyYAML).
set -u
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
OUT=${1:-bench/results/gpu_$(hostname)}
BUDGET=${GPU_BENCH_BUDGET_S:-480}
START=$(date +%s)
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
    >> "$OUT/gpu.txt" 2>&1 || true
"$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
    >> "$OUT/gpu.txt" 2>&1 || echo "onnxruntime not installed" >> "$OUT/gpu.txt"
cat "$OUT/gpu.txt"
COMMON=(--config reference --device cuda --levels 0 5 9 --batches 1 4 --modes monocular completion --density 0.05
        --warmup 3 --iters 10)
run() {  # run NAME CAP_S ARGS...: the bench, capped at CAP_S and at what is left of the budget
    local name=$1 cap=$2; shift 2
    local left=$(( BUDGET - ($(date +%s) - START) ))
    (( cap > left )) && cap=$left
    if (( cap < 30 )); then echo "== $name skipped: budget spent" | tee "$OUT/$name.txt"; return; fi
    echo "== $name (at most ${cap} s)"
    timeout "$cap" "$PY" bench/bench_model.py "${COMMON[@]}" "$@" --json "$OUT/$name.json" > "$OUT/$name.txt" 2>&1
    local rc=$?
    grep -E '^\||^#' "$OUT/$name.txt"
    (( rc != 0 )) && echo "   ($name ended with exit code $rc$( (( rc == 124 )) && echo ': timed out'); see $OUT/$name.txt)"
}
has_provider() { "$PY" -c "import onnxruntime as o, sys; sys.exit('$1' not in o.get_available_providers())" 2>/dev/null; }
run torch_bf16_eager 200 --precisions bf16 --cudnn-benchmark --cameras 1 2 4
run torch_bf16_compile 200 --precisions bf16 --cudnn-benchmark --compile max-autotune-no-cudagraphs --token-path mask
if has_provider CUDAExecutionProvider; then
    run ort_cuda_fp16 200 --backend onnxruntime --fp16 --providers CUDAExecutionProvider
else
    echo "== ort_cuda_fp16 skipped: CUDAExecutionProvider not installed (onnxruntime-gpu needed)" | tee "$OUT/ort_cuda_fp16.txt"
fi
if has_provider TensorrtExecutionProvider; then
    run ort_tensorrt_fp16 200 --backend onnxruntime --fp16 --providers TensorrtExecutionProvider,CUDAExecutionProvider
else
    echo "== ort_tensorrt_fp16 skipped: TensorrtExecutionProvider not installed" | tee "$OUT/ort_tensorrt_fp16.txt"
fi
# the temporal filter's cost per 640x480 frame (numpy/OpenCV, torch CPU, torch CUDA; issue 21), ~20 s
if (( BUDGET - ($(date +%s) - START) >= 30 )); then
    echo "== temporal_filter_cost"
    timeout 60 "$PY" bench/bench_temporal_cost.py --devices numpy cpu cuda > "$OUT/temporal_filter_cost.txt" 2>&1
    grep -E '^\||^#|^\(' "$OUT/temporal_filter_cost.txt"
else
    echo "== temporal_filter_cost skipped: budget spent" | tee "$OUT/temporal_filter_cost.txt"
fi
echo "results in $OUT after $(( $(date +%s) - START )) s"
