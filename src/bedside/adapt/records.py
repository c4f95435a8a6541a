"""Training records: chat transcripts whose assistant turns are what the model learns to write.

Input is JSONL, one record a line, in either shape::

    {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}]}
    {"prompt": "...", "completion": "...", "system": "..."}      (system optional)

Both become a :class:`Record` (a list of messages). Every assistant message is a target; the rest
is context. A malformed line is skipped, counted and reported as ``file:line: reason`` (logged, and
kept in the run's metadata): a large export with a few broken lines should still train, but never
silently. With ``strict`` the first malformed line is an error instead. The reasons never quote the
line itself, which may hold PHI. Records can also come from an evaluation task of the harness
(:func:`task_records`): its zero-shot prompt as the user turn, its gold as the answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedside import textio
from bedside.errors import InputError

log = logging.getLogger("bedside.adapt")

ROLES = ("system", "user", "assistant")
LOGGED_SKIPS = 5  # lines named in the log, then a count
STORED_SKIPS = 20  # lines named in the metadata


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Record:
    messages: tuple[Message, ...]
    source: str  # "file:line", for messages about this record

    @property
    def raw_pair(self) -> tuple[str, str]:
        """(prompt, completion) for a model without a chat template: one user turn, one answer."""
        users = [m for m in self.messages if m.role == "user"]
        answers = [m for m in self.messages if m.role == "assistant"]
        if len(users) != 1 or len(answers) != 1 or self.messages[-1].role != "assistant":
            raise InputError(
                f"{self.source}: without a chat template a record must be one prompt and one completion"
            )
        return users[0].content, answers[0].content


@dataclass
class RecordSet:
    records: list[Record]
    path: str
    sha256: str  # of the file's bytes: the data hash recorded next to the trained model
    skipped: list[str] = field(default_factory=list)  # "file:line: reason" of each malformed line skipped

    def skipped_summary(self) -> dict[str, Any]:
        """For the metadata: the count and the first lines' ``file:line: reason`` (never the line text)."""
        return {"count": len(self.skipped), "first": self.skipped[:STORED_SKIPS]}


def parse_record(value: Any, source: str) -> Record:
    if not isinstance(value, dict):
        raise InputError(f"{source}: a record must be a JSON object, got {type(value).__name__}")
    if "messages" in value:
        raw = value["messages"]
        if not isinstance(raw, list) or not raw:
            raise InputError(f"{source}: 'messages' must be a non-empty list")
        messages = tuple(_message(m, source, i) for i, m in enumerate(raw))
    elif "prompt" in value or "completion" in value:
        fields = {k: value.get(k) for k in ("prompt", "completion", "system")}
        for key in ("prompt", "completion"):
            if not isinstance(fields[key], str) or not fields[key].strip():
                raise InputError(f"{source}: '{key}' must be a non-empty string")
        if fields["system"] is not None and not isinstance(fields["system"], str):
            raise InputError(f"{source}: 'system' must be a string")
        messages = tuple(
            ([Message("system", fields["system"])] if fields["system"] else [])
            + [Message("user", fields["prompt"]), Message("assistant", fields["completion"])]
        )
    else:
        raise InputError(f"{source}: expected {{\"messages\": [...]}} or {{\"prompt\", \"completion\"}}")
    if not any(m.role == "assistant" and m.content.strip() for m in messages):
        raise InputError(f"{source}: no assistant message with content: nothing to learn")
    return Record(messages, source)


def _message(value: Any, source: str, index: int) -> Message:
    where = f"{source}: messages[{index}]"
    if not isinstance(value, dict):
        raise InputError(f"{where} must be an object with 'role' and 'content'")
    role, content = value.get("role"), value.get("content")
    if role not in ROLES:
        raise InputError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(content, str):
        raise InputError(f"{where}: 'content' must be a string")
    return Message(role, content)


def read_jsonl(path: str | Path, what: str = "training data", *, strict: bool = False) -> RecordSet:
    """All valid records of a JSONL file; malformed lines are skipped and counted (``strict``: an error)."""
    p = Path(path)
    text = textio.read_text(p, what)
    records: list[Record] = []
    skipped: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{p}:{number}"
        try:
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{source}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            records.append(parse_record(value, source))
        except InputError as exc:
            _skip(str(exc), skipped, strict)
    return _finish(RecordSet(records, str(p), hashlib.sha256(text.encode("utf-8")).hexdigest(), skipped), what)


def _skip(problem: str, skipped: list[str], strict: bool) -> None:
    if strict:
        raise InputError(f"{problem} (--strict; without it such lines are skipped and counted)")
    skipped.append(problem)


def _finish(found: RecordSet, what: str) -> RecordSet:
    """Log the skipped lines (the first few, then a count); a file with no valid record is an error."""
    for problem in found.skipped[:LOGGED_SKIPS]:
        log.warning("%s: malformed line skipped: %s", what, problem)
    if len(found.skipped) > LOGGED_SKIPS:
        log.warning("%s: ... and %d more malformed line(s) skipped in %s", what, len(found.skipped) - LOGGED_SKIPS,
                    found.path)
    if not found.records:
        first = f": {len(found.skipped)} malformed line(s), first {found.skipped[0]}" if found.skipped else ""
        raise InputError(f"{what} {found.path} has no records{first}")
    return found


def task_records(task: str, path: str | Path, settings: Any, what: str = "training data", *,
                 strict: bool = False) -> RecordSet:
    """Records from an evaluation task: its zero-shot prompt (and system message) with the gold answer.

    ``path`` is a file in the task's own format (e.g. the Symptom2Disease CSV). The task's default
    data is what the harness scores, so a path must be given: training on it would inflate the score.
    """
    from bedside.evaluation.loaders import load_dataset
    from bedside.evaluation.prompts import answer_text, build_prompt
    from bedside.evaluation.registry import TaskRegistry, user_task_dirs

    spec = TaskRegistry.discover(user_task_dirs((), settings.data_dir)).get(task)
    dataset = load_dataset(spec.dataset.loader, Path(path), spec.dataset.fields, spec.dataset.options)
    skipped: list[str] = []
    for bad in dataset.malformed:
        _skip(str(bad), skipped, strict)
    records = []
    for item in dataset.items:
        prompt = build_prompt(spec, item)
        answer = item.answer if item.answer is not None else answer_text(item.gold)
        messages = ([Message("system", prompt.system)] if prompt.system else []) + [
            Message("user", prompt.text), Message("assistant", answer)]
        records.append(Record(tuple(messages), item.source or f"{path}:{item.line}"))
    return _finish(RecordSet(records, str(path), dataset.sha256, skipped), f"{what} for task '{task}'")
