"""Sequence-level distillation, first half: a teacher model writes the targets a student learns.

``label_with_teacher`` reads task inputs from a file in the task's own format, renders each item's
prompt exactly as the evaluation harness does (the prompt the student is trained on is the one it
is scored with), asks the teacher through the Runtime (audited; constrained to the task's choices
or JSON schema; de-identified on the way out when the teacher is an endpoint outside this
machine), reads the answer with the task's parser and checks it against the task's output
contract. Valid answers become SFT records in the task's canonical answer form (the label, or the
JSON a structured task's gold is written as), so the student learns a clean target rather than
the teacher's phrasing; invalid ones go to a rejects file with the reason. Output folder (built
under a temporary name and renamed when complete)::

    records.jsonl         {"messages": [system, user, assistant], "id", "teacher", ...}: `adapt lora --data`
    rejects.jsonl         items the teacher got wrong in form, with the reason
    review.jsonl          (with review) one line per item for a person to accept, correct or reject
    bedside-distill.json  teacher, task, inputs sha256, counts, agreement with gold, time, tokens
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bedside.adapt.run import building
from bedside.catalog import sha256_file
from bedside.errors import ContextWindowError, InputError, StructuredOutputError

if TYPE_CHECKING:
    from bedside.config import Settings
    from bedside.evaluation.loaders import Dataset, Item
    from bedside.evaluation.spec import TaskSpec
    from bedside.runtime import Runtime
    from bedside.runtime.service import LoadedModel

log = logging.getLogger("bedside.adapt")

FORMAT = "bedside-distill/1"
META_FILE = "bedside-distill.json"
RECORDS_FILE = "records.jsonl"
REJECTS_FILE = "rejects.jsonl"
REVIEW_FILE = "review.jsonl"
Decoding = Literal["constrained", "free"]


# -- the task's answer contract (shared with the review round trip) -------------------------------
def load_task(task: str, settings: Settings) -> TaskSpec:
    from bedside.evaluation import TaskRegistry  # registers the structured tasks' parsers and loaders
    from bedside.evaluation.registry import user_task_dirs

    return TaskRegistry.discover(user_task_dirs((), settings.data_dir)).get(task)


def target_text(parsed: Any) -> str:
    """An answer as the task's gold is written in a worked example: the label, or JSON for structures."""
    return parsed if isinstance(parsed, str) else json.dumps(parsed, ensure_ascii=False)


def check_answer(spec: TaskSpec, parsed: Any, choices: tuple[str, ...]) -> str | None:
    """Why ``parsed`` is not a valid answer to the task, or None. Never quotes the answer (PHI)."""
    if parsed is None:
        return f"the task's parser '{spec.parser}' found no answer"
    if spec.output.choices is not None:
        return None if parsed in choices else "not one of the task's choices"
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(spec.output.schema_ or {}).iter_errors(parsed), key=lambda e: e.path)
    if errors:
        where = "/".join(str(x) for x in errors[0].absolute_path) or "(root)"
        return f"does not match the task's schema at {where} ('{errors[0].validator}')"
    return None


def read_answer(spec: TaskSpec, text: str, choices: tuple[str, ...]) -> tuple[Any, str | None]:
    """(parsed answer, None) or (None, why not): the task's parser, then the task's output contract."""
    from bedside.evaluation.parsers import get_parser

    parsed = get_parser(spec.parser)(text, choices)
    reason = check_answer(spec, parsed, choices)
    return (None, reason) if reason else (parsed, None)


# -- inputs --------------------------------------------------------------------------------------
def read_inputs(spec: TaskSpec, path: Path) -> Dataset:
    """The items of a user's file in the task's format; the gold column may be missing or empty."""
    from bedside.evaluation.loaders import load_dataset

    refuse_eval_data(spec, path)
    dataset = load_dataset(spec.dataset.loader, path, spec.dataset.fields, spec.dataset.options, gold_optional=True)
    if dataset.malformed:
        raise InputError(f"{dataset.malformed[0]} ({len(dataset.malformed)} malformed item(s) in {path})")
    if not dataset.items:
        raise InputError(f"inputs {path} have no items for task '{spec.name}'")
    return dataset


