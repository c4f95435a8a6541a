"""bedside's de-identifier with and without a trained PHI tagger, on held-out PhysioNet patients.

The PhysioNet deid notes are split by patient exactly as ``python -m bedside.deid.physionet`` splits
them for training (``physionet.split_by_patient``, default dev fraction 0.2), and only the held-out
patients' notes are scored: the tagger never saw them. Each detector is scored by the same code as
``bedside eval deid`` (``bedside.deid.evaluate``): span level (any overlap, class-agnostic, the
de-identification reading; exact offsets) and token level, overall and per class. Detectors:

- ``rules``: ``default_detector(tagger=False)`` (patterns, names, places, propagation);
- ``ner (MODEL)``: the tagger alone (``Combined([NerDetector])``);
- ``rules + ner (MODEL)``: the union with every tagger span, recall first;
- ``rules + ner (MODEL, vetted, score >= 0.8: the default combination)``: what
  ``default_detector(ner_model=MODEL)`` and ``bedside deid`` run: the tagger's spans scoring at least
  ``NER_MIN_SCORE`` that pass ``deid.vet.Vetter`` (the rules' tests for look-alikes);
- ``rules + ner (MODEL, O-bias B)`` with ``--o-bias B``: the same with the tagger's "O" logit lowered by
  B before decoding, a recall knob (B = 0 is the plain model);
- ``rules + ner (MODEL, score >= T)`` with ``--ner-min-score T``: the tagger's spans below score T (the
  mean probability of the span's labels) dropped before the union, a precision knob. The tagger's
  output is computed once per note and reused, so these rows have no throughput of their own;
- ``rules + gazetteer`` with ``--gazetteer FILE``: ``default_detector(gazetteer=FILE)``, a site's own
  list of local names and places (``bedside deid --gazetteer``). ``python -m bedside.deid.physionet``
  writes one from the gold spans of the *training* patients only, so on the held-out patients this
  measures what a hospital's list of its own wards, facilities and staff adds for notes it never saw.

Caveat: bedside's rules were written while looking at all 1,450 notes, held-out patients included,
so the rules' numbers here are not blind; the tagger's are.

    python benchmarks/deid_ner.py --model models/deid-ner-synth [--model models/deid-ner] [--o-bias 2]

Writes benchmarks/results/deid_ner.{json,md} (``--stem`` for another name).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from deid_physionet import per_class_rows  # the sibling script (benchmarks/ is on sys.path when run)

from bedside.deid import physionet, vocab
from bedside.deid.detect import NER_MIN_SCORE, Combined, NerDetector, default_detector
from bedside.deid.evaluate import Scorer
from bedside.deid.vet import Vetter
from bedside.deid.words import Lexicon
from bedside.ner.infer import MODEL_FILE, artifact_dir, read_meta

OUT = Path(__file__).parent / "results"
TARGET = {"recall": 0.99, "precision": 0.90}


class Cached:
    """A detector's spans per text, computed once: the score-threshold variants reuse them."""

    def __init__(self, detector):
        self.detector, self.name, self.seen = detector, detector.name, {}

    def __call__(self, text: str):
        if text not in self.seen:
            self.seen[text] = self.detector(text)
        return self.seen[text]


class MinScore:
    name = "ner"

    def __init__(self, detector, minimum: float, vet=None):
        self.detector, self.minimum, self.vet = detector, minimum, vet

    def __call__(self, text: str):
        return [s for s in self.detector(text)
                if s.score >= self.minimum and (self.vet is None or self.vet(text, s))]


def score(detect, notes: list[physionet.Note], timed: bool = True) -> dict:
    detect(notes[0].text)  # warm-up: lazy loading is not throughput
    scorer = Scorer()
    seconds = 0.0
    for note in notes:
        started = time.perf_counter()
        found = detect(note.text) if note.text.strip() else []
        seconds += time.perf_counter() - started
        scorer.add(note.key, note.text, [(g.begin, g.end, physionet.gold_class(g.category)) for g in note.gold],
                   [(s.begin, s.end, physionet.bedside_class(s.type)) for s in found])
    report = scorer.report()
    print(f"  span overlap {report['overall']['span_overlap']} ({len(notes) / seconds:.1f} notes/s)", file=sys.stderr)
    if not timed:
        return {"seconds": None, "notes_per_second": None, **report}
    return {"seconds": round(seconds, 2), "notes_per_second": round(len(notes) / seconds, 1), **report}


