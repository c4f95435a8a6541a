#!/usr/bin/env bash
# Set up bedside with every extra the tests exercise in ./.venv and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args]    (PYTHON=python3.12 to pick an interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
# torch first and pinned: left to a resolver, a bare `torch` requirement pulls a multi-GB CUDA build.
# 2.13.0 is the CPU build this project is tested with; override with TORCH_SPEC.
python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
python -m pip install -q -e ".[models,train,ner,eval,test]"
exec python -m pytest "$@"