def refuse_eval_data(spec: TaskSpec, path: Path) -> None:
    """Refuse the data the harness scores: a student trained on its teacher's answers to the test
    items has seen the test, and its score says nothing about new inputs."""
    from bedside.evaluation.loaders import resolve_data_path

    scored = {"default data": spec.dataset.path}
    pool = spec.few_shot.split or "train"  # a few-shot pool (train split) is training data by definition
    scored.update({f"split '{name}'": rel for name, rel in spec.splits.items() if name != pool})
    given = path.expanduser().resolve()
    for what, rel in scored.items():
        try:
            target = resolve_data_path(rel, f"task '{spec.name}'").resolve()
        except InputError:
            continue  # no shared data folder: the task's own files are not on this machine
        if given == target or target in given.parents:
            raise InputError(f"{path} is the {what} of task '{spec.name}', which the harness scores; label "
                             "other inputs (e.g. a split of your own) so the student's score stays honest")


# -- labelling -----------------------------------------------------------------------------------
@dataclass
class _Outcome:
    """One item's teacher answer: accepted (``parsed`` set) or rejected (``kind`` and ``reason``)."""

    parsed: Any = None
    target: str | None = None
    kind: str | None = None
    reason: str | None = None
    output: str | None = None


def label_with_teacher(
    task: str,
    inputs_path: str | Path,
    teacher: str,
    settings: Settings,
    *,
    out: Path,
    limit: int | None = None,
    decoding: Decoding = "constrained",
    max_tokens: int | None = None,
    seed: int = 0,
    review: bool = False,
    deid: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Label ``inputs_path`` with ``teacher`` into ``out``; returns what is written to bedside-distill.json.

    ``deid``: the text written to the output files is de-identified (the settings'
    ``outbound_deid_mode``): they are training data, and people read the review file. A choice
    label comes from the task's fixed list and is kept as is.
    """
    from bedside.adapt.run import check_out
    from bedside.runtime import GenerationParams, Runtime

    started = time.time()
    if decoding not in ("constrained", "free"):
        raise InputError(f"unknown decoding '{decoding}' (known: constrained, free)")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    if max_tokens is not None and max_tokens < 1:
        raise InputError("--max-tokens must be at least 1")
    spec = load_task(task, settings)
    inputs = Path(inputs_path)
    dataset = read_inputs(spec, inputs)
    items = dataset.items[:limit] if limit is not None else dataset.items
    check_out(out, overwrite)
    guard = None
    if deid:
        from bedside.deid.guard import guard as make_guard

        guard = make_guard(settings)  # a bad key file fails now, before the teacher runs

    rt = runtime or Runtime(settings, progress=progress)
    try:
        t_load = time.time()
        loaded = rt.load(teacher)
        constraint = spec.output.kind if decoding == "constrained" else None
        if constraint is not None and not getattr(loaded.backend.capabilities, constraint):
            raise InputError(f"teacher '{loaded.spec.name}' cannot constrain output to {constraint}; "
                             "use --decoding free")
        load_seconds = time.time() - t_load
        budget = max_tokens or (spec.output.max_tokens if constraint else spec.output.free_max_tokens)
        params = GenerationParams(max_tokens=budget, temperature=0.0, seed=seed)
        labeller = _Labeller(rt, spec, loaded, constraint, params, guard)
        with building(out.resolve()) as tmp:  # published only when every file is written
            t_label = time.time()
            counts = labeller.run(items, tmp, review=review, progress=progress)
            meta = _meta(spec, loaded, inputs, dataset, items, labeller, counts, decoding, params, limit, review,
                         guard.mode if guard else "off")
            meta["records"]["sha256"] = sha256_file(tmp / RECORDS_FILE)
            meta["seconds"] = {"load": round(load_seconds, 2), "label": round(time.time() - t_label, 2),
                               "total": round(time.time() - started, 2)}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        if runtime is None:
            rt.close()
    return meta


class _Labeller:
    def __init__(self, rt: Runtime, spec: TaskSpec, loaded: LoadedModel, constraint: str | None, params: Any,
                 guard: Any):
        self.rt, self.spec, self.loaded, self.constraint, self.params, self.guard = (
            rt, spec, loaded, constraint, params, guard)
        self.latencies: list[float] = []
        self.tokens = {"prompt": 0, "completion": 0}
        self.preds: list[Any] = []  # per item, None when rejected: the agreement with gold

    def run(self, items: list[Item], folder: Path, *, review: bool, progress: bool) -> Counter[str]:
        from tqdm import tqdm

        from bedside.evaluation.prompts import build_prompt, choices_for

        counts: Counter[str] = Counter()
        files = {name: (folder / name).open("w", encoding="utf-8")
                 for name in (RECORDS_FILE, REJECTS_FILE, *((REVIEW_FILE,) if review else ()))}
        bar = tqdm(items, desc=f"{self.spec.name} · teacher {self.loaded.spec.name}", unit="item",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True)
        try:
            for item in bar:
                prompt = build_prompt(self.spec, item)
                choices = choices_for(self.spec, item)
                outcome, provenance = self._ask(item, prompt, choices)
                user = prompt.text
                if outcome.kind is None or review:  # a rejected item's prompt is written only for review
                    user, outcome = self._deidentified(user, outcome, choices)
                if outcome.kind is None:
                    counts["accepted"] += 1
                    record = {"messages": _messages(prompt.system, user, outcome.target), "id": item.id,
                              "source": item.source, **provenance, "parsed": outcome.parsed}
                    _write(files[RECORDS_FILE], record)
                else:
                    counts["rejected"] += 1
                    counts[f"rejected:{outcome.kind}"] += 1
                    log.warning("item %s: teacher answer rejected (%s)", item.id, outcome.kind)
                    reason, output = self._clean(outcome.reason, outcome.output)
                    _write(files[REJECTS_FILE], {"id": item.id, "source": item.source, "kind": outcome.kind,
                                                 "reason": reason, "output": output, **provenance})
                self.preds.append(outcome.parsed if outcome.kind is None else None)
                if review:
                    _write(files[REVIEW_FILE], self._review_line(item, prompt.system, user, outcome, provenance,
                                                                 choices))
                if progress:
                    bar.set_postfix(accepted=f"{counts['accepted']}/{counts['accepted'] + counts['rejected']}")
        finally:
            bar.close()
            for fh in files.values():
                fh.close()
        return counts

    def _ask(self, item: Item, prompt: Any, choices: tuple[str, ...]) -> tuple[_Outcome, dict[str, Any]]:
        result, error = None, None
        t0 = time.perf_counter()
        try:
            result = self.rt.generate(
                prompt.text, model=self.loaded.spec.name, system=prompt.system,
                choices=choices if self.constraint == "choices" else None,
                schema=self.spec.output.schema_ if self.constraint == "json_schema" else None,
                params=self.params, task=f"distill:{self.spec.name}", caller="distill",
            )
        except (StructuredOutputError, ContextWindowError) as exc:
            # Wrong in form (or too long) for this item only: rejected, the run goes on. Engine and
            # setup failures are not caught: they would reject every item.
            error = exc
        latency_ms = (time.perf_counter() - t0) * 1000
        self.latencies.append(latency_ms)
        gen = result.generation if result is not None else None
        if gen is not None:
            self.tokens["prompt"] += gen.prompt_tokens or 0
            self.tokens["completion"] += gen.completion_tokens or 0
        provenance = {"teacher": self.loaded.spec.name, "teacher_sha256": self.loaded.sha256,
                      "teacher_endpoint": self.loaded.spec.source.base_url, "latency_ms": round(latency_ms, 2),
                      "prompt_sha256": prompt.sha256, "input_sha256": item.input_sha256,
                      "audit_id": result.audit_id if result is not None else None}
        if error is not None:
            return _Outcome(kind=type(error).__name__, reason=error.message), provenance
        assert result is not None
        if self.constraint == "choices":
            parsed, reason = result.value, check_answer(self.spec, result.value, choices)
        else:
            parsed, reason = read_answer(self.spec, result.text, choices)
        if reason is not None:
            return _Outcome(kind="invalid", reason=reason, output=result.text), provenance
        return _Outcome(parsed=parsed, target=target_text(parsed), output=result.text), provenance

    def _deidentified(self, user: str, outcome: _Outcome, choices: tuple[str, ...]) -> tuple[str, _Outcome]:
        """The user turn (and a structured answer, which may copy input text) de-identified together."""
        if self.guard is None:
            return user, outcome
        if outcome.kind is not None or self.spec.output.choices is not None:  # no answer, or a fixed label
            return self.guard.text(user), outcome
        user, target = self.guard.texts([user, outcome.target or ""])
        if target == outcome.target:
            return user, outcome
        parsed, reason = read_answer(self.spec, target, choices)
        if reason is not None:
            return user, _Outcome(kind="deid", reason=f"after de-identification the answer {reason}",
                                  output=outcome.output)
        return user, _Outcome(parsed=parsed, target=target_text(parsed), output=outcome.output)

    def _clean(self, *texts: str | None) -> list[str | None]:
        """A rejected answer's reason and output: the engine's message or the text may quote the input."""
        if self.guard is None:
            return list(texts)
        cleaned = iter(self.guard.texts([t for t in texts if t]))
        return [next(cleaned) if t else t for t in texts]

    def _review_line(self, item: Item, system: str | None, user: str, outcome: _Outcome,
                     provenance: dict[str, Any], choices: tuple[str, ...]) -> dict[str, Any]:
        line: dict[str, Any] = {
            "id": item.id, "task": self.spec.name, "task_version": self.spec.version, "source": item.source,
            "system": system, "prompt": user, "teacher_answer": outcome.target,
            "status": "pending", "corrected": None,
        }
        if outcome.kind is not None:
            line["teacher_error"] = f"{outcome.kind}: {outcome.reason}"
        if self.spec.output.choices == "options":  # per-item choices: needed to check a correction
            line["choices"] = list(choices)
        line["provenance"] = provenance
        return line


def _messages(system: str | None, user: str, answer: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer or ""}]


def _write(fh: Any, value: dict[str, Any]) -> None:
    fh.write(json.dumps(value, ensure_ascii=False) + "\n")


def _meta(spec: TaskSpec, loaded: LoadedModel, inputs: Path, dataset: Dataset, items: list[Item],
          labeller: _Labeller, counts: Counter[str], decoding: str, params: Any, limit: int | None, review: bool,
          deid: str) -> dict[str, Any]:
    from bedside.evaluation.stats import percentile
    from bedside.ner.meta import git_revision

    lat = labeller.latencies
    return {
        "format": FORMAT,
        "method": "sequence",
        "task": {"name": spec.name, "version": spec.version, "source": spec.source, "sha256": spec.sha256,
                 "output": spec.output.kind, "parser": spec.parser},
        "teacher": {"name": loaded.spec.name, "sha256": loaded.sha256, "backend": loaded.backend.name,
                    "parameters": loaded.spec.parameters, "endpoint": loaded.spec.source.base_url,
                    "served_model": loaded.spec.source.served_model, "outbound_deid": loaded.deid},
        "inputs": {"path": str(inputs), "sha256": dataset.sha256, "loader": dataset.loader,
                   "items": len(dataset.items), "labelled": len(items), "limit": limit,
                   "with_gold": sum(i.gold is not None for i in items)},
        "decoding": decoding,
        "params": params.as_dict(),
        "counts": {"items": len(items), "accepted": counts["accepted"], "rejected": counts["rejected"],
                   "rejected_by_kind": {k.split(":", 1)[1]: v for k, v in sorted(counts.items())
                                        if k.startswith("rejected:")}},
        "teacher_vs_gold": _agreement(spec, items, labeller.preds),
        "latency_ms": {"p50": _round(percentile(lat, 50)), "p95": _round(percentile(lat, 95)),
                       "mean": _round(sum(lat) / len(lat)) if lat else None},
        "tokens": dict(labeller.tokens),
        "records": {"path": RECORDS_FILE, "records": counts["accepted"]},
        "rejects": REJECTS_FILE,
        "review": REVIEW_FILE if review else None,
        "deid": deid,
        "git_revision": git_revision(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _agreement(spec: TaskSpec, items: list[Item], preds: list[Any]) -> dict[str, Any] | None:
    """The task's metrics of the teacher's answers against the gold the inputs carry (rejected: wrong)."""
    from bedside.evaluation.metrics import score

    pairs = [(p, i) for p, i in zip(preds, items, strict=True) if i.gold is not None]
    if not pairs:
        return None
    values = {m: score(m, [p for p, _ in pairs], [i.gold for _, i in pairs], resamples=0,
                       inputs=[i.fields for _, i in pairs]).value for m in spec.metrics}
    return {"n": len(pairs), "metrics": values}


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
