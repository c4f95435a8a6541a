"""Which candidate condition terms may join ``conditions.json``, judged on the NER train splits only.

A term is kept when, in the NCBI-disease and BC5CDR-disease train files, it was a whole gold mention in at
least 60 % of its occurrences, or never occurred (then clinical knowledge alone decides). Dev is not read,
so dev scores stay a measurement. Prints the kept and dropped terms with their counts.

    python scripts/select_condition_terms.py TERM [TERM ...]
    python scripts/select_condition_terms.py --file candidates.txt      (one term per line)
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ner"
CORPORA = ("bc5cdr_disease", "ncbi_disease")
MIN_EXACT = 0.6


def corpus_form(term: str) -> str:
    """The term as the corpus files write text: words and single punctuation marks, space-joined."""
    return " ".join(re.findall(r"\w+|[^\w\s]", term.lower()))


def tally(terms: list[str]) -> dict[str, collections.Counter]:
    from bedside.ner.data import read_iob

    found = {t: collections.Counter() for t in terms}
    patterns = {t: re.compile(r"(?<!\S)" + re.escape(corpus_form(t)) + r"(?!\S)") for t in terms}
    for name in CORPORA:
        for ex in read_iob(DATA / name / "train.tsv").examples:
            gold = {(s.start, s.end) for s in ex.spans}
            low = ex.text.lower()
            for term, rx in patterns.items():
                for m in rx.finditer(low):
                    b, e = m.span()
                    inside = any(g0 < e and b < g1 for g0, g1 in gold)
                    kind = "exact" if (b, e) in gold else "inside" if inside else "none"
                    found[term][kind] += 1
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("terms", nargs="*")
    ap.add_argument("--file", type=Path)
    args = ap.parse_args()
    terms = list(args.terms)
    if args.file:
        terms += [line.strip() for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    lexicon = json.loads((REPO / "src/bedside/resources/clinical/conditions.json").read_text(encoding="utf-8"))
    listed = {t.lower() for g in lexicon["groups"] for t in g["terms"]}
    new = [t for t in dict.fromkeys(terms) if t.lower() not in listed]
    counts = tally(new)
    keep = [t for t in new if not counts[t] or counts[t]["exact"] / sum(counts[t].values()) >= MIN_EXACT]
    print(json.dumps({"already_listed": len(terms) - len(new), "keep": keep,
                      "drop": {t: dict(counts[t]) for t in new if t not in keep}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
