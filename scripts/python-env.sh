#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv the Python shell is built and tested in, with
# pinned tools from PyPI, and installs the package from ./bindings-python with pip.
# Usage: source scripts/python-env.sh   (sets VENV and activates it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TENANTGUARD_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
stamp="$VENV/.tools-v2"
if [ ! -f "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -r "$ROOT/bindings-python/requirements-dev.txt"
  touch "$stamp"
fi
# A real `pip install` of the package from the source tree (PEP 517 via maturin). Build
# isolation is off so the pinned maturin of this venv is used (no download at build time).
python -m pip install --quiet --no-build-isolation --force-reinstall --no-deps "$ROOT/bindings-python"
