#!/usr/bin/env bash
# seco-mm GPU readiness check: one GPU, under 5 minutes. Prints R50 SeCo
# training throughput and peak memory at batch 32/64/128 (fp32, mixed
# precision, mixed + channels_last), the key-forward modes, the recipe's
# DataLoader over the demo data, and a one-process NCCL DDP step.
# Without CUDA it runs the same sections at smoke sizes (R18, 64 px).
#
#   bash benchmarks/gpu_check.sh                      # generates tiny demo data
#   bash benchmarks/gpu_check.sh --data data/demo     # or uses yours
#   bash benchmarks/gpu_check.sh --cpu-smoke          # force the CPU path
#
# The tables are also written to work_dirs/gpu_check/ (text + JSON;
# GPU_CHECK_OUT=DIR to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT="${GPU_CHECK_OUT:-work_dirs/gpu_check}"
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
"$PY" benchmarks/gpu_check.py --json-out "$OUT/gpu_check_$STAMP.json" "$@" \
    | tee "$OUT/gpu_check_$STAMP.txt"
