"""Entity models on text none of them trained on: ADE-Corpus-V2's drug and adverse-effect mentions.

The shipped model is trained on the NER train AND dev splits, so its dev scores measure nothing.
ADE-Corpus-V2 (PubMed case reports, annotated by others) is held out from every recipe: each
model is scored on the recall of its drug mentions (as MEDICATION) and adverse effects (as
MEDICAL_CONDITION), by span overlap and exact span. Recall only: ADE marks only the drugs and
effects that form an adverse-event relation, so an unmarked prediction may still be right.

    python benchmarks/ner_ade_check.py NAME=MODEL_DIR [NAME=MODEL_DIR ...]

Writes benchmarks/results/ner_ade_check.{json,md}.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from bedside.ner.infer import NerModel

DATA = Path("../shared/data/medication/ade_corpus_v2/DRUG-AE.rel")
OUT = Path(__file__).parent / "results"
KINDS = (("adverse effect", 1, "MEDICAL_CONDITION"), ("drug", 2, "MEDICATION"))


def main() -> None:
    if len(sys.argv) < 2 or not DATA.is_file():
        sys.exit(__doc__)
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        c = line.split("|")
        if len(c) == 8:
            rows.append((c[1], c[2], c[5]))  # sentence, adverse effect, drug
    sentences = list(dict.fromkeys(r[0] for r in rows))
    results = {}
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        pred = dict(zip(sentences, NerModel(Path(path)).predict(sentences), strict=True))
        scores = {}
        for kind, idx, cat in KINDS:
            overlap = exact = n = 0
            for r in rows:
                occ = [(m.start(), m.end()) for m in re.finditer(re.escape(r[idx]), r[0])]
                if not occ:
                    continue
                n += 1
                ents = [e for e in pred[r[0]] if e.category == cat]
                overlap += any(e.begin_offset < b2 and b1 < e.end_offset for b1, b2 in occ for e in ents)
                exact += any(e.begin_offset == b1 and e.end_offset == b2 for b1, b2 in occ for e in ents)
            scores[kind] = {"mentions": n, "recall_overlap": round(overlap / n, 4), "recall_exact": round(exact / n, 4)}
        results[name] = {"path": path, **scores}
    out = {"command": "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
           "date": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
           "data": str(DATA), "relations": len(rows), "sentences": len(sentences), "models": results}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ner_ade_check.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    lines = ["# Entity models on ADE-Corpus-V2 (held out from every recipe)", "",
             f"{len(rows)} drug–adverse-effect relations in {len(sentences)} sentences; recall of the mentions.", "",
             "| model | adverse effect, overlap | adverse effect, exact | drug, overlap | drug, exact |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        a, d = r["adverse effect"], r["drug"]
        lines.append(f"| {name} | {a['recall_overlap']:.4f} | {a['recall_exact']:.4f} | {d['recall_overlap']:.4f} | "
                     f"{d['recall_exact']:.4f} |")
    lines += ["", f"Command: `{out['command']}` ({out['date']}).", ""]
    (OUT / "ner_ade_check.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