def o_biased(ner: NerDetector, bias: float) -> NerDetector:
    """The tagger with its "O" logit lowered by ``bias``: words it was unsure about become PHI."""
    run, o = ner.model.run, ner.model.labels.index("O")

    def biased(ids, mask):
        logits = run(ids, mask).copy()
        logits[..., o] -= bias
        return logits

    ner.model.run = biased  # NerModel.predict passes self.run to infer.predict
    return ner


def model_info(path: Path) -> dict:
    folder = artifact_dir(path)
    meta = read_meta(folder)
    onnx = folder / MODEL_FILE
    return {
        "path": str(path), "model_sha256": hashlib.sha256(onnx.read_bytes()).hexdigest(),
        "artifact_mb": round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 2**20, 1),
        "recipe": meta.get("recipe"), "categories": meta.get("categories"),
        "train_data": [{k: d.get(k) for k in ("path", "sha256", "documents", "sentences", "entities")}
                       for d in meta.get("train_data", [])],
        "steps": meta.get("steps"), "epochs_done": meta.get("epochs_done"), "stopped_by": meta.get("stopped_by"),
        "train_seconds": meta.get("train_seconds"), "hyperparameters": meta.get("hyperparameters"),
        "dev_strict_f1": meta.get("dev_strict_f1"), "git_revision": meta.get("git_revision"),
    }


def _git_revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _meets(o: dict) -> str:
    return "yes" if o["recall"] >= TARGET["recall"] and o["precision"] >= TARGET["precision"] else "no"


