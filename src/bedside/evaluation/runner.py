"""Run one cell (task x model x strategy) through the Runtime and score it.

Every call goes through ``Runtime.generate``, so each one is audited like any other model call.
Decoding is greedy (temperature 0) with a fixed seed. Per item the runner records hashes, the
prompt and output, the parsed answer, gold, correctness and latency, appending to items.jsonl
as it goes; a rerun skips what is already there (see results.py).

A pipeline model (``bedside-ner``, pipelines.py) runs instead of a generative one when the
strategy is ``pipeline``: the task's adapter answers each item from bedside's extraction pipeline;
records, scores and the cell have the same form (no prompt, tokens or audit id).

For JSON-schema tasks the task's parser reads the output under both decodings: it turns the JSON
into the answer form the metrics score (normalised ICD-10 codes, mention strings, the impression).

What stops the run and what does not: a malformed dataset line is counted and skipped; output
the model gets wrong in form (not one of the choices, unparseable free text, a prompt too long for
the context window) is scored wrong, logged by item id and counted. Setup problems (unknown
model, unsupported constraint, engine failure) stop the run with a one-line error; finished
items stay on disk and the next run resumes after them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from bedside.errors import ContextWindowError, InputError, StructuredOutputError
from bedside.evaluation.cost import CostProfile, cell_cost, cost_profile
from bedside.evaluation.loaders import Dataset, Item, Malformed, load_dataset, resolve_data_path
from bedside.evaluation.metrics import accuracy_item, get_metric, score
from bedside.evaluation.parsers import get_parser
from bedside.evaluation.pipelines import (
    DEFAULT_PIPELINE_MODEL,
    PIPELINE_STRATEGY,
    PipelineSystem,
    is_pipeline_model,
    pipeline_model_names,
)
from bedside.evaluation.prompts import FixedShots, Prompt, SimilarShots, build_prompt, choices_for, render
from bedside.evaluation.results import CellKey, ItemLog, environment, now_utc, peak_rss_mb, write_cell
from bedside.evaluation.spec import TaskSpec
from bedside.evaluation.stats import DEFAULT_RESAMPLES, percentile
from bedside.runtime import GenerationParams, Runtime

log = logging.getLogger("bedside.evaluation")

Strategy = Literal["zero-shot", "few-shot", "pipeline"]
Decoding = Literal["constrained", "free"]
MAX_LOGGED_MALFORMED = 20  # beyond this, one summary line: a broken file should not flood stderr
MAX_STORED_MALFORMED = 200


@dataclass
class RunOptions:
    model: str  # a catalog model, or a pipeline model (bedside-ner) with strategy "pipeline"
    out: Path
    strategy: Strategy = "zero-shot"
    shots: int | None = None  # few-shot: None means the task's few_shot.k
    limit: int | None = None  # the first N usable items of the file
    data: Path | None = None  # replaces the task's data file (e.g. a held-back test split)
    split: str | None = None  # a named split of the task
    decoding: Decoding = "constrained"
    seed: int = 0
    resamples: int = DEFAULT_RESAMPLES
    store_text: bool = True
    progress: bool = True
    cost: CostProfile | None = None  # hardware profile that prices the cell; None: the bundled default


@dataclass
class RunSummary:
    key: CellKey
    cell: dict[str, Any]
    n_new: int
    n_reused: int
    results_path: Path


def run_task(rt: Runtime, spec: TaskSpec, opts: RunOptions) -> RunSummary:
    shots = _shots(spec, opts)
    if opts.limit is not None and opts.limit < 1:
        raise InputError("--limit must be at least 1")
    if opts.strategy == PIPELINE_STRATEGY:
        return _run_pipeline(rt, spec, opts)
    if is_pipeline_model(opts.model):
        raise InputError(f"model '{opts.model}' is bedside's extraction pipeline: use --strategy pipeline")
    dataset = _load(spec, opts)
    items = dataset.items[: opts.limit] if opts.limit is not None else dataset.items

    loaded = rt.load(opts.model)
    constraint = _constraint_kind(spec, opts)
    caps = loaded.backend.capabilities
    if constraint is not None and not getattr(caps, constraint):
        raise InputError(
            f"model '{loaded.spec.name}' cannot constrain output to {constraint}; use --decoding free"
        )
    selector, pool_info = _selector(rt, spec, opts, dataset, shots)
    key = CellKey(spec.name, spec.version, loaded.spec.name, opts.strategy, shots, opts.decoding, dataset.path.name)
    params = GenerationParams(
        max_tokens=spec.output.max_tokens if constraint else spec.output.free_max_tokens,
        temperature=0.0, seed=opts.seed,
    )
    parser = get_parser(spec.parser)
    item_metrics = [m for m in spec.metrics if get_metric(m).item is not None]

    item_log = ItemLog(opts.out)
    done = item_log.load(key)
    records: list[dict[str, Any]] = []
    n_new = n_correct = 0
    bar = tqdm(items, desc=f"{spec.name} · {loaded.spec.name}", unit="item", disable=not opts.progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for item in bar:
            prompt = build_prompt(spec, item, selector.select(item) if selector else ())
            record = done.get(item.id)
            if record is None or not _reusable(record, prompt, loaded.sha256, item):
                record = _run_item(rt, spec, item, prompt, key, loaded, params, constraint, parser, opts)
                record["scores"] = _item_scores(item_metrics, record["parsed"], item)
                item_log.append(record)
                n_new += 1
            records.append(record)
            n_correct += bool(record["correct"])
            if opts.progress:
                bar.set_postfix(correct=f"{n_correct}/{len(records)}")
    finally:
        bar.close()
        item_log.close()

    model = {"name": loaded.spec.name, "sha256": loaded.sha256, "backend": loaded.backend.name,
             "parameters": loaded.spec.parameters}
    output = {"kind": spec.output.kind, "parser": spec.parser, "decoding": opts.decoding}
    cell = _cell(spec, opts, key, model, output, dataset, items, records, shots, pool_info, params.as_dict(),
                 n_new, rt.settings)
    path = write_cell(opts.out, cell)
    return RunSummary(key, cell, n_new, len(records) - n_new, path)


def _item_scores(names: list[str], parsed: Any, item: Item) -> dict[str, float | None]:
    return {m: get_metric(m).item_score(parsed, item.gold, item.fields) for m in names}


def _run_pipeline(rt: Runtime, spec: TaskSpec, opts: RunOptions) -> RunSummary:
    """A pipeline cell: the same records and cell as a generative one, answered by the Extractor."""
    model = opts.model or DEFAULT_PIPELINE_MODEL
    if not is_pipeline_model(model):
        raise InputError(f"--strategy pipeline runs bedside's extraction pipeline, not '{model}' "
                         f"(pipeline models: {', '.join(pipeline_model_names())})")
    if spec.pipeline is None:
        raise InputError(f"task '{spec.name}' has no pipeline answer (no `pipeline:` section); "
                         "use a generative model")
    dataset = _load(spec, opts)
    items = dataset.items[: opts.limit] if opts.limit is not None else dataset.items
    system = PipelineSystem(model, spec, rt.settings)
    key = CellKey(spec.name, spec.version, model, PIPELINE_STRATEGY, 0, "none", dataset.path.name)
    item_metrics = [m for m in spec.metrics if get_metric(m).item is not None]
    item_log = ItemLog(opts.out)
    done = item_log.load(key)
    records: list[dict[str, Any]] = []
    n_new = 0
    bar = tqdm(items, desc=f"{spec.name} · {model}", unit="item", disable=not opts.progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for item in bar:
            prompt = Prompt(system=None, text=system.request_sha256(item))
            record = done.get(item.id)
            if record is None or not _reusable(record, prompt, system.sha256, item):
                record = _pipeline_item(system, spec, item, prompt, key, opts)
                record["scores"] = _item_scores(item_metrics, record["parsed"], item)
                item_log.append(record)
                n_new += 1
            records.append(record)
    finally:
        bar.close()
        item_log.close()
        system.close()
    info = {"name": model, "sha256": system.sha256, "backend": system.backend, "parameters": None}
    output = {"kind": PIPELINE_STRATEGY, "parser": None, "decoding": "none", "pipeline": system.provenance}
    cell = _cell(spec, opts, key, info, output, dataset, items, records, 0, None, None, n_new, rt.settings)
    path = write_cell(opts.out, cell)
    return RunSummary(key, cell, n_new, len(records) - n_new, path)


def _pipeline_item(system: PipelineSystem, spec: TaskSpec, item: Item, prompt: Prompt, key: CellKey,
                   opts: RunOptions) -> dict[str, Any]:
    error = None
    parsed = None
    t0 = time.perf_counter()
    try:
        parsed = system.answer(item)
    except InputError as exc:  # an input the Extractor refuses (empty, oversized) is scored wrong, not fatal
        error = type(exc).__name__
        log.warning("item %s: the pipeline refused the input (%s); scored wrong", item.id, error)
    latency_ms = (time.perf_counter() - t0) * 1000
    return {
        "cell": key.as_dict(), "item_id": item.id, "source": item.source, "ts": now_utc(),
        "input_sha256": item.input_sha256, "prompt_sha256": prompt.sha256, "model_sha256": system.sha256,
        "shot_ids": [], "prompt": None,
        "output": json.dumps(parsed, ensure_ascii=False) if opts.store_text and parsed is not None else None,
        "parsed": parsed, "gold": item.gold,
        "correct": accuracy_item(parsed, item.gold) == 1.0 if spec.output.kind == "choices" else None,
        "error": error, "latency_ms": round(latency_ms, 2), "prompt_tokens": None, "completion_tokens": None,
        "choice_scores": None, "audit_id": None,
    }


# -- setup ---------------------------------------------------------------------------------------
def _shots(spec: TaskSpec, opts: RunOptions) -> int:
    if opts.strategy in ("zero-shot", PIPELINE_STRATEGY):
        if opts.shots:
            raise InputError("--shots needs --strategy few-shot")
        return 0
    if opts.strategy != "few-shot":
        raise InputError(f"unknown strategy '{opts.strategy}' (known: zero-shot, few-shot, pipeline)")
    shots = opts.shots if opts.shots is not None else spec.few_shot.k
    if shots < 1:
        raise InputError("--shots must be at least 1 for --strategy few-shot")
    return shots


def _constraint_kind(spec: TaskSpec, opts: RunOptions) -> str | None:
    if opts.decoding == "free":
        return None
    if opts.decoding != "constrained":
        raise InputError(f"unknown decoding '{opts.decoding}' (known: constrained, free)")
    return spec.output.kind


def _load(spec: TaskSpec, opts: RunOptions) -> Dataset:
    if opts.data is not None:
        path = opts.data.expanduser()
    elif opts.split is not None:
        if opts.split not in spec.splits:
            known = ", ".join(spec.splits) or "none"
            raise InputError(f"task '{spec.name}' has no split '{opts.split}' (known: {known})")
        path = resolve_data_path(spec.splits[opts.split], f"task '{spec.name}'")
    else:
        path = resolve_data_path(spec.dataset.path, f"task '{spec.name}'")
    dataset = load_dataset(spec.dataset.loader, path, spec.dataset.fields, spec.dataset.options)
    _drop_unknown_gold(spec, dataset)
    for n, bad in enumerate(dataset.malformed):
        if n == MAX_LOGGED_MALFORMED:
            log.warning("... and %d more malformed lines in %s", len(dataset.malformed) - n, path)
            break
        log.warning("malformed line skipped: %s", bad)
    if not dataset.items:
        first = f" (first: {dataset.malformed[0]})" if dataset.malformed else ""
        raise InputError(f"no usable items in {path}: {len(dataset.malformed)} malformed lines{first}")
    return dataset


def _drop_unknown_gold(spec: TaskSpec, dataset: Dataset) -> None:
    """A gold label outside a fixed label list can never be predicted: count it as malformed."""
    labels = spec.output.choices
    if not isinstance(labels, list):
        return
    allowed = set(labels)
    kept: list[Item] = []
    for item in dataset.items:
        golds = item.gold if isinstance(item.gold, list) else [item.gold]
        if all(g in allowed for g in golds):
            kept.append(item)
        else:
            reason = f"gold label is not one of the task's {len(labels)} labels"
            dataset.malformed.append(Malformed(str(dataset.path), item.line, reason))
    dataset.items = kept
    dataset.malformed.sort(key=lambda m: (m.path, m.line))


def _selector(rt: Runtime, spec: TaskSpec, opts: RunOptions, dataset: Dataset, shots: int):
    """(shot selector or None, the pool's provenance)."""
    if shots == 0:
        return None, None
    pool_data = dataset
    if spec.few_shot.split is not None:
        path = resolve_data_path(spec.splits[spec.few_shot.split], f"task '{spec.name}' few-shot pool")
        pool_data = load_dataset(spec.dataset.loader, path, spec.dataset.fields, spec.dataset.options)
        _drop_unknown_gold(spec, pool_data)
    pool = pool_data.items
    if len(pool) <= shots:
        raise InputError(f"few-shot pool has {len(pool)} items; {shots} shots need more")
    info = {"split": spec.few_shot.split or "(evaluated data)", "path": str(pool_data.path),
            "sha256": pool_data.sha256, "items": len(pool)}
    if spec.few_shot.selection == "fixed":
        return FixedShots(pool, shots, opts.seed), info

    def embed(texts: list[str]) -> list[list[float]]:
        return rt.embed(texts, model=spec.few_shot.embedder, task=f"eval:{spec.name}:shots", caller="eval")

    return SimilarShots(pool, shots, embed, lambda it: render(spec.prompt.template, spec, it)), info


# -- one item ------------------------------------------------------------------------------------
def _reusable(record: dict[str, Any], prompt: Prompt, model_sha: str | None, item: Item) -> bool:
    return (record.get("prompt_sha256") == prompt.sha256 and record.get("model_sha256") == model_sha
            and record.get("gold") == item.gold)


def _run_item(rt, spec, item, prompt, key, loaded, params, constraint, parser, opts) -> dict[str, Any]:
    choices = choices_for(spec, item)
    error = None
    result = None
    t0 = time.perf_counter()
    try:
        result = rt.generate(
            prompt.text, model=loaded.spec.name, system=prompt.system,
            choices=choices if constraint == "choices" else None,
            schema=spec.output.schema_ if constraint == "json_schema" else None,
            params=params, task=f"eval:{spec.name}", caller="eval",
        )
    except (StructuredOutputError, ContextWindowError) as exc:
        # Wrong in form is wrong: score it, say which item, never the text (it may be patient data).
        error = type(exc).__name__
    latency_ms = (time.perf_counter() - t0) * 1000
    parsed = None
    if result is not None:
        # A choice is taken as chosen; JSON goes through the task's parser under both decodings, since
        # that is where it becomes the answer the metrics score (normalised codes, mention strings).
        parsed = result.value if constraint == "choices" else parser(result.text, choices)
    if parsed is None:
        log.warning("item %s: no answer could be read from the output (%s); scored wrong",
                    item.id, error or f"parser '{spec.parser}' found none")
    gen = result.generation if result is not None else None
    return {
        "cell": key.as_dict(), "item_id": item.id, "source": item.source, "ts": now_utc(),
        "input_sha256": item.input_sha256, "prompt_sha256": prompt.sha256, "model_sha256": loaded.sha256,
        "shot_ids": list(prompt.shot_ids),
        "prompt": prompt.text if opts.store_text else None,
        "output": (result.text if result is not None else None) if opts.store_text else None,
        "parsed": parsed, "gold": item.gold,
        "correct": accuracy_item(parsed, item.gold) == 1.0 if spec.output.kind == "choices" else None,
        "error": error, "latency_ms": round(latency_ms, 2),
        "prompt_tokens": gen.prompt_tokens if gen else None,
        "completion_tokens": gen.completion_tokens if gen else None,
        "choice_scores": [{"choice": s.choice, "logprob": s.logprob, "tokens": s.tokens}
                          for s in gen.choice_scores] if gen and gen.choice_scores else None,
        "audit_id": result.audit_id if result is not None else None,
    }


# -- the cell ------------------------------------------------------------------------------------
def _cell(spec, opts, key, model, output, dataset, items, records, shots, pool, params, n_new,
          settings) -> dict[str, Any]:
    preds = [r["parsed"] for r in records]
    golds = [item.gold for item in items]
    inputs = [item.fields for item in items]
    metrics = {m: score(m, preds, golds, resamples=opts.resamples, seed=opts.seed, inputs=inputs).as_dict()
               for m in spec.metrics}
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    seconds = sum(latencies) / 1000
    # No token counts at all (a pipeline cell): throughput in tokens is undefined, not zero.
    token_seconds = seconds if any(r.get("completion_tokens") is not None for r in records) else 0
    completion = sum(r.get("completion_tokens") or 0 for r in records)
    prompt_tokens = sum(r.get("prompt_tokens") or 0 for r in records)
    total = completion + prompt_tokens
    mean_ms = seconds * 1000 / len(latencies) if latencies else None
    return {
        "key": key.as_dict(),
        "label": key.label(),
        "measured": True,  # False for published reference rows (not measured here)
        "n": len(records), "n_new": n_new, "n_reused": len(records) - n_new,
        "n_unparsed": sum(r["parsed"] is None for r in records),
        "n_errors": sum(r.get("error") is not None for r in records),
        "n_malformed": len(dataset.malformed),
        "malformed": [m.as_dict() for m in dataset.malformed[:MAX_STORED_MALFORMED]],
        "metrics": metrics,
        "latency_ms": {
            "p50": _round(percentile(latencies, 50)), "p95": _round(percentile(latencies, 95)),
            "mean": _round(mean_ms),
        },
        # Per second of item wall time (prompt processing included), over all items of the cell.
        "tokens_per_s": {
            "completion": _round(completion / token_seconds) if token_seconds else None,
            "total": _round(total / token_seconds) if token_seconds else None,
        },
        # Totals over the cell's items: what an API would bill for the same prompts (reference rows).
        "tokens": {"prompt": prompt_tokens, "completion": completion},
        "peak_rss_mb": peak_rss_mb(),
        "cost": cell_cost(opts.cost or cost_profile(), mean_ms),
        "relative_to_reference": None,
        "items_file": "items.jsonl",
        "provenance": {
            **environment(),
            "created_at": now_utc(),
            "task": {"name": spec.name, "version": spec.version, "source": spec.source, "sha256": spec.sha256},
            "prompt": spec.prompt.model_dump() if key.strategy != PIPELINE_STRATEGY else None,
            "output": output,
            "model": model,
            "params": params,
            "seed": opts.seed,
            "strategy": {"name": key.strategy, "shots": shots,
                         "selection": spec.few_shot.selection if shots else None,
                         "embedder": spec.few_shot.embedder if shots and spec.few_shot.selection == "similar" else None,
                         "pool": pool},
            "dataset": {"path": str(dataset.path), "sha256": dataset.sha256, "loader": dataset.loader,
                        "usable_items": len(dataset.items), "limit": opts.limit},
            "settings": {"threads": settings.threads, "n_ctx": settings.n_ctx, "gpu_layers": settings.gpu_layers},
            "bootstrap": {"method": "percentile", "resamples": opts.resamples, "seed": opts.seed, "level": 0.95},
        },
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return round(value, digits) if value is not None else None
