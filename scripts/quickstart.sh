#!/usr/bin/env bash
# Set up bedside in ./.venv and run the main job on the bundled default model, offline.
# Usage: bash scripts/quickstart.sh            (PYTHON=python3.12 to pick an interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q .   # the core install: llama.cpp engine + SmolLM2-135M, no torch

examples=$(python -c 'import bedside, pathlib; print(pathlib.Path(bedside.__file__).parent / "resources/examples")')
echo "== bedside models list"
bedside models list
echo
echo "== bedside generate: problem and medication list from the example note (JSON valid against the schema)"
bedside generate --schema "$examples/problem_list.schema.json" --file "$examples/discharge_note.txt"
echo
echo "== bedside generate --choices: route the note"
bedside generate --choices "cardiology,oncology,dermatology,psychiatry" \
  "Which clinic should follow up this patient? $(head -c 600 "$examples/discharge_note.txt")"
echo
echo "== bedside audit verify (every call above was recorded, without the note's text)"
bedside audit verify
