"""Dataset loaders: a file in, items out, bad lines counted instead of fatal.

A loader reads records (JSONL objects, CSV rows) and maps them to ``Item`` through a ``FieldMap``:
which key is the id, the gold answer, the option dict. Every other scalar key becomes a template
field, except ``hidden`` ones (MCQA files carry the answer text next to the answer letter; a
template that showed it would leak the gold). A record that cannot be used is a ``Malformed``
with file and line, and the run goes on without it; a file that cannot be read at all is an
InputError. Reasons never quote record text: datasets may hold patient data.

A new loader is one function plus ``register_loader``; task files name it. Readers of record files
(JSONL, CSV) yield records that the task's FieldMap turns into items; readers of structured corpora
(IOB, XML, a codes table beside a folder of texts) build their ``Item``s and ``Malformed``s
themselves, because their gold is not one field of a record. Such a loader may read a folder
(``folder=True``) and hashes everything it reads (``fingerprint``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bedside.errors import InputError

SHARED_DATA_ENV = "BEDSIDE_SHARED_DATA"


@dataclass(frozen=True)
class Item:
    id: str
    fields: dict[str, str]
    gold: Any  # a label / option key; a list for multi-label tasks
    options: dict[str, str] | None = None
    source: str = ""  # "file:line", for messages
    line: int = 0
    # How the gold is written in a worked (few-shot) example, when not plainly: the JSON list a
    # structured task expects. None: the gold itself (prompts.answer_text).
    answer: str | None = None

    @cached_property
    def input_sha256(self) -> str:
        payload = {"fields": self.fields, "options": self.options}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Malformed:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "reason": self.reason}


@dataclass
class Dataset:
    path: Path
    sha256: str
    loader: str
    items: list[Item] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)


@dataclass(frozen=True)
class FieldRules:
    """The loader-side view of a task's FieldMap (plus what the loader always hides)."""

    id: str | None
    gold: str
    options: str | None
    required: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


# (line, record) or (line, why it is unusable); structured readers also yield Items and Malformeds
# (with their own file and line) directly, with the line of what they came from.
Records = Iterator[tuple[int, "dict[str, Any] | str | Item | Malformed"]]
Reader = Callable[[Path, dict[str, Any]], Records]


@dataclass(frozen=True)
class LoaderDef:
    name: str
    reader: Reader
    defaults: FieldRules
    options: frozenset[str] = frozenset()
    post: Callable[[dict[str, str], dict[str, Any]], None] | None = None  # adjusts an item's fields
    structured: bool = False  # builds its own Items: a task's dataset.fields does not apply
    folder: bool = False  # the data path may be a folder (e.g. DDI's tree of XML files)
    fingerprint: Callable[[Path, dict[str, Any]], str] | None = None  # sha256 of all it reads; None: the file's


_LOADERS: dict[str, LoaderDef] = {}


def register_loader(loader: LoaderDef) -> LoaderDef:
    _LOADERS[loader.name] = loader
    return loader


def loader_names() -> list[str]:
    return sorted(_LOADERS)


