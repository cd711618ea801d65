#!/usr/bin/env bash
# The prepared LingBot-Depth GPU benchmark (issue 15 §6): run once on a CUDA machine from the repo root.
#   bash bench/run_gpu_bench.sh [OUT_DIR]          (default bench/results/gpu_<hostname>)
# Full ViT-L reference config (random weights), 640x480, levels 0/5/9, monocular + completion at 5 %, batch 1 and 4:
# torch bf16 eager, torch bf16 torch.compile (fixed-shape token path), onnxruntime CUDA fp16 and, when the
# TensorRT provider is installed (onnxruntime-gpu with TensorRT libraries), TensorRT fp16. Each step writes
# its table to OUT_DIR/<step>.txt and its rows to OUT_DIR/<step>.json; a failing step does not stop the others.
set -u
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-bench/results/gpu_$(hostname)}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || true
"$PY" -c "import torch, onnxruntime as o; print(torch.__version__, torch.version.cuda, o.__version__, o.get_available_providers())" \
    >> "$OUT/gpu.txt" 2>&1 || true
COMMON=(--config reference --device cuda --levels 0 5 9 --batches 1 4 --modes monocular completion --density 0.05)
run() {
    local name=$1; shift
    echo "== $name"
    timeout 3000 "$PY" bench/bench_model.py "${COMMON[@]}" "$@" --json "$OUT/$name.json" 2>&1 | tee "$OUT/$name.txt" \
        | grep -E '^\||^#' || echo "   ($name failed: see $OUT/$name.txt)"
}
run torch_bf16_eager --precisions bf16 --cudnn-benchmark
run torch_bf16_compile --precisions bf16 --cudnn-benchmark --compile max-autotune-no-cudagraphs --token-path mask
run ort_cuda_fp16 --backend onnxruntime --fp16 --providers CUDAExecutionProvider
if "$PY" -c "import onnxruntime as o, sys; sys.exit('TensorrtExecutionProvider' not in o.get_available_providers())"; then
    run ort_tensorrt_fp16 --backend onnxruntime --fp16 --providers TensorrtExecutionProvider,CUDAExecutionProvider
else
    echo "== ort_tensorrt_fp16 skipped: TensorrtExecutionProvider not installed" | tee "$OUT/ort_tensorrt_fp16.txt"
fi
echo "results in $OUT"
