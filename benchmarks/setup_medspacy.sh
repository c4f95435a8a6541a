#!/usr/bin/env bash
# A separate venv for the medSpaCy peer: medspacy 1.3 pins spaCy 3.7 and numpy < 2, which would
# downgrade bedside's own environment. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-medspacy/bin/python ] || ! .venv-medspacy/bin/python -c "import medspacy" 2>/dev/null; then
  python3 -m venv .venv-medspacy
  .venv-medspacy/bin/pip install -q "medspacy==1.3.1"
fi
.venv-medspacy/bin/python -c "import medspacy; print('medspacy', medspacy.__version__)"
