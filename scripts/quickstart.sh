#!/usr/bin/env bash
# Set up bedside in ./.venv and run the main job (bedside extract) on the bundled default models, offline.
# Usage: bash scripts/quickstart.sh            (PYTHON=python3.12 to pick an interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q .   # the core install: entity model (ONNX), llama.cpp + SmolLM2-135M, no torch

examples=$(python -c 'import bedside, pathlib; print(pathlib.Path(bedside.__file__).parent / "resources/examples")')
out=quickstart-out   # the outputs below are written here (git-ignored)
mkdir -p "$out"
echo "== bedside models list"
bedside models list
echo
echo "== bedside extract: entities, traits, attributes and ICD-10-CM codes from a (synthetic) discharge note"
bedside extract "$examples/discharge_note.txt" > "$out/extract.json"
python - "$out/extract.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for e in doc["entities"]:
    traits = ",".join(t["name"] for t in e["traits"])
    attrs = "; ".join(f"{a['type']}={a['text']}" for a in e["attributes"])
    code = (e.get("icd10cm_concepts") or [{}])[0].get("code", "")
    print(f"{e['category']:<30} {e['text'][:34]:<35} {code:<8} {traits:<28} {attrs}")
print(f"(full JSON, Comprehend Medical's schema: {sys.argv[1]}, {len(doc['entities'])} entities)")
PY
echo
echo "== bedside extract --format fhir: the same as a FHIR R4 Bundle (validated before it is written)"
bedside extract "$examples/discharge_note.txt" --format fhir --patient Patient/example > "$out/bundle.json"
python -c 'import collections, json, sys; b = json.load(open(sys.argv[1])); print(dict(collections.Counter(e["resource"]["resourceType"] for e in b["entry"])), "->", sys.argv[1])' "$out/bundle.json"
echo
echo "== bedside generate --choices: route the note with the bundled small LLM (SmolLM2-135M)"
bedside generate --choices "cardiology,oncology,dermatology,psychiatry" \
  "Which clinic should follow up this patient? $(head -c 600 "$examples/discharge_note.txt")"
echo
echo "== bedside audit verify (the model call above was recorded, without the note's text)"
bedside audit verify
