#!/usr/bin/env bash
# One GPU session, at most 590 s of time limits (under 10 minutes) on one H100 / H200 (docs/gpu.md says what it measures and why):
#   OUT=/some/folder bash benchmarks/gpu_session.sh
# 1. the GPU tests (pytest -m gpu), 2. benchmarks/gpu.py at batch 32: eager, --compile, and
# --compile-mode reduce-overhead (CUDA graphs), 3. benchmarks/study.py with 1, 2, 4, 8 concurrent batch-32
# jobs (eager), and 4 compiled jobs. Each step has its own time limit, so one that hangs does not take the rest;
# everything lands in $OUT (one log per step, and summary.txt with each step's exit status).
set -u
OUT=${OUT:?set OUT to the folder for the results}
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mosei_gpu_session.XXXXXX)  # one corpus and cache for every step (built once)
export WANDB_MODE=disabled MPLBACKEND=Agg
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME SECONDS COMMAND...: run it with a time limit, log to $OUT/NAME.log, note its status
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc ${limit}s-limit took=$((SECONDS - t0))s: $*" | tee -a "$SUMMARY"
    tail -n 1 "$OUT/$name.log" > "$OUT/$name.json" 2>/dev/null || true
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" >> "$SUMMARY" 2>&1
# the shared corpus and cache first (paper shapes, 150 videos), so no step's limit pays for it
step prepare 100 "$PY" benchmarks/gpu.py --batches 32 --steps 5 --warmup 1 --workdir "$WORK"
step pytest_gpu 90 "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
step gpu_b32_eager 45 "$PY" benchmarks/gpu.py --batches 32 64 512 --steps 50 --warmup 10 --workdir "$WORK"
step gpu_b32_compile 90 "$PY" benchmarks/gpu.py --batches 32 512 --steps 50 --warmup 10 --compile \
    --workdir "$WORK"
step gpu_b32_cudagraphs 90 "$PY" benchmarks/gpu.py --batches 32 --steps 50 --warmup 10 \
    --compile-mode reduce-overhead --workdir "$WORK"
step study_eager 100 "$PY" benchmarks/study.py --jobs 1 2 4 8 --steps 100 --warmup 10 --workdir "$WORK"
step study_compile 75 "$PY" benchmarks/study.py --jobs 4 --steps 100 --warmup 10 --compile \
    --workdir "$WORK"
rm -rf "$WORK"
