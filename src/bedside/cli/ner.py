"""``bedside train ner`` and ``bedside eval ner``: the entity-span model's training and scoring."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from
from bedside.errors import InputError

ThreadsOpt = typer.Option(None, "--threads", min=0, help="CPU threads (0: settings / all cores).")
StrictOpt = typer.Option(False, "--strict", help="Abort on the first malformed line instead of skipping it.")

train_app = typer.Typer(help="Train bedside's own models.", no_args_is_help=True)
eval_app = typer.Typer(help="Score models on gold data.", no_args_is_help=True)

_CORPUS_HELP = (
    "FILE[:CATEGORY]: CoNLL/IOB TSV (token<TAB>tag) or BRAT (.ann/.txt pair or folder). CATEGORY "
    "(e.g. MEDICAL_CONDITION, MEDICATION) labels every entity in it; without it, corpus types are "
    "mapped (Disease -> MEDICAL_CONDITION, Chemical -> MEDICATION). Repeatable."
)


def _refs(args: list[str] | None):
    from bedside.ner.data import CorpusRef

    try:
        return [CorpusRef.parse(a) for a in args or []]
    except ValueError as exc:
        raise InputError(str(exc)) from exc


@train_app.command("ner")
def train_ner(
    out: Path = typer.Option(..., "--out", help="Output folder (checkpoint/, onnx/, bedside-ner.json)."),
    train: list[str] = typer.Option(None, "--train", help=_CORPUS_HELP),
    dev: list[str] = typer.Option(
        None, "--dev", help="Dev corpus FILE[:CATEGORY], scored after training. Repeatable."
    ),
    recipe: str | None = typer.Option(
        None, "--recipe",
        help="TOML/JSON recipe, or a bundled one by name ('default'); --train/--dev replace its lists.",
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Folder the recipe's relative paths are under."
    ),
    base: str | None = typer.Option(
        None, "--base", help="Encoder to fine-tune: catalog name or HF folder [minilm]."
    ),
    epochs: float | None = typer.Option(
        None, "--epochs", min=0.0, help="Training epochs (fractions allowed) [4]."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=0, help="Stop after N steps; 0: by epochs."
    ),
    time_limit: float | None = typer.Option(
        None, "--time-limit", min=0.0,
        help="Fit training into this many minutes (shortens the schedule); export and scoring follow.",
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Sentences per batch [32]."),
    lr: float | None = typer.Option(None, "--lr", min=0.0, help="Peak learning rate [1e-4]."),
    max_len: int | None = typer.Option(None, "--max-len", min=8, help="Subwords per window [128]."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed [13]."),
    partial_labels: bool | None = typer.Option(
        None, "--partial-labels/--no-partial-labels",
        help="Let O words of a corpus that does not annotate a category be that category [on].",
    ),
    quantize: bool | None = typer.Option(None, "--quantize/--no-quantize", help="int8 ONNX artifact [on]."),
    threads: int | None = ThreadsOpt,
    strict: bool = StrictOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Fine-tune a token classifier on IOB/BRAT corpora; export it to a compact int8 ONNX artifact."""
    from bedside.ner.recipe import Recipe, load_recipe
    from bedside.ner.train import train as run_training

    log_to_stderr("bedside.ner")
    settings = settings_from(config)
    plan = load_recipe(recipe, data_root) if recipe else Recipe()
    if train:
        plan.train = _refs(train)
    if dev:
        plan.dev = _refs(dev)
    plan.params.update(
        {"base": base, "epochs": epochs, "max_steps": max_steps, "time_limit_min": time_limit,
         "batch_size": batch_size, "lr": lr, "max_len": max_len, "seed": seed,
         "partial_labels": partial_labels, "quantize": quantize, "threads": threads},
        "command line",
    )
    meta = run_training(plan, out, settings, strict=strict)
    echo_json({
        "out": str(out),
        "artifact": str(out / "onnx"),
        "artifact_bytes": meta["artifact"]["model_bytes"],
        "steps": meta["steps"],
        "epochs_done": meta["epochs_done"],
        "train_seconds": meta["train_seconds"],
        "dev_strict_f1": meta.get("dev_strict_f1", {}),
    })


@eval_app.command("ner")
def eval_ner(
    data: list[str] = typer.Option(
        ..., "--data", help="Gold corpus FILE[:CATEGORY] (IOB TSV or BRAT). Repeatable."
    ),
    model: Path = typer.Option(
        ..., "--model", help="NER artifact folder (or a `bedside train ner` output folder)."
    ),
    strict: bool = StrictOpt,
    threads: int | None = ThreadsOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Strict and partial entity-level precision/recall/F1 per corpus, overall and per category (JSON)."""
    from tqdm import tqdm

    from bedside.ner.data import read_corpus
    from bedside.ner.evaluate import evaluate
    from bedside.ner.infer import NerModel

    settings = settings_from(config)
    corpora = [read_corpus(ref, strict=strict) for ref in _refs(data)]
    for corpus in corpora:
        if not corpus.examples:
            raise InputError(f"{corpus.ref.path}: no sentences to score")
    ner = NerModel(model, threads=threads or settings.threads)
    started = time.time()

    def bar(batches):
        return tqdm(batches, desc="eval ner", unit="batch", file=sys.stderr, disable=None)

    results = evaluate(corpora, lambda texts: ner.predict(texts, progress=bar))
    echo_json({
        "model": str(ner.path),
        "model_sha256": ner.meta.get("artifact", {}).get("model_sha256"),
        "seconds": round(time.time() - started, 2),
        "results": results,
    })
