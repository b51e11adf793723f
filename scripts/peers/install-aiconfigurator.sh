#!/usr/bin/env bash
# Install NVIDIA aiconfigurator from PyPI into a throwaway venv (never vendored into this repo).
#
#   scripts/peers/install-aiconfigurator.sh            # venv at /tmp/aic-venv
#   AIC_VENV=/some/dir AIC_VERSION=0.x.y scripts/peers/install-aiconfigurator.sh
#   AIC_VERSION= scripts/peers/install-aiconfigurator.sh   # newest on PyPI instead of the pin
#
# Prints the installed version; afterwards run "$AIC_VENV/bin/aiconfigurator --help".
set -euo pipefail
AIC_VENV="${AIC_VENV:-/tmp/aic-venv}"
AIC_VERSION="${AIC_VERSION-0.12.0}"   # pinned: the version this comparison was run with
PY="${PYTHON:-python3}"
if [ ! -x "$AIC_VENV/bin/python" ]; then
  "$PY" -m venv "$AIC_VENV"
fi
"$AIC_VENV/bin/python" -m pip install --quiet --upgrade pip
if [ -n "$AIC_VERSION" ]; then
  "$AIC_VENV/bin/python" -m pip install "aiconfigurator==$AIC_VERSION"
else
  "$AIC_VENV/bin/python" -m pip install aiconfigurator
fi
"$AIC_VENV/bin/python" -m pip show aiconfigurator | sed -n '1,3p'
"$AIC_VENV/bin/python" -c 'import importlib.metadata as m; print("aiconfigurator", m.version("aiconfigurator"))'
