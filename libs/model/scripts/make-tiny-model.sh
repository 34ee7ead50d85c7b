#!/usr/bin/env bash
# Regenerates libs/model/testdata/tiny-model*/ with the training package's ONNX export.
# Needs the training venv: `npx nx run training:setup` creates training/.venv.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
python="${PYTHON:-$repo/training/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
  echo "error: $python not found; run 'npx nx run training:setup' or set PYTHON" >&2
  exit 2
fi

PYTHONPATH="$repo/training${PYTHONPATH:+:$PYTHONPATH}" \
  "$python" "$repo/libs/model/scripts/make-tiny-model.py" --out "$repo/libs/model/testdata" "$@"
