#!/usr/bin/env bash
# Creates training/.venv on top of Debian's Python packages (torch, onnx, numpy) and installs
# from PyPI only what Debian lacks: onnxruntime (CPU wheel) and this package in editable mode.
# Quick when nothing changed: a stamp records the hash of pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PYTHON=/usr/bin/python3
VENV=.venv
STAMP="$VENV/.setup-stamp"

if ! "$SYSTEM_PYTHON" -c 'import torch, onnx, numpy' 2>/dev/null; then
  echo "setup-venv: $SYSTEM_PYTHON cannot import torch, onnx and numpy." >&2
  echo "Install the Debian packages listed in training/requirements-system.txt:" >&2
  echo "  sudo apt-get install \$(grep -v '^#' training/requirements-system.txt)" >&2
  exit 1
fi

wanted_stamp="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted_stamp" ] \
  && "$VENV/bin/python" -c 'import onnxruntime, dlco_train' 2>/dev/null; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi
# --no-build-isolation builds with Debian's setuptools instead of downloading one.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-build-isolation -e '.[test]'
echo "$wanted_stamp" >"$STAMP"
echo "setup-venv: ready at training/$VENV"