def markdown(result: dict) -> str:
    d = result["data"]
    lines = [
        "# De-identification with a trained PHI tagger: rules vs rules + NER, held-out PhysioNet patients", "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}  ",
        f"Machine: {result['machine']['arch']}, {result['machine']['cores']} cores, "
        f"load average at start {result['machine']['load_average']}  ",
        f"Data: {d['notes']} notes of {d['patients']} held-out patients (dev fraction {d['dev_fraction']}, split by "
        f"patient as for training), {d['gold_spans']} gold PHI spans. The rules were written while looking at all "
        "PhysioNet notes (these included); the tagger never saw them.", "",
    ]
    for name, m in result["models"].items():
        train = ", ".join(f"{Path(t['path']).name} ({t.get('documents') or '?'} docs)" for t in m["train_data"])
        lines.append(f"Model `{name}`: {m['artifact_mb']} MB int8 ONNX, trained on {train}; {m['steps']} steps "
                     f"({m['epochs_done']} epochs, {m['train_seconds']} s, stopped by {m['stopped_by']}).  ")
    if g := result.get("gazetteer"):
        lines.append(f"Gazetteer: {g['entries']} names and places from the gold spans of the training patients "
                     f"(`python -m bedside.deid.physionet`), sha256 {g['sha256'][:12]}.  ")
    lines += [f"Note: {n}  " for n in result.get("notes", [])]
    lines += ["", "## Overall", "",
              "| detector | span recall | span precision | span F1 | exact-span F1 | token recall | token precision "
              "| notes/s | target met (R >= 0.99, P >= 0.90) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["detectors"].items():
        o, ex, t = r["overall"]["span_overlap"], r["overall"]["span_exact"], r["overall"]["token"]
        lines.append(f"| {name} | {o['recall']:.3f} | {o['precision']:.3f} | {o['f1']:.3f} | {ex['f1']:.3f} "
                     f"| {t['recall']:.3f} | {t['precision']:.3f} | {r['notes_per_second'] or '-'} | {_meets(o)} |")
    names = list(result["detectors"])
    lines += ["", "## Per class (span overlap: recall over the gold spans of the class, found by a span of any "
              "class; precision over the predicted spans of the class)", "",
              "| class | gold | " + " | ".join(f"{n} R / P" for n in names) + " |",
              "|---|---|" + "---|" * len(names)]
    lines += per_class_rows(result["detectors"], counts=True)
    lines += ["", f"With {d['gold_spans']} gold spans one miss is {1 / max(1, d['gold_spans']):.3f} of recall: "
              "read the per-class counts, not only the rates.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1].parent / "shared/data/deid/physionet")
    ap.add_argument("--model", type=Path, action="append", default=[],
                    help="a `bedside train ner` output folder (or its onnx/); repeatable")
    ap.add_argument("--dev-fraction", type=float, default=0.2)
    ap.add_argument("--o-bias", type=float, action="append", default=[],
                    help="also score rules + ner with the O logit lowered by this much; repeatable")
    ap.add_argument("--ner-min-score", type=float, action="append", default=[],
                    help="also score rules + ner keeping only tagger spans with at least this score; repeatable")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all cores)")
    ap.add_argument("--gazetteer", type=Path, help="also score rules + this site gazetteer (JSON)")
    ap.add_argument("--stem", default="deid_ner", help="results file name, without extension")
    ap.add_argument("--note", action="append", default=[], help="a line for the report (e.g. how a model was made)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    _, dev = physionet.split_by_patient(physionet.read_notes(args.data), args.dev_fraction)
    runs: dict[str, object] = {"rules": default_detector(tagger=False)}
    if args.gazetteer:
        runs["rules + gazetteer"] = default_detector(gazetteer=args.gazetteer, tagger=False)
    lexicon = Lexicon(vocab.load(None))
    models = {}
    for path in args.model:
        name = path.name if path.name != "onnx" else path.parent.name
        models[name] = model_info(path)
        runs[f"ner ({name})"] = Combined([NerDetector(artifact_dir(path), threads=args.threads)])
        # a second instance whose output the threshold rows reuse; its first pass (the next row) is timed
        ner = Cached(NerDetector(artifact_dir(path), threads=args.threads))
        runs[f"rules + ner ({name})"] = default_detector(extra=[ner], tagger=False)  # every span, unvetted
        for minimum in args.ner_min_score:
            runs[f"rules + ner ({name}, score >= {minimum:g})"] = default_detector(
                extra=[MinScore(ner, minimum)], tagger=False)
        for minimum in sorted({*args.ner_min_score, NER_MIN_SCORE}):
            # what default_detector(ner_model=path) runs when minimum is NER_MIN_SCORE (bedside deid's default)
            label = "the default combination" if minimum == NER_MIN_SCORE else "vetted"
            runs[f"rules + ner ({name}, vetted, score >= {minimum:g}: {label})"] = default_detector(
                extra=[MinScore(ner, minimum, Vetter(lexicon))], tagger=False)
        for bias in args.o_bias:
            biased = o_biased(NerDetector(artifact_dir(path), threads=args.threads), bias)
            runs[f"ner ({name}, O-bias {bias:g})"] = Combined([biased])
            runs[f"rules + ner ({name}, O-bias {bias:g})"] = default_detector(extra=[biased], tagger=False)
    detectors = {}
    for label, detect in runs.items():
        print(label, file=sys.stderr)
        detectors[label] = score(detect, dev, timed="score >=" not in label)
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": _git_revision(),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": load},
        "data": {"path": str(args.data), "dev_fraction": args.dev_fraction, "notes": len(dev),
                 "patients": len({n.patient for n in dev}), "gold_spans": sum(len(n.gold) for n in dev)},
        "models": models,
        "gazetteer": {"path": str(args.gazetteer), "sha256": hashlib.sha256(args.gazetteer.read_bytes()).hexdigest(),
                      "entries": len(json.loads(args.gazetteer.read_text(encoding="utf-8"))["entries"])}
        if args.gazetteer else None,
        "notes": args.note,
        "o_bias": args.o_bias,
        "ner_min_score": args.ner_min_score,
        "target": TARGET,
        "detectors": detectors,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.stem}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
