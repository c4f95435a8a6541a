"""Top-1/top-5 accuracy and latency of the ICD-10-CM linker (bedside.coding) on CodiEsp dev.

CodiEsp-X gives, for every diagnosis code of a clinical case, the Spanish words that justify it and
their offsets in the Spanish text. The English files are a sentence-split machine translation, so the
offsets do not carry over. English mentions are recovered by cognate alignment: each content word of
the Spanish evidence must match a word of one English sentence near the same relative position
(difflib ratio >= 0.65: "hipertensión" ~ "hypertension"), and the mention is the English span from
the first to the last matched word. Evidence without a full alignment (no cognate: "fiebre" ->
"fever") is left out, so the aligned subset favours Latin/Greek medical terms; its size is reported.

Reported, on diagnosis codes that exist in ICD-10-CM (April 2026; CodiEsp used the Spanish 2018
edition, so some codes no longer or never existed in the US release):
- English (aligned) mentions: the main number;
- the Spanish evidence as given (for reference only: the linker is English);
- the gold code's own official description (an upper bound: tests the index and the billable mapping).
A prediction counts when it is the gold code or, for a gold code that is now a category, a code
under it. Latency: link() wall time per mention after warm-up, and index build / cache load time.

    python benchmarks/icd10_linking.py [--data ../shared/data/icd_coding/codiesp/dev] [--rerank]

Writes benchmarks/results/icd10_linking.{json,md}.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from bedside.coding import Icd10Linker

OUT = Path(__file__).parent / "results"
ES_STOP = set("de del la el los las en por con sin y o a al un una unos unas que se su sus para lo le les e u".split())
WORD = re.compile(r"[A-Za-z0-9]+")
MIN_RATIO = 0.65


def fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


def align(evidence: str, start: int, es: str, en: str) -> str | None:
    """The English span whose words are cognates of every content word of the Spanish evidence."""
    words = [w for w in WORD.findall(fold(evidence)) if w not in ES_STOP]
    if not words:
        return None
    p = start / len(es)
    best = None
    for m in re.finditer(r"[^\n]+", en):
        a, b = m.span()
        if abs(a / len(en) - p) > 0.25 and not a / len(en) <= p <= b / len(en):
            continue
        toks = [(t.group(), a + t.start(), a + t.end()) for t in WORD.finditer(en[a:b])]
        toks = [t for t in toks if len(t[0]) >= 3 or t[0].isupper()] or toks  # not "of", "in"; "D" (vitamin D)
        hits = []
        for w in words:
            r, i = max(((difflib.SequenceMatcher(None, w, fold(t)).ratio(), i) for i, (t, _, _) in enumerate(toks)),
                       default=(0.0, -1))
            if r >= MIN_RATIO:
                hits.append((r, i))
        if len(hits) < len(words):
            continue
        score = sum(r for r, _ in hits)
        if best is None or score > best[0]:
            idx = [i for _, i in hits]
            best = (score, toks[min(idx)][1], toks[max(idx)][2])
    if best is None:
        return None
    span = en[best[1]:best[2]]
    return span if len(WORD.findall(span)) <= len(words) + 4 else None


def load_items(root: Path) -> list[dict]:
    items = []
    texts: dict[str, tuple[str, str]] = {}
    for line in (root / "devX.tsv").read_text(encoding="utf-8").splitlines():
        doc, label, code, evidence, pos = line.split("\t")
        if label != "DIAGNOSTICO":
            continue
        if doc not in texts:
            texts[doc] = ((root / "text_files" / f"{doc}.txt").read_text(encoding="utf-8"),
                          (root / "text_files_en" / f"{doc}.txt").read_text(encoding="utf-8"))
        es, en = texts[doc]
        start = int(pos.split(";")[0].split()[0])
        items.append({"doc": doc, "gold": code.upper(), "evidence_es": evidence,
                      "mention_en": align(evidence, start, es, en)})
    return items


def gold_status(code: str, billable: set[str], icd) -> str:
    if code in billable:
        return "billable"
    return "category" if icd.is_valid_item(code) else "absent"


def score(linker: Icd10Linker, pairs: list[tuple[str, str]], keep_items: bool = False) -> dict:
    hits1 = hits5 = 0
    times = []
    rows = []
    for mention, gold in pairs:
        t0 = time.perf_counter()
        concepts = linker.link(mention, 5)
        times.append((time.perf_counter() - t0) * 1000)
        codes = [c.code for c in concepts]
        ok = [c == gold or c.startswith(gold) for c in codes]
        hits1 += bool(ok[:1] and ok[0])
        hits5 += any(ok)
        rows.append({"mention": mention, "gold": gold, "top5": codes})
    n = len(pairs)
    q = statistics.quantiles(times, n=20) if n > 1 else times * 19
    return {
        "n": n, "top1": round(hits1 / n, 4) if n else None, "top5": round(hits5 / n, 4) if n else None,
        "latency_ms": {"mean": round(statistics.fmean(times), 3), "p50": round(statistics.median(times), 3),
                       "p95": round(q[18], 3), "max": round(max(times), 3)},
        **({"items": rows} if keep_items else {}),
    }


def reranker():
    from bedside.coding.rerank import EmbeddingReranker
    from bedside.config import Settings
    from bedside.runtime.service import Runtime

    tmp = Path(tempfile.mkdtemp(prefix="icd10-bench-"))
    rt = Runtime(Settings(audit_db=tmp / "audit.sqlite3"), progress=False)  # audit rows stay out of the user's trail
    return EmbeddingReranker(lambda texts: rt.embed(texts, model="minilm", task="icd10:rerank", caller="benchmark"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/icd_coding/codiesp/dev"))
    ap.add_argument("--rerank", action="store_true", help="also run with the all-MiniLM re-ranker (extra `train`)")
    args = ap.parse_args()
    if not (args.data / "devX.tsv").is_file():
        sys.exit(f"CodiEsp dev not found under {args.data}")

    cache = Path(tempfile.mkdtemp(prefix="icd10-cache-"))
    t0 = time.perf_counter()
    linker = Icd10Linker(cache_dir=cache)
    linker.warm_up()  # a cold build, including parsing the tabular XML
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Icd10Linker(cache_dir=cache).warm_up()
    load_s = time.perf_counter() - t0

    import simple_icd_10_cm as icd

    items = load_items(args.data)
    billable = set(linker.index.codes)
    for it in items:
        it["status"] = gold_status(it["gold"], billable, icd)
    valid = [it for it in items if it["status"] != "absent"]
    english = [(it["mention_en"], it["gold"]) for it in valid if it["mention_en"]]
    spanish = [(it["evidence_es"], it["gold"]) for it in valid]
    golds = sorted({it["gold"] for it in valid})
    own = [(icd.get_description(g), g) for g in golds]

    runs = {"lexical": linker}
    if args.rerank:
        runs["lexical + MiniLM re-rank"] = Icd10Linker(cache_dir=cache, reranker=reranker())
    results = {}
    for name, lk in runs.items():
        lk.link("warm up")
        results[name] = {"english_aligned": score(lk, english, keep_items=True), "own_description": score(lk, own)}
        if lk.reranker is None:  # an English sentence model has nothing to add to Spanish text
            results[name]["spanish_evidence"] = score(lk, spanish)
        print(name, {k: (v["top1"], v["top5"], v["latency_ms"]["p50"]) for k, v in results[name].items()},
              file=sys.stderr)

    counts = {s: sum(it["status"] == s for it in items) for s in ("billable", "category", "absent")}
    record = {
        "command": "python benchmarks/icd10_linking.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores",
        "codes": linker.source,
        "index": {"codes": len(linker.index.codes), "texts": linker.index.n_forms,
                  "build_s": round(build_s, 2), "cache_load_s": round(load_s, 3)},
        "data": {"diagnosis_rows": len(items), "gold_in_icd10cm": counts,
                 "english_aligned": len(english), "distinct_gold_codes": len(golds)},
        "results": results,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "icd10_linking.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [
        "# ICD-10-CM linking on CodiEsp dev (diagnoses)", "",
        f"Command: `{record['command']}`  ", f"Date: {record['date']}  ", f"Machine: {record['machine']}  ",
        f"Codes: {record['codes']} ({len(linker.index.codes)} billable codes, {linker.index.n_forms} texts)", "",
        f"Index: cold build {build_s:.1f} s (parse + build + write cache), load from cache {load_s:.2f} s.", "",
        f"{len(items)} diagnosis rows; gold code billable in ICD-10-CM: {counts['billable']}, a category now: "
        f"{counts['category']}, absent from ICD-10-CM: {counts['absent']} (left out). "
        f"English mentions aligned for {len(english)} of the {len(valid)} kept rows.", "",
        "| run | mentions | n | top-1 | top-5 | ms/mention p50 | p95 |", "|---|---|---|---|---|---|---|",
    ]
    labels = {"english_aligned": "English (aligned span)", "spanish_evidence": "Spanish evidence (reference)",
              "own_description": "gold code's own description (upper bound)"}
    for name, res in results.items():
        for key, label in labels.items():
            if key not in res:
                continue
            r = res[key]
            lines.append(f"| {name} | {label} | {r['n']} | {100 * r['top1']:.1f} | {100 * r['top5']:.1f} | "
                         f"{r['latency_ms']['p50']:.2f} | {r['latency_ms']['p95']:.2f} |")
    (OUT / "icd10_linking.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
