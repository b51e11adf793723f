#!/usr/bin/env bash
# nccl.sh: NCCL collective microbenchmarks for `pdsim calibrate`, with NVIDIA's nccl-tests.
#
#   bash nccl.sh OUT_DIR
#
# Runs all_reduce_perf, all_gather_perf and sendrecv_perf on 2, 4 and 8 GPUs of THIS node
# (`-b 8 -e 8G -f 2 -g N`: one process driving N GPUs, message sizes 8 B .. 8 GiB doubling) and writes
# each run's raw nccl-tests output to OUT_DIR/nccl-tests/<test>.1node.<N>gpu.log. pdsim reads these
# raw logs directly: do not edit or convert them. Lines this script adds start with '#', like the
# comments nccl-tests itself prints.
#
# Unless NCCL_TESTS_BIN points at an existing build, the script clones
# https://github.com/NVIDIA/nccl-tests on the GPU node it runs on (so that node needs git, network
# access to GitHub, make, nvcc and the NCCL headers and library: an NGC PyTorch container has all of
# them) and builds it in NCCL_TESTS_SRC (default ${TMPDIR:-/tmp}/nccl-tests, kept out of OUT_DIR so
# that `pdsim calibrate --data OUT_DIR` only sees results).
#
# Settings (environment variables):
#   GPU_COUNTS       GPU counts to run on                      (default "2 4 8"; counts above the
#                    GPUs visible here are skipped)
#   TESTS            nccl-tests binaries to run                (default "all_reduce_perf
#                    all_gather_perf sendrecv_perf"; reduce_scatter_perf and alltoall_perf also work)
#   MIN_BYTES        -b                                        (default 8)
#   MAX_BYTES        -e                                        (default 8G)
#   EXTRA_ARGS       more nccl-tests flags, e.g. "-d bfloat16" or "-n 50 -w 10" (default none)
#   NCCL_TESTS_BIN   directory with prebuilt binaries; skips clone and build
#   NCCL_TESTS_SRC   where to clone and build                  (default ${TMPDIR:-/tmp}/nccl-tests)
#   NCCL_TESTS_REF   tag or commit to check out, e.g. v2.17.6  (default: the default branch)
#   CUDA_HOME, NCCL_HOME, MPI_HOME   passed to make when set (MPI_HOME also sets MPI=1)
#   RUN_TIMEOUT      seconds one run may take                  (default 1800)
#
# Multi-node (collectives across nodes, e.g. over InfiniBand/RoCE/EFA) needs an MPI build
# (MPI_HOME=/usr/local/mpi bash nccl.sh ... builds one) and one process per GPU, launched by mpirun.
# pdsim reads those logs the same way; name them <test>.<nodes>node.<gpus>gpu.log. For example, two
# nodes of 8 GPUs (not run by this script):
#
#   mpirun -np 16 -N 8 --hostfile hosts.txt --bind-to none \
#     -x LD_LIBRARY_PATH -x NCCL_IB_HCA -x NCCL_SOCKET_IFNAME \
#     "$NCCL_TESTS_SRC/build/all_reduce_perf" -b 8 -e 8G -f 2 -g 1 \
#     > "$OUT_DIR/nccl-tests/all_reduce_perf.2node.16gpu.log" 2>&1
#
# Takes a few minutes on an 8x H100 node after a 1-2 minute build.

set -euo pipefail

usage() {
  echo "usage: bash nccl.sh OUT_DIR    (settings are environment variables: see the top of this file)" >&2
  exit 2
}

die() {
  echo "nccl.sh: $*" >&2
  exit 1
}

log() {
  echo "[$(date +%H:%M:%S)] $*" >&2
}

