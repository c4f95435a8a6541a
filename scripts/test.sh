#!/usr/bin/env bash
# Set up bedside with every extra the tests exercise in ./.venv and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args]    (PYTHON=python3.12 to pick an interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
# torch first and pinned: left to a resolver, a bare `torch` requirement pulls a multi-GB CUDA build.
# 2.13.0 is the CPU build this project is tested with; override with TORCH_SPEC.
python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
python -m pip install -q -e ".[models,train,ner,eval,deid,test]"
# The report's HTML is checked in a real headless browser: Debian's Chromium, driven by playwright
# (whose own browser download does not work offline). Installed once, as root; skipped when present.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "scripts/test.sh: chromium not found and cannot apt-get it (not root?); browser tests will skip" >&2
  fi
fi
exec python -m pytest "$@"
