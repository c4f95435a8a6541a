"""Medication attributes of `bedside extract` against ADE-Corpus-V2's drug-dose relations (not our annotations).

ADE-Corpus-V2 (Gurulingappa et al. 2012, PubMed case reports) pairs a drug with its "dose" in 279
relations; its dose is any sig element: "1500 mg/m2", "4 times per day", "1 drop", "high doses". For
each relation the sentence goes through the whole pipeline (`Extractor`, default strategy) and:

- drug found: a MEDICATION entity overlaps the drug mention;
- dose found: an attribute of any entity (or an unmapped attribute) overlaps the dose text;
- dose linked: an attribute of the entity that overlaps the drug overlaps the dose text (the relation);
- dose exact: that attribute, or the union of several adjacent ones, spans exactly the dose text
  (ADE's dose can be one span covering what we type as STRENGTH + FREQUENCY).

Offsets in the corpus are document-level; the sentence-level position is found by text search,
and a relation whose drug or dose occurs more than once in its sentence counts as found if any
occurrence is. The corpus has no negatives for attributes, so this is recall only.

    python benchmarks/extract_attributes.py [--data ../shared/data/medication/ade_corpus_v2]

Writes benchmarks/results/extract_attributes.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bedside.extract import Extractor

OUT = Path(__file__).parent / "results"


def read_relations(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.split("|")
        if len(cols) != 8:
            continue
        rows.append({"pmid": cols[0], "sentence": cols[1], "dose": cols[2], "drug": cols[5]})
    return rows


def occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(needle), text)]


def overlaps(a: tuple[int, int], b_begin: int, b_end: int) -> bool:
    return a[0] < b_end and b_begin < a[1]


def judge(rel: dict, doc) -> dict[str, bool | str | None]:
    drugs = occurrences(rel["sentence"], rel["drug"])
    doses = occurrences(rel["sentence"], rel["dose"])
    meds = [e for e in doc.entities if e.category == "MEDICATION" and any(overlaps(d, e.begin_offset, e.end_offset)
                                                                            for d in drugs)]
    every_attr = [a for e in doc.entities for a in e.attributes] + list(doc.unmapped_attributes)
    linked = [a for e in meds for a in e.attributes if any(overlaps(d, a.begin_offset, a.end_offset) for d in doses)]
    exact = False
    for d in doses:
        touching = sorted((a for a in linked if overlaps(d, a.begin_offset, a.end_offset)),
                          key=lambda a: a.begin_offset)
        if touching and touching[0].begin_offset == d[0] and max(a.end_offset for a in touching) == d[1]:
            exact = True
    return {
        "drug_found": bool(meds),
        "dose_found": any(overlaps(d, a.begin_offset, a.end_offset) for d in doses for a in every_attr),
        "dose_linked": bool(linked),
        "dose_exact": exact,
        "types": "+".join(sorted({a.type for a in linked})) or None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/medication/ade_corpus_v2"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    path = args.data / "DRUG-DOSE.rel"
    if not path.is_file():
        sys.exit(f"ADE corpus not found: {path}")
    rels = read_relations(path)
    extractor = Extractor("default", link_icd10=False)
    sentences = list(dict.fromkeys(r["sentence"] for r in rels))
    started = time.perf_counter()
    docs = {}
    for s, o in zip(sentences, extractor.extract_many(sentences), strict=True):
        if o.error is not None:
            raise o.error
        docs[s] = o.document
    seconds = time.perf_counter() - started
    verdicts = [judge(r, docs[r["sentence"]]) for r in rels]
    n = len(rels)
    rate = {k: round(sum(bool(v[k]) for v in verdicts) / n, 4) for k in ("drug_found", "dose_found", "dose_linked",
                                                                         "dose_exact")}
    # Half of ADE's doses are words ("high", "overdose", "standard"), not amounts Comprehend Medical's
    # schema would report as DOSAGE: the numeric ones are the fairer measure of the sig layer.
    numeric = [v for r, v in zip(rels, verdicts, strict=True) if re.search(r"\d", r["dose"])]
    rate_numeric = {k: round(sum(bool(v[k]) for v in numeric) / max(1, len(numeric)), 4)
                    for k in ("dose_found", "dose_linked", "dose_exact")}
    missed = [{"drug": r["drug"], "dose": r["dose"]}
              for r, v in zip(rels, verdicts, strict=True) if not v["dose_linked"]]
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "data": {"path": str(path), "relations": n, "sentences": len(sentences)},
        "recall": rate,
        "numeric_doses": len(numeric),
        "recall_numeric_doses": rate_numeric,
        "linked_types": dict(Counter(v["types"] for v in verdicts if v["types"]).most_common()),
        "seconds": round(seconds, 2),
        # Drug and dose strings are from a public corpus of published case reports, not patient records.
        "missed_examples": missed[:40],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "extract_attributes.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [
        "# Medication attributes vs ADE-Corpus-V2 drug-dose relations",
        "",
        f"{n} relations in {len(sentences)} sentences (PubMed case reports; annotations not ours). Recall only: "
        "the corpus does not mark every sig element, so extra attributes cannot be scored.",
        "",
        f"| measure | recall (all {n}) | recall ({len(numeric)} numeric doses) |",
        "|---|---|---|",
        *(f"| {k.replace('_', ' ')} | {v:.3f} | "
          + (f"{rate_numeric[k]:.3f}" if k in rate_numeric else "") + " |" for k, v in rate.items()),
        "",
        "Attribute types linked to the drug where the dose was found: "
        + ", ".join(f"{t} {c}" for t, c in result["linked_types"].items()) + ".",
        "",
        f"Command: `{result['command']}` ({result['date']}, {os.cpu_count()} cores, "
        f"load {result['machine']['load_average']}).",
        "",
        "First missed relations (drug / dose):",
        "",
        *(f"- {m['drug']} / {m['dose']}" for m in missed[:25]),
        "",
    ]
    (args.out / "extract_attributes.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps({"all": rate, "numeric": rate_numeric}))


if __name__ == "__main__":
    main()
