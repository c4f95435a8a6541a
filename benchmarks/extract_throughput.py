"""Notes/s of `bedside extract` vs medSpaCy's standard rule pipeline, on the same notes, in one run.

    bash benchmarks/setup_medspacy.sh          # once: medSpaCy in its own venv (.venv-medspacy)
    python benchmarks/extract_throughput.py [--notes 200] [--corpus DIR]

Notes: the first N English clinical cases of CodiEsp train (../shared/data/icd_coding/codiesp/
train/text_files_en, real case reports, ~2 kB each). Each side loads once, warms up on 3 notes, then
processes all N; load time is reported apart. bedside runs its full pipeline (sentence split, the
ONNX entity model, rule entities, attributes, ConText traits, sections, ICD-10-CM linking) and the
rules-only strategy; medSpaCy runs PyRuSH sentences + target matcher + ConText + sectionizer with the
same vocabulary as target rules. Both on the same 2 cores, one process each, run one after the other.

Writes benchmarks/results/extract_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bedside.clinical.resources import load
from bedside.extract import Extractor

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
PEER_PY = ROOT / ".venv-medspacy" / "bin" / "python"


def notes_from(folder: Path, n: int) -> list[str]:
    files = sorted(folder.glob("*.txt"))[:n]
    if len(files) < n:
        sys.exit(f"{folder} holds {len(files)} notes; {n} asked")
    return [f.read_text(encoding="utf-8") for f in files]


def vocabulary() -> dict[str, list[str]]:
    """bedside's condition/medication/test lexicon terms, as medSpaCy target-rule literals."""
    out: dict[str, set[str]] = {}
    for name in ("conditions.json", "medications.json", "tests.json"):
        for group in load(name)["groups"]:
            terms = group["terms"]
            out.setdefault(group["category"], set()).update(terms if isinstance(terms, list) else terms.keys())
    return {k: sorted(v) for k, v in out.items()}


def run_bedside(notes: list[str], strategy: str) -> dict:
    t0 = time.perf_counter()
    ex = Extractor(strategy, link_icd10=True)
    list(ex.extract_many(notes[:3]))
    t1 = time.perf_counter()
    entities = negated = errors = 0
    for o in ex.extract_many(notes):
        if o.error is not None:
            errors += 1
            continue
        entities += len(o.document.entities)
        negated += sum(1 for e in o.document.entities if any(t.name == "NEGATION" for t in e.traits))
    t2 = time.perf_counter()
    return {"load_seconds": round(t1 - t0, 3), "seconds": round(t2 - t1, 3), "notes": len(notes),
            "entities": entities, "negated": negated, "errors": errors, "provenance": ex.provenance}


def run_medspacy(notes: list[str]) -> dict:
    if not PEER_PY.exists():
        sys.exit("medSpaCy is not set up: run `bash benchmarks/setup_medspacy.sh` first")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "notes.json").write_text(json.dumps(notes))
        (Path(tmp) / "terms.json").write_text(json.dumps(vocabulary()))
        r = subprocess.run([str(PEER_PY), str(ROOT / "benchmarks/peers/medspacy_pipeline.py"),
                            str(Path(tmp) / "notes.json"), str(Path(tmp) / "terms.json")],
                           capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the fastest of each is reported")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/data/icd_coding/codiesp/train/text_files_en")
    args = ap.parse_args()
    notes = notes_from(args.corpus, args.notes)
    runners = {
        "bedside extract (default: model + rules + ICD-10-CM)": lambda: run_bedside(notes, "default"),
        "bedside extract --strategy rules (+ ICD-10-CM)": lambda: run_bedside(notes, "rules"),
        "medSpaCy (PyRuSH + target matcher + ConText + sectionizer)": lambda: run_medspacy(notes),
    }
    # Rounds interleave the pipelines so that a change in machine load hits all of them alike; each
    # pipeline's fastest round is reported (as timeit does: slower rounds measure the interference).
    load_before = os.getloadavg()
    rounds: dict[str, list[dict]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            rounds[name].append(run())
    rows = {}
    for name, runs in rounds.items():
        best = min(runs, key=lambda r: r["seconds"])
        rows[name] = {**best, "round_seconds": [r["seconds"] for r in runs]}
    for r in rows.values():
        r["notes_per_s"] = round(r["notes"] / r["seconds"], 2)
    peer = rows["medSpaCy (PyRuSH + target matcher + ConText + sectionizer)"]["notes_per_s"]
    for r in rows.values():
        r["ratio_vs_medspacy"] = round(r["notes_per_s"] / peer, 2)
    record = {
        "command": "python benchmarks/extract_throughput.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "corpus": str(args.corpus.relative_to(ROOT.parent) if args.corpus.is_relative_to(ROOT.parent) else args.corpus),
        "mean_note_chars": round(sum(map(len, notes)) / len(notes)),
        "rounds": args.rounds,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "results": rows,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "extract_throughput.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# `bedside extract` throughput vs medSpaCy (same notes, same machine, one run)", "",
        f"Command: `{record['command']}`  ", f"Date: {record['date']}  ", f"Machine: {record['machine']}  ",
        f"Notes: {args.notes} from `{record['corpus']}` (mean {record['mean_note_chars']} characters)  ",
        f"Rounds: {args.rounds}, interleaved; the fastest of each pipeline is reported. "
        f"1-min load average before/after: {record['load_average_before_after']}", "",
        "| pipeline | notes/s | ratio vs medSpaCy | entities | negated | load s |", "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['notes_per_s']} | {r['ratio_vs_medspacy']} | {r['entities']} | "
                     f"{r['negated']} | {r['load_seconds']} |")
    (OUT / "extract_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
