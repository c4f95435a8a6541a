"""``bedside deid`` (text or a FHIR Bundle), ``bedside eval deid`` (PhysioNet-format gold data) and
:func:`synth_deid` (synthetic notes with fake PHI as BRAT training data; also ``python -m bedside.deid.synth``).

The de-identified result is built whole in memory and printed only when complete, so a failure
half-way never leaves a partly de-identified text on stdout looking finished. Nothing here logs
note text; the key is read from its file and never echoed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

import typer

from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from
from bedside.errors import InputError

log = logging.getLogger("bedside.deid")

ModeOpt = typer.Option(
    "mask", "--mode", help="mask ([NAME]), redact (remove) or surrogate (realistic fakes, shifted dates)."
)
GazetteerOpt = typer.Option(
    None, "--gazetteer", help="Site list of PHI names/places (JSON {entries: [{text, type}]}), matched as whole words."
)
NerOpt = typer.Option(
    None, "--ner-model", help="Also run this PHI entity model (a `bedside train ner` output) and merge its spans."
)
RulesOnlyOpt = typer.Option(
    False, "--rules-only", help="Patterns, word lists and context rules only: not the PHI tagger that ships in the "
    "package (faster; lower recall on notes unlike the rules' examples)."
)
NerMinOpt = typer.Option(
    None, "--ner-min-score", min=0.0, max=1.0,
    help="With --ner-model: keep only its spans scoring at least this [0.8, bedside.deid.detect.NER_MIN_SCORE]."
)


def _detector(settings, ner_model: Path | None, gazetteer: Path | None, ner_min_score: float | None,
              rules_only: bool):
    """The detector both commands run, after the checks of its options."""
    from bedside.deid.detect import default_detector

    if rules_only and ner_model is not None:
        raise InputError("--rules-only and --ner-model contradict each other; give one")
    if ner_model is not None and not ner_model.exists():
        raise InputError(f"entity model folder not found: {ner_model}")
    return default_detector(ner_model=ner_model, cache_dir=settings.cache_dir, gazetteer=gazetteer,
                            ner_min_score=ner_min_score, tagger=not rules_only)


def _deidentifier(mode: str, key_file: Path | None, ner_model: Path | None, gazetteer: Path | None,
                  config: Path | None, ner_min_score: float | None, rules_only: bool):
    from bedside.deid import keys
    from bedside.deid.pipeline import Deidentifier
    from bedside.deid.transform import Mode

    try:
        m = Mode(mode)
    except ValueError:
        raise InputError(f"unknown mode '{mode}'; choose mask, redact or surrogate") from None
    settings = settings_from(config)
    key = keys.load_key(key_file) if key_file is not None else None
    detector = _detector(settings, ner_model, gazetteer, ner_min_score, rules_only)
    return Deidentifier(m, key=key, cache_dir=settings.cache_dir, detector=detector)


def deid(
    source: str | None = typer.Argument(None, metavar="FILE|-", help="A note (UTF-8 text) or '-' for stdin."),
    mode: str = ModeOpt,
    spans: bool = typer.Option(False, "--spans", help="Print JSON {text, spans} with offsets into the input."),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="Secret key (>= 16 bytes): the same key gives the same surrogates and date "
        "offsets in every run. Without it a random key is used (consistent within this run only).",
    ),
    patient: str | None = typer.Option(None, "--patient", help="Patient id: picks the date offset (with --key-file)."),
    fhir: Path | None = typer.Option(None, "--fhir", help="De-identify this FHIR R4 Bundle (JSON) instead of text."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the input (e.g. latin-1)."),
    gazetteer: Path | None = GazetteerOpt,
    ner_model: Path | None = NerOpt,
    ner_min_score: float | None = NerMinOpt,
    rules_only: bool = RulesOnlyOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Remove protected health information (HIPAA Safe Harbor classes) from a note or a FHIR Bundle."""
    from bedside.textio import read_text

    log_to_stderr("bedside.deid")
    if (fhir is None) == (source is None):
        raise InputError("give one note (FILE or '-') or --fhir BUNDLE.json, not both")
    deidentifier = _deidentifier(mode, key_file, ner_model, gazetteer, config, ner_min_score, rules_only)
    if fhir is not None:
        from bedside.deid.fhir import deidentify_bundle

        if spans:
            raise InputError("--spans applies to text, not to --fhir")
        raw = read_text(fhir, "FHIR bundle", encoding=encoding)
        try:
            bundle = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{fhir} is not JSON: {exc.msg} (line {exc.lineno})") from None
        echo_json(deidentify_bundle(bundle, deidentifier))
        return
    text = read_text(source, "note", encoding=encoding)
    result = deidentifier(text, patient=patient)
    # Troubleshooting (BEDSIDE_LOG_LEVEL=DEBUG) gets counts per class, never the spans' text.
    log.debug("%d characters, %d PHI spans: %s", len(text), len(result.spans),
              ", ".join(f"{t} {n}" for t, n in sorted(Counter(s.type for s in result.spans).items())) or "none")
    if spans:
        echo_json(result.to_dict())
    else:
        typer.echo(result.text, nl=not result.text.endswith("\n"))


def eval_deid(
    data: Path = typer.Option(..., "--data", help="PhysioNet-format folder (id.text + id-phi.phrase) or .text file."),
    gazetteer: Path | None = GazetteerOpt,
    ner_model: Path | None = NerOpt,
    ner_min_score: float | None = NerMinOpt,
    rules_only: bool = RulesOnlyOpt,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N notes."),
    config: Path | None = ConfigOpt,
) -> None:
    """Precision/recall/F1 of the de-identifier, span- and token-level, overall and per PHI class (JSON)."""
    from bedside.deid import physionet
    from bedside.deid.evaluate import Scorer

    log_to_stderr("bedside.deid")
    settings = settings_from(config)
    notes = physionet.read_notes(data)[:limit]
    detector = _detector(settings, ner_model, gazetteer, ner_min_score, rules_only)
    scorer = Scorer()
    started = time.perf_counter()
    for note in notes:
        found = detector(note.text) if note.text.strip() else []
        scorer.add(note.key, note.text,
                   [(g.begin, g.end, physionet.gold_class(g.category)) for g in note.gold],
                   [(s.begin, s.end, physionet.bedside_class(s.type)) for s in found])
    seconds = time.perf_counter() - started
    echo_json({
        "data": str(data),
        "notes": len(notes),
        "seconds": round(seconds, 2),
        "notes_per_second": round(len(notes) / seconds, 1) if seconds else None,
        "detectors": [d.name for d in detector.detectors],
        "matching": "span_overlap: any overlap, class-agnostic (per-class typed_recall also wants the class); "
                    "span_exact: same offsets; token: \\w+ tokens",
        **scorer.report(),
    })


def synth_deid(
    n: int = typer.Option(..., "--n", min=0, help="Number of notes."),
    out: Path = typer.Option(..., "--out", help="Output folder: one NAME.txt + NAME.ann (BRAT) per note."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same notes."),
    fine: bool = typer.Option(False, "--fine", help="Keep bedside's fine PHI types (MRN, ZIP, HOSPITAL...) instead "
                              "of the PhysioNet classes (NAME, LOCATION, DATE, PHONE, AGE, ID)."),
) -> None:
    """Synthetic nursing notes and discharge summaries with injected fake PHI, as training data (BRAT)."""
    from bedside.deid import synth

    counts = synth.write_brat(synth.generate(n, seed), out, fine=fine)
    echo_json({"notes": n, "seed": seed, "out": str(out), "spans": counts})
