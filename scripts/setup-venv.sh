#!/usr/bin/env bash
# Create .venv with Python 3.11+ and install the pinned requirements (again only when they change).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11+ is required" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
files=(requirements.txt)
[ "${1:-}" = "--dev" ] && files+=(requirements-dev.txt)
stamp=".venv/.installed-$(cat "${files[@]}" constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  args=(-c constraints.txt)
  for f in "${files[@]}"; do args+=(-r "$f"); done
  .venv/bin/pip install -q "${args[@]}"
  touch "$stamp"
fi
