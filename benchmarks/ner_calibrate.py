"""Logit offsets per category for the entity model, chosen on the dev sets with train-only models.

Each ``--model`` is an exported artifact trained on the train splits only (recipe ``default``), so
the dev sets are held out for it. For every pair of offsets in the grid the model's strict F1 on
the three dev sets is measured (``bedside.ner.calibrate``); the pair with the largest summed gain,
averaged over the models, is the one to ship (the shipped model trains on train + dev, so it cannot
choose its own). The artifacts' own ``label_bias`` is ignored: the sweep starts from raw logits.

    python benchmarks/ner_calibrate.py --model DIR [--model DIR ...] [--name ner_calibration]

Writes benchmarks/results/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bedside.ner.calibrate import gain, sweep
from bedside.ner.data import CorpusRef, read_corpus
from bedside.ner.infer import NerModel

OUT = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ner"
DEV = (("ncbi_disease", "MEDICAL_CONDITION"), ("bc5cdr_disease", "MEDICAL_CONDITION"), ("bc5cdr_chem", "MEDICATION"))
GRID = {"MEDICAL_CONDITION": [0.0, -0.5, -1.0, -1.5, -2.0, -2.5], "MEDICATION": [0.0, -0.5, -1.0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", required=True, help="a train-only NER artifact")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--name", default="ner_calibration")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    corpora = [read_corpus(CorpusRef(args.data / name / "dev.tsv", cat)) for name, cat in DEV]
    per_model = {}
    for path in args.model:
        model = NerModel(path, threads=args.threads)
        rows = sweep(model, corpora, GRID)
        base = rows[0]  # all offsets 0 (the grids start at 0)
        for row in rows:
            row["gain"] = round(gain(row, base) * 100, 2)
        per_model[str(path)] = {"trained_on": [d.get("path") for d in model.meta.get("train_data", [])], "rows": rows}
        print(path, max(rows, key=lambda r: r["gain"]), file=sys.stderr)
    keys = [json.dumps(r["label_bias"], sort_keys=True) for r in next(iter(per_model.values()))["rows"]]
    mean_gain = {k: sum(m["rows"][i]["gain"] for m in per_model.values()) / len(per_model) for i, k in enumerate(keys)}
    best = max(mean_gain, key=mean_gain.get)
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count()},
        "grid": GRID, "models": per_model, "mean_gain": mean_gain, "chosen": json.loads(best),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(render(result), encoding="utf-8")
    print(json.dumps({"chosen": result["chosen"], "mean_gain": round(mean_gain[best], 2)}))
    return 0


def render(r: dict) -> str:
    names = [f"{name}/dev" for name, _ in DEV]
    lines = [
        "# Entity model: logit offsets per category, chosen on dev with train-only models", "",
        f"Command: `{r['command']}`  ", f"Date: {r['date']}  ",
        f"Machine: {r['machine']['arch']}, {r['machine']['cores']} cores", "",
        "Strict F1 (%) of each train-only model on the dev sets; `gain` is the summed change over the three "
        "sets against no offsets. A negative offset asks for more evidence before a word gets the category.", "",
    ]
    for path, m in r["models"].items():
        lines += [f"## `{path}`", "", "| MEDICAL_CONDITION | MEDICATION | " + " | ".join(names) + " | gain |",
                  "|---|---|" + "---|" * len(names) + "---|"]
        for row in m["rows"]:
            lb = row["label_bias"]
            cells = [f"{row['scores'][n]['f1'] * 100:.2f} (P {row['scores'][n]['precision'] * 100:.1f} / "
                     f"R {row['scores'][n]['recall'] * 100:.1f})" for n in names]
            lines.append(f"| {lb['MEDICAL_CONDITION']:+.1f} | {lb['MEDICATION']:+.1f} | " + " | ".join(cells)
                         + f" | {row['gain']:+.2f} |")
        lines.append("")
    best = r["chosen"]
    lines += [f"Chosen (largest mean gain over the models, {max(r['mean_gain'].values()):+.2f} F1 summed over the "
              f"three dev sets): MEDICAL_CONDITION {best['MEDICAL_CONDITION']:+.1f}, MEDICATION "
              f"{best['MEDICATION']:+.1f}. The shipped model (train + dev) carries these in its bedside-ner.json "
              "(`label_bias`); its own dev scores cannot judge them.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
