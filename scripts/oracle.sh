#!/usr/bin/env bash
# Records the outputs a behaviour-preserving change must leave byte-identical: every shipped
# scenario's summary.json (wall time removed), requests.csv and timeseries.csv, every shipped
# sweep's points.csv and frontier.csv, the `validate` tables on ../shared/validation-dev, the
# `check` table of results/baseline and a `plan` report.
#
#   scripts/oracle.sh target/release/pdsim /tmp/oracle-before
#   ... change the code, rebuild ...
#   scripts/oracle.sh target/release/pdsim /tmp/oracle-after
#   diff -r /tmp/oracle-before /tmp/oracle-after && echo byte-identical
set -euo pipefail
bin=$(realpath "$1")
out=$2
cd "$(dirname "$0")/.."
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strip_wall() { sed -E 's/"wall_s": ?[0-9.eE+-]+/"wall_s": 0/g' "$1"; }
# every shipped scenario that runs on its own (dynamo-alerts is an overlay on llama70b-burst)
standalone=$(ls scenarios/*.yaml | grep -v dynamo-alerts)
for s in $standalone "scenarios/llama70b-burst.yaml scenarios/dynamo-alerts.yaml"; do
  n=$(echo "$s" | sed -E 's#scenarios/##g; s/\.yaml//g; s/ /+/g')
  # shellcheck disable=SC2086
  "$bin" run $s --out "$tmp/$n" >"$out/run-$n.txt"
  sed -i -E "s#$tmp#TMP#g; s/(wall|simulated in) [0-9.]+ ?(ms|s)/\\1 X/g" "$out/run-$n.txt"
  strip_wall "$tmp/$n/summary.json" >"$out/$n.summary.json"
  cp "$tmp/$n/requests.csv" "$out/$n.requests.csv"
  cp "$tmp/$n/timeseries.csv" "$out/$n.timeseries.csv"
done
for s in sweeps/*.yaml; do
  n=$(basename "$s" .yaml)
  "$bin" sweep "$s" --out "$tmp/sweep-$n" >/dev/null 2>&1
  cp "$tmp/sweep-$n/points.csv" "$out/sweep-$n.points.csv"
  cp "$tmp/sweep-$n/frontier.csv" "$out/sweep-$n.frontier.csv"
done
if [ -d ../shared/validation-dev ]; then
  for f in ../shared/validation-dev/silicon_*.csv; do
    n=$(basename "$f" .csv)
    # each table on the GPU it was measured on (h200 rows are "not simulated" on the default h100)
    hw=h100-sxm
    case "$n" in *h200*) hw=h200-sxm ;; esac
    "$bin" validate --silicon "$f" --hardware "$hw" --out "$tmp/val-$n" >"$out/validate-$n.txt" 2>&1 || echo "exit $?" >>"$out/validate-$n.txt"
    sed -i -E 's/rows in [0-9.]+ s/rows in X s/' "$out/validate-$n.txt"
    [ -f "$tmp/val-$n/validation.csv" ] && cp "$tmp/val-$n/validation.csv" "$out/validate-$n.csv"
  done
else
  echo "SKIPPED validate: ../shared/validation-dev is absent" >&2
fi
"$bin" check --baseline results/baseline >"$out/check.txt" 2>&1 || echo "exit $?" >>"$out/check.txt"
"$bin" plan scenarios/llama70b-production.yaml --sla ttft_p99_ms=2000,tpot_p99_ms=40 --max-gpus 24 \
  --out "$tmp/plan" >/dev/null 2>&1 || true
[ -f "$tmp/plan/report.md" ] && cp "$tmp/plan/report.md" "$out/plan-report.md" && cp "$tmp/plan/plan.yaml" "$out/plan.yaml"
"$bin" cost --model llama-3.1-70b --tp 4 --phase decode --batch 256 --isl 1500 --json >"$out/cost-decode.json"
"$bin" cost --model llama-3.1-70b --tp 4 --phase prefill --batch 4 --isl 1500 --json >"$out/cost-prefill.json"
echo "oracle written to $out ($(ls "$out" | wc -l) files)"
