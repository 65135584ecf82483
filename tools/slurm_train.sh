#!/usr/bin/env bash
# Training on a Slurm cluster with srun (same interface as mmaction2's):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args...]
# One task per GPU, mmengine's `slurm` launcher (NCCL). Python: $PYTHON,
# else .venv/bin/python if present, else `python`. The command line is
# built in tools/launch_common.sh.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tools/launch_common.sh"

srun_tool "$PARTITION" "$JOB_NAME" train.py "$CONFIG" --launcher=slurm \
    "${@:4}"
