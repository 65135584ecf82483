#!/usr/bin/env bash
# Testing on a Slurm cluster with srun (same interface as mmaction2's):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# One task per GPU, mmengine's `slurm` launcher (NCCL). Python: $PYTHON,
# else .venv/bin/python if present, else `python`.
set -euo pipefail
export MASTER_PORT=${MASTER_PORT:-$((12000 + RANDOM % 20000))}
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SRUN=${SRUN:-srun}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tools/find_python.sh"

# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
"$SRUN" -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "${@:5}"