[[ $# -eq 1 && $1 != -* ]] || usage
OUT_DIR=$1
LOG_DIR=$OUT_DIR/nccl-tests

GPU_COUNTS=${GPU_COUNTS:-"2 4 8"}
TESTS=${TESTS:-"all_reduce_perf all_gather_perf sendrecv_perf"}
MIN_BYTES=${MIN_BYTES:-8}
MAX_BYTES=${MAX_BYTES:-8G}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
NCCL_TESTS_SRC=${NCCL_TESTS_SRC:-${TMPDIR:-/tmp}/nccl-tests}
read -r -a EXTRA <<<"${EXTRA_ARGS:-}"

# GPUs this process can use: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists (in a
# Kubernetes pod, the GPUs the pod was given).
visible_gpus() {
  if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
    local -a ids
    IFS=, read -r -a ids <<<"$CUDA_VISIBLE_DEVICES"
    echo "${#ids[@]}"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L | grep -c '^GPU ' || true
  else
    echo 0
  fi
}

build_nccl_tests() {
  if [[ -n ${NCCL_TESTS_BIN:-} ]]; then
    [[ -x $NCCL_TESTS_BIN/all_reduce_perf ]] || die "NCCL_TESTS_BIN=$NCCL_TESTS_BIN has no all_reduce_perf"
    BIN=$NCCL_TESTS_BIN
    return
  fi
  command -v git >/dev/null 2>&1 || die "git not found: install it or set NCCL_TESTS_BIN to a prebuilt nccl-tests/build"
  command -v make >/dev/null 2>&1 || die "make not found: install it or set NCCL_TESTS_BIN"
  if [[ ! -d $NCCL_TESTS_SRC/.git ]]; then
    log "cloning NVIDIA/nccl-tests into $NCCL_TESTS_SRC"
    git clone --quiet https://github.com/NVIDIA/nccl-tests.git "$NCCL_TESTS_SRC"
  fi
  if [[ -n ${NCCL_TESTS_REF:-} ]]; then
    git -C "$NCCL_TESTS_SRC" fetch --quiet --tags origin
    git -C "$NCCL_TESTS_SRC" checkout --quiet "$NCCL_TESTS_REF"
  fi
  local -a make_args=("-j" "$(nproc)")
  [[ -n ${CUDA_HOME:-} ]] && make_args+=("CUDA_HOME=$CUDA_HOME")
  [[ -n ${NCCL_HOME:-} ]] && make_args+=("NCCL_HOME=$NCCL_HOME")
  [[ -n ${MPI_HOME:-} ]] && make_args+=("MPI=1" "MPI_HOME=$MPI_HOME")
  log "building nccl-tests ($(git -C "$NCCL_TESTS_SRC" rev-parse --short HEAD)): make ${make_args[*]}"
  make -C "$NCCL_TESTS_SRC" "${make_args[@]}" >"$NCCL_TESTS_SRC/build.log" 2>&1 ||
    die "nccl-tests build failed: see $NCCL_TESTS_SRC/build.log"
  BIN=$NCCL_TESTS_SRC/build
}

# Which libnccl a binary loads, for the log header ("" when ldd cannot tell).
libnccl_of() {
  local lib
  lib=$(ldd "$1" 2>/dev/null | awk '/libnccl/ {print $3; exit}')
  if [[ -n $lib ]]; then readlink -f "$lib"; fi
}

# One nccl-tests run into its log; a run that fails keeps its output as .log.failed so that pdsim
# does not read it.
run_one() {
  local test=$1 gpus=$2
  local log_file=$LOG_DIR/$test.1node.${gpus}gpu.log
  local -a cmd=("$BIN/$test" -b "$MIN_BYTES" -e "$MAX_BYTES" -f 2 -g "$gpus" "${EXTRA[@]}")
  local -a limit=()
  command -v timeout >/dev/null 2>&1 && limit=(timeout "$RUN_TIMEOUT")
  log "$test on $gpus GPUs -> $log_file"
  {
    echo "# pdsim-microbench nccl.sh: test=$test nodes=1 gpus=$gpus gpus_per_node=$gpus"
    echo "# pdsim-microbench host=$(hostname) date=$(date -u +%Y-%m-%dT%H:%M:%SZ) libnccl=$(libnccl_of "$BIN/$test")"
    echo "# pdsim-microbench cmd: ${cmd[*]}"
  } >"$log_file"
  if "${limit[@]}" "${cmd[@]}" >>"$log_file" 2>&1; then
    grep -E '^# Avg bus bandwidth' "$log_file" | sed "s|^|    $test ${gpus} GPUs: |" >&2 || true
    return 0
  fi
  mv -f "$log_file" "$log_file.failed"
  log "FAILED: $test on $gpus GPUs (output kept in $log_file.failed)"
  return 1
}

main() {
  mkdir -p "$LOG_DIR"
  local avail
  avail=$(visible_gpus)
  [[ $avail -ge 1 ]] || die "no GPU visible (nvidia-smi -L lists none)"
  build_nccl_tests
  local -a counts=()
  local n
  for n in $GPU_COUNTS; do
    if [[ $n -le $avail ]]; then
      counts+=("$n")
    else
      log "skipping $n GPUs: only $avail visible"
    fi
  done
  [[ ${#counts[@]} -gt 0 ]] || die "none of GPU_COUNTS=\"$GPU_COUNTS\" fits the $avail visible GPU(s)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi topo -m >&2 || true
  fi
  local failed=0 test
  for test in $TESTS; do
    [[ -x $BIN/$test ]] || die "$BIN/$test not found (TESTS=\"$TESTS\")"
    for n in "${counts[@]}"; do
      run_one "$test" "$n" || failed=$((failed + 1))
    done
  done
  log "logs in $LOG_DIR"
  if [[ $failed -gt 0 ]]; then
    log "$failed run(s) failed"
    return 1
  fi
}

main
