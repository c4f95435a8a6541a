# Sourced by the setup scripts: create ./.venv if missing, activate it, upgrade pip.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
