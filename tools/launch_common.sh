# Sourced by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh
# (mmaction2's launcher interface): finds Python (find_python.sh) and builds
# the torchrun / srun command line once for all four.
# Expects ROOT (the repository root) to be set.
source "$ROOT/tools/find_python.sh"

# torchrun_tool NPROC TOOL ARGS...: run tools/TOOL ARGS... under torchrun
# with NPROC processes on this node. Multi-node: NNODES (1), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1) and PORT (29500) from the environment.
torchrun_tool() {
    local nproc=$1 tool=$2
    shift 2
    PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nproc" \
        --master_port="${PORT:-29500}" \
        "$ROOT/tools/$tool" "$@"
}

# srun_tool PARTITION JOB_NAME TOOL ARGS...: run tools/TOOL ARGS... with
# srun, one task per GPU: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5),
# SRUN_ARGS (extra srun options) and SRUN (srun) from the environment;
# MASTER_PORT, unless set, a random port in [12000, 32000).
srun_tool() {
    local partition=$1 job_name=$2 tool=$3
    shift 3
    export MASTER_PORT=${MASTER_PORT:-$((12000 + RANDOM % 20000))}
    local gpus_per_node=${GPUS_PER_NODE:-8}
    # shellcheck disable=SC2086  # SRUN_ARGS is a list of options
    PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
    "${SRUN:-srun}" -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$ROOT/tools/$tool" "$@"
}
