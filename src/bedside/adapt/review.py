"""Human review of a teacher's labels: a JSONL file a person edits, turned back into SFT records.

``bedside distill sequence --review`` writes ``review.jsonl``, one item a line::

    {"id": "line-2", "task": "symptom2disease", "system": "...", "prompt": "...",
     "teacher_answer": "Migraine", "status": "pending", "corrected": null, "provenance": {...}}

The reviewer sets ``status`` to ``accepted`` (keep the teacher's answer), ``corrected`` (put the right
answer in ``corrected``: text as the task writes answers, or a JSON value for a structured task) or
``rejected`` (leave the item out). Items the teacher failed on carry ``teacher_error`` and no answer:
correct or reject them. :func:`apply_review` checks every line (a correction goes through the task's
parser and output contract, exactly like a teacher answer) and writes the kept items as records. Any
bad line is an error naming ``file:line``; a pending item is refused unless ``allow_pending``, since a
half-reviewed file handed to training looks exactly like a finished one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside import textio
from bedside.adapt.teacher import load_task, read_answer, target_text
from bedside.errors import InputError

if TYPE_CHECKING:
    from bedside.config import Settings
    from bedside.evaluation.spec import TaskSpec

STATUSES = ("pending", "accepted", "corrected", "rejected")


def apply_review(review: str | Path, out: str | Path, settings: Settings, *, task: str | None = None,
                 allow_pending: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Write the accepted and corrected items of ``review`` to ``out`` (JSONL records); returns the counts."""
    path, target = Path(review), Path(out)
    if target.exists() and target.resolve() == path.resolve():
        raise InputError(f"--out {target} is the review file itself; write the records elsewhere")
    if target.exists() and not overwrite:
        raise InputError(f"--out {target} exists; choose another file or pass --overwrite")
    text = textio.read_text(path, "review file")
    specs: dict[str, TaskSpec] = {}
    seen: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    counts = dict.fromkeys(STATUSES, 0)
    first_pending = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        line = _object(raw, where)
        item_id = _field(line, "id", str, where)
        if item_id in seen:
            raise InputError(f"{where}: id '{item_id}' again (first at line {seen[item_id]})")
        seen[item_id] = number
        status = line.get("status")
        if status not in STATUSES:
            raise InputError(f"{where}: status must be one of {', '.join(STATUSES)}, got {status!r}")
        counts[status] += 1
        name = task or _field(line, "task", str, where)
        if name not in specs:
            specs[name] = load_task(name, settings)
        if len(specs) > 1:
            raise InputError(f"{where}: task '{name}' differs from the file's first task; review one task a file")
        if status == "pending":
            first_pending = first_pending or where
        elif status != "rejected":
            records.append(_record(line, status, specs[name], where))
    if first_pending and not allow_pending:
        raise InputError(f"{first_pending}: still pending ({counts['pending']} item(s) in all); review them, "
                         "or pass --allow-pending to leave them out")
    if not records:
        raise InputError(f"{path}: no accepted or corrected items: nothing to train on")
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, target)
    return {"out": str(target), "task": next(iter(specs)), "records": len(records),
            "accepted": counts["accepted"], "corrected": counts["corrected"], "rejected": counts["rejected"],
            "pending_left_out": counts["pending"]}


def _object(raw: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise InputError(f"{where}: a review line must be a JSON object, got {type(value).__name__}")
    return value


def _field(line: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = line.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: '{key}' must be a non-empty {kind.__name__}")
    return value


def _record(line: dict[str, Any], status: str, spec: TaskSpec, where: str) -> dict[str, Any]:
    """The SFT record of an accepted or corrected line; its answer checked like a teacher's."""
    prompt = _field(line, "prompt", str, where)
    system = line.get("system")
    if system is not None and not isinstance(system, str):
        raise InputError(f"{where}: 'system' must be a string or null")
    corrected = line.get("corrected")
    if status == "accepted":
        if corrected is not None:
            raise InputError(f"{where}: status is accepted but 'corrected' is set; use status corrected")
        answer = line.get("teacher_answer")
        if not isinstance(answer, str) or not answer.strip():
            raise InputError(f"{where}: status is accepted but there is no teacher answer; correct or reject it")
        what = "teacher answer"
    else:
        if corrected is None or (isinstance(corrected, str) and not corrected.strip()):
            raise InputError(f"{where}: status is corrected but 'corrected' is empty")
        answer = corrected if isinstance(corrected, str) else json.dumps(corrected, ensure_ascii=False)
        what = "corrected answer"
    parsed, reason = read_answer(spec, answer, _choices(line, spec, where))
    if reason is not None:
        raise InputError(f"{where}: the {what} is not valid for task '{spec.name}': {reason}")
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}, {"role": "assistant", "content": target_text(parsed)}]
    record: dict[str, Any] = {"messages": messages, "id": line["id"], "source": line.get("source"),
                              "review": status}
    if status == "corrected":
        record["teacher_answer"] = line.get("teacher_answer")
    provenance = line.get("provenance")
    if isinstance(provenance, dict):
        record.update({k: v for k, v in provenance.items() if k not in record})
    record["parsed"] = parsed
    return record


def _choices(line: dict[str, Any], spec: TaskSpec, where: str) -> tuple[str, ...]:
    if spec.output.choices != "options":
        return tuple(spec.output.choices or ())
    choices = line.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices) or len(choices) < 2:
        raise InputError(f"{where}: task '{spec.name}' has per-item options: 'choices' must list them")
    return tuple(choices)
