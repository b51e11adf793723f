#!/bin/bash
# Runs the Slurm flow on this machine (the array tasks one after another, then the merge) and checks
# that the merged points.csv and frontier.csv are byte-identical to a single run's. From anywhere:
#
#   deploy/check-local.sh [SWEEP] [N]      # defaults: sweeps/production-pools.yaml 4
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP=${1:-sweeps/production-pools.yaml}
N=${2:-4}
export PDSIM=${PDSIM:-$PWD/target/release/pdsim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PDSIM" sweep "$SWEEP" --out "$tmp/single" >/dev/null
for ((i = 0; i < N; i++)); do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$N SLURM_CPUS_PER_TASK=2 SWEEP=$SWEEP OUT=$tmp/sharded \
        bash deploy/slurm/sweep-array.sbatch >/dev/null
done
OUT=$tmp/sharded bash deploy/slurm/merge.sbatch >/dev/null
for f in points.csv frontier.csv; do
    cmp "$tmp/single/$f" "$tmp/sharded/merged/$f"
done
echo "ok: $N shards of $SWEEP merge into the single run's points.csv and frontier.csv"
