#!/usr/bin/env bash
# Reproduce benches/PEERS.md: pdsim beside NVIDIA aiconfigurator (installed from PyPI into a venv,
# never vendored). About 8 minutes on 2 cores, most of it aiconfigurator estimating 362 measured rows.
#
#   scripts/peers/run-all.sh                       # writes /tmp/peers
#   OUT=/some/dir PDSIM=/path/to/pdsim scripts/peers/run-all.sh
#
# Needs: python3 (3.10+), network access to PyPI for the install, a built pdsim
# (cargo build --release), and ../shared/validation-dev/silicon_h100_qwen3_32b.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/peers}"
export AIC_VENV="${AIC_VENV:-/tmp/aic-venv}"
PDSIM="${PDSIM:-target/release/pdsim}"
SILICON="${SILICON:-../shared/validation-dev/silicon_h100_qwen3_32b.csv}"
mkdir -p "$OUT"
export PYTHONWARNINGS=ignore

# 1. aiconfigurator 0.12.0 into a venv
scripts/peers/install-aiconfigurator.sh | tail -1
AIC="$AIC_VENV/bin/aiconfigurator"

# 2. both tools on every measured row
/usr/bin/time -f "aiconfigurator, 362 rows: wall %e s" \
  "$AIC_VENV/bin/python" scripts/peers/aic_estimate_rows.py "$SILICON" "$OUT/aic_rows.csv" 2>&1 | tail -2
/usr/bin/time -f "pdsim validate: wall %e s" "$PDSIM" validate --silicon "$SILICON" --out "$OUT/val" | tail -2
python3 scripts/peers/row_errors.py "$OUT/aic_rows.csv" "$OUT/val/validation.csv" \
  --md "$OUT/rows.md" --csv "$OUT/rows_joined.csv" > /dev/null
# the 12 ISL/OSL 4000/1000 rows record no client concurrency: pdsim runs them at an assumed one
python3 scripts/peers/assume_concurrency.py "$SILICON" "$OUT/silicon_assumed.csv"
"$PDSIM" validate --silicon "$OUT/silicon_assumed.csv" --out "$OUT/val_assumed" > /dev/null

# 3. aiconfigurator's SLA search per case, and pdsim on every configuration it ranks
AIC="$AIC" PDSIM="$PDSIM" python3 scripts/peers/compare_cases.py "$OUT/cases" > /dev/null
cat "$OUT/rows.md" "$OUT/cases/cases.md"