def shared_data_dir() -> Path | None:
    """$BEDSIDE_SHARED_DATA, else ``<repo>/../shared/data`` for a source checkout, else None."""
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env).expanduser()
    import bedside

    repo = Path(bedside.__file__).resolve().parents[2]  # src/bedside/__init__.py -> repo root
    candidate = repo.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def resolve_data_path(relative: str, what: str) -> Path:
    path = Path(relative).expanduser()
    if path.is_absolute():
        return path
    base = shared_data_dir()
    if base is None:
        raise InputError(
            f"{what}: no shared data dir for '{relative}'; set {SHARED_DATA_ENV} or pass --data PATH"
        )
    return base / path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_dataset(name: str, path: Path, fields: Any = None, options: dict[str, Any] | None = None, *,
                 gold_optional: bool = False) -> Dataset:
    """Read ``path`` with loader ``name``; ``fields`` is a spec FieldMap (None: loader defaults).

    ``gold_optional``: a record without a gold answer is an item with ``gold=None`` instead of a
    malformed line (inputs a teacher model labels: ``bedside.adapt.teacher``).
    """
    if name not in _LOADERS:
        raise InputError(f"unknown loader '{name}' (known: {', '.join(loader_names())})")
    loader = _LOADERS[name]
    options = dict(options or {})
    unknown = sorted(set(options) - loader.options)
    if unknown:
        raise InputError(f"loader '{name}' has no option '{unknown[0]}'")
    rules = loader.defaults
    if fields is not None and loader.structured:
        raise InputError(f"loader '{name}' builds its items itself; a task using it takes no dataset.fields")
    if fields is not None:
        rules = FieldRules(id=fields.id, gold=fields.gold, options=fields.options,
                           required=tuple(fields.required), hidden=loader.defaults.hidden + tuple(fields.hidden))
    if not (path.is_file() or (loader.folder and path.is_dir())):
        raise InputError(f"dataset {'file or folder' if loader.folder else 'file'} not found: {path}")
    digest = loader.fingerprint(path, options) if loader.fingerprint is not None else file_sha256(path)
    dataset = Dataset(path=path, sha256=digest, loader=name)
    seen: dict[str, int] = {}
    for line, record in loader.reader(path, options):
        if isinstance(record, str):
            dataset.malformed.append(Malformed(str(path), line, record))
            continue
        if isinstance(record, Malformed):
            dataset.malformed.append(record)
            continue
        if isinstance(record, Item):
            if record.id in seen:
                dataset.malformed.append(Malformed(record.source.rsplit(":", 1)[0], record.line,
                                                   f"duplicate id (first at line {seen[record.id]})"))
            else:
                seen[record.id] = record.line
                dataset.items.append(record)
            continue
        item = _to_item(record, rules, path, line, seen, gold_optional)
        if isinstance(item, str):
            dataset.malformed.append(Malformed(str(path), line, item))
            continue
        if loader.post is not None:
            loader.post(item.fields, options)
        dataset.items.append(item)
    return dataset


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _to_item(record: dict[str, Any], rules: FieldRules, path: Path, line: int, seen: dict[str, int],
             gold_optional: bool = False) -> Item | str:
    if rules.id is None:
        item_id = f"line-{line}"
    else:
        item_id = _scalar(record.get(rules.id))
        if item_id is None or not item_id.strip():
            return f"missing id field '{rules.id}'"
        item_id = item_id.strip()
    if item_id in seen:
        return f"duplicate id (first at line {seen[item_id]})"

    gold_raw = record.get(rules.gold)
    gold: Any
    if isinstance(gold_raw, list):
        gold = [s.strip() for s in (_scalar(g) for g in gold_raw) if s and s.strip()]
    else:
        gold = (_scalar(gold_raw) or "").strip()
    if not gold:
        if not gold_optional:
            return f"missing or empty gold field '{rules.gold}'"
        gold = None

    options = None
    if rules.options is not None:
        raw = record.get(rules.options)
        if not isinstance(raw, dict) or len(raw) < 2:
            return f"field '{rules.options}' must be an object with at least two options"
        options = {str(k): _scalar(v) for k, v in raw.items()}
        if any(v is None or not v.strip() for v in options.values()):
            return f"field '{rules.options}' has an empty or non-text option"
        if isinstance(gold, str) and gold not in options:
            return f"gold '{rules.gold}' is not one of the option keys {sorted(options)}"

    skip = {rules.gold, rules.options, *rules.hidden}
    fields = {k: s for k, v in record.items() if k not in skip and (s := _scalar(v)) is not None}
    for name in rules.required:
        if not fields.get(name, "").strip():
            return f"missing or empty field '{name}'"
    seen[item_id] = line
    return Item(id=item_id, fields=fields, gold=gold, options=options, source=f"{path}:{line}", line=line)


# -- readers -------------------------------------------------------------------------------------
def read_jsonl(path: Path, options: dict[str, Any]) -> Records:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, f"not UTF-8 (byte {exc.start})"
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line_no, f"not valid JSON: {exc.msg} (column {exc.colno})"
                continue
            if not isinstance(record, dict):
                yield line_no, f"a JSON {type(record).__name__}, not an object"
                continue
            yield line_no, record


def read_csv(path: Path, options: dict[str, Any]) -> Records:
    delimiter = options.get("delimiter", ",")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}); convert it first") from exc
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter, strict=True)
    if not reader.fieldnames:
        raise InputError(f"{path} is empty or has no header row")
    end = 1  # the header's last line
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield start, f"CSV error: {exc}"
            continue
        end = reader.line_num
        if None in row:
            yield start, f"{len(reader.fieldnames) + len(row[None])} fields, header has {len(reader.fieldnames)}"
        elif any(v is None for v in row.values()):
            yield start, f"fewer fields than the header's {len(reader.fieldnames)}"
        else:
            yield start, dict(row)


def _split_context(fields: dict[str, str], options: dict[str, Any]) -> None:
    """PubMedQA files put the abstract and the question in one field, question on the last line."""
    if options.get("split_context") and "context" not in fields and "\n" in fields.get("question", ""):
        context, question = fields["question"].rstrip().rsplit("\n", 1)
        fields["context"], fields["question"] = context.strip(), question.strip()


register_loader(LoaderDef(
    "mcqa_jsonl", read_jsonl,
    FieldRules(id="realidx", gold="answer_idx", options="options", required=("question",),
               hidden=("answer", "answer_idx", "answer_rationale")),
    options=frozenset({"split_context"}), post=_split_context,
))
register_loader(LoaderDef("jsonl", read_jsonl, FieldRules(id=None, gold="label", options=None)))
register_loader(LoaderDef("csv", read_csv, FieldRules(id=None, gold="label", options=None),
                          options=frozenset({"delimiter"})))
