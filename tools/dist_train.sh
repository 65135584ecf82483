#!/usr/bin/env bash
# Distributed training with torchrun (same interface as mmaction2's):
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# On CPU-only machines the processes use gloo (see seco_mm/compat.py).
# Python: $PYTHON if set, else the project's .venv/bin/python if it exists
# (what `make demo` / `make install` create), else `python` on the PATH.
# The command line is built in tools/launch_common.sh.
set -euo pipefail
CONFIG=$1
GPUS=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tools/launch_common.sh"

torchrun_tool "$GPUS" train.py "$CONFIG" --launcher pytorch "${@:3}"
