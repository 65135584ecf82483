#!/usr/bin/env bash
# Distributed testing with torchrun (same interface as mmaction2's):
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# On CPU-only machines the processes use gloo (see seco_mm/compat.py).
# Python: $PYTHON, else .venv/bin/python if present, else `python`.
# The command line is built in tools/launch_common.sh.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tools/launch_common.sh"

torchrun_tool "$GPUS" test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"
