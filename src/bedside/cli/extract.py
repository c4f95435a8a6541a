"""``bedside extract``: clinical entities, attributes, traits and ICD-10-CM codes from notes.

One note (FILE or '-') prints one JSON document (or a FHIR Bundle); ``--batch DIR --out FILE.jsonl``
writes one line per file in DIR, with a per-note error record instead of stopping the batch. The
output file is written under a temporary name and renamed when complete, so an interrupted batch
never leaves a truncated file in place of a previous one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from tqdm import tqdm

from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from
from bedside.errors import BedsideError, InputError
from bedside.extract.language import language_warning
from bedside.extract.pipeline import STRATEGIES, Extractor
from bedside.textio import read_text

FORMATS = ("json", "fhir")
log = logging.getLogger("bedside.extract")


def extract(
    source: str | None = typer.Argument(None, metavar="FILE|-", help="A note (UTF-8 text file) or '-' for stdin."),
    fmt: str = typer.Option("json", "--format", "-f", help="json (entities) or fhir (an R4 Bundle)."),
    strategy: str = typer.Option("default", "--strategy", "-s", help=f"Span detector: {', '.join(STRATEGIES)}."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="With --strategy llm: the catalog model; otherwise an entity-model folder."
    ),
    batch: Path | None = typer.Option(None, "--batch", help="Extract every file in this folder."),
    out: Path | None = typer.Option(None, "--out", "-o", help="With --batch: the JSONL file to write."),
    style: str = typer.Option("bedside", "--style", help="JSON field names: bedside (snake_case) or comprehend."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the input (e.g. latin-1)."),
    icd10: bool = typer.Option(True, "--icd10/--no-icd10", help="Link conditions to ICD-10-CM codes."),
    patient: str | None = typer.Option(None, "--patient", help="FHIR subject reference, e.g. Patient/1."),
    config: Path | None = ConfigOpt,
) -> None:
    """Extract entities (Comprehend Medical's schema) from a clinical note, or from a folder of notes."""
    log_to_stderr("bedside.extract")
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; choose json or fhir")
    if style not in ("bedside", "comprehend"):
        raise InputError(f"unknown style '{style}'; choose bedside or comprehend")
    if fmt == "fhir" and style != "bedside":
        raise InputError("--style applies to JSON output, not to FHIR")
    if (batch is None) == (source is None):
        raise InputError("give one note (FILE or '-') or --batch DIR, not both")
    if batch is not None and out is None:
        raise InputError("--batch needs --out FILE.jsonl")
    settings = settings_from(config)
    ner_model = Path(model) if model is not None and strategy != "llm" else None
    if ner_model is not None and not ner_model.exists():
        raise InputError(f"entity model folder not found: {ner_model} (for a catalog model use --strategy llm)")
    with Extractor(strategy, settings=settings, ner_model=ner_model, link_icd10=icd10,
                   llm_model=model if strategy == "llm" else None) as extractor:
        if batch is not None:
            _batch(extractor, batch, out, fmt, style, encoding, patient)
            return
        text = read_text(source, "note", encoding=encoding)
        extractor.check(text)
        warning = language_warning(text)
        if warning:
            typer.echo(f"bedside: warning: {warning}", err=True)
        doc = extractor.extract(text)
        # Troubleshooting (BEDSIDE_LOG_LEVEL=DEBUG) gets counts per category, never entity text.
        log.debug("%d characters, %d entities: %s", len(text), len(doc.entities),
                  ", ".join(f"{c} {n}" for c, n in sorted(Counter(e.category for e in doc.entities).items())) or "none")
        echo_json(_render(doc, text, fmt, style, patient, name=None))


def _render(doc, text: str, fmt: str, style: str, patient: str | None, name: str | None) -> dict[str, Any]:
    if fmt == "fhir":
        from bedside.extract.fhir import to_bundle

        return to_bundle(doc, text, patient_reference=patient, document_id=name)
    return doc.to_dict(style)


def _notes(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"--batch folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"--batch folder {folder} holds no files")
    return files


def _batch(extractor: Extractor, folder: Path, out: Path, fmt: str, style: str, encoding: str,
           patient: str | None) -> None:
    files = _notes(folder)
    if out.resolve().parent == folder.resolve():
        raise InputError("--out must not be inside the --batch folder (it would be read as a note)")
    out.parent.mkdir(parents=True, exist_ok=True)
    texts: list[str | BedsideError] = []
    for path in files:
        try:
            texts.append(read_text(path, "note", encoding=encoding))
        except BedsideError as exc:
            texts.append(exc)
    # Unreadable files become their error record; the others go through the extractor in order.
    readable = [t for t in texts if isinstance(t, str)]
    outcomes = iter(extractor.extract_many(readable))
    errors = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh, tqdm(
            total=len(files), unit="note", desc="extract", file=sys.stderr, disable=None
        ) as bar:
            for path, text in zip(files, texts, strict=True):
                record: dict[str, Any] = {"file": path.name}
                if isinstance(text, BedsideError):
                    record["error"] = _error(text)
                else:
                    outcome = next(outcomes)
                    if outcome.warnings:
                        record["warnings"] = outcome.warnings
                    if outcome.error is not None:
                        record["error"] = _error(outcome.error)
                    else:
                        try:
                            rendered = _render(outcome.document, text, fmt, style, patient, path.name)
                            record.update({"bundle": rendered} if fmt == "fhir" else rendered)
                        except Exception as exc:  # noqa: BLE001 — one note's failure is its record
                            record["error"] = _error(exc)
                errors += "error" in record
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                bar.update(1)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    typer.echo(f"bedside: {len(files)} notes, {errors} errors -> {out}", err=True)
    if errors == len(files):
        raise InputError(f"every note in {folder} failed; see the error records in {out}")


def _error(exc: BaseException) -> dict[str, str]:
    # The message names the problem (empty, binary, encoding, size); bedside's messages carry no note text.
    message = exc.message if isinstance(exc, BedsideError) else f"{type(exc).__name__}"
    return {"type": type(exc).__name__, "message": message}
