"""A task is data: one YAML file validated by ``TaskSpec``.

The file names a loader (how to read the dataset), the prompt template(s), how few-shot examples
are chosen, what the output is constrained to, which parser turns output into an answer, and the
metrics, and optionally how bedside's own extraction pipeline answers the task (``pipeline``: an
adapter from pipelines.py, for ``--model bedside-ner``). ``version`` goes up whenever a change would
move the scores (prompt, parser, data mapping, adapter); results record it, and resumed runs never
mix items from two versions.

Templates are ``str.format`` strings over the item's fields ({question}, {text}, {context}, ...)
plus {options} (the rendered option list), {labels} (the choices, comma-separated) and, in the
few-shot ``shot`` template, {answer}. Only plain names are allowed: ``{x.attr}`` or ``{x[0]}``
would let a task file reach into Python objects.
"""

from __future__ import annotations

import hashlib
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bedside.errors import ConfigError
from bedside.textio import read_text

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(_Strict):
    """Which record keys the loader reads; every other scalar key is also a template field."""

    id: str | None = None  # None: the line number is the id
    gold: str = "label"
    options: str | None = None  # a {key: text} object, e.g. MCQA's {"A": ..., "D": ...}
    required: list[str] = Field(default_factory=list)  # fields the template needs
    hidden: list[str] = Field(default_factory=list)  # keys templates must never see (answer text...)


class DatasetSpec(_Strict):
    loader: str
    path: str = Field(description="Default data file, relative to the shared data dir (or absolute).")
    fields: FieldMap | None = None  # None: the loader's own defaults
    options: dict[str, Any] = Field(default_factory=dict)  # loader options, e.g. split_context

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, value: str) -> str:
        from bedside.evaluation.loaders import loader_names

        return _known("loader", value, loader_names())


class PromptSpec(_Strict):
    system: str | None = None
    preamble: str | None = None  # once, before the shots and the question (e.g. the label list)
    template: str
    # One worked example in a few-shot prompt; {answer} is the gold answer.
    shot: str | None = None
    shot_separator: str = "\n\n"
    option_format: str = "{key}. {text}"

    @field_validator("system", "preamble", "template", "shot", "option_format")
    @classmethod
    def _plain_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)
        return value

    @model_validator(mode="after")
    def _no_gold_in_question(self) -> PromptSpec:
        # {answer} is the gold: only a worked example (shot) may show it.
        for part in ("system", "preamble", "template"):
            value = getattr(self, part)
            if value is not None and "answer" in placeholders(value):
                raise ValueError(f"{part} must not use {{answer}} (the gold answer); only shot may")
        return self

    @property
    def shot_template(self) -> str:
        return self.shot if self.shot is not None else self.template + " {answer}"


class FewShotSpec(_Strict):
    k: int = Field(default=3, ge=1, le=64, description="Shots when --shots is not given.")
    selection: Literal["fixed", "similar"] = "fixed"
    # Where examples come from: a name in ``splits``, or None for the evaluated data itself (the
    # evaluated item is never its own example).
    split: str | None = None
    embedder: str = "minilm"  # catalog name used by selection: similar


class OutputSpec(_Strict):
    # A list of labels, or "options": the item's own option keys (A..D for MCQA).
    choices: list[str] | Literal["options"] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    max_tokens: int = Field(default=32, ge=1)  # constrained decoding: the answer alone
    free_max_tokens: int = Field(default=64, ge=1)  # free text: room for "The answer is (B) because..."

    @model_validator(mode="after")
    def _one_constraint(self) -> OutputSpec:
        if (self.choices is None) == (self.schema_ is None):
            raise ValueError("give exactly one of choices or schema")
        if isinstance(self.choices, list):
            if len(self.choices) < 2:
                raise ValueError("choices needs at least two labels")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError("choices has duplicate labels")
        return self

    @property
    def kind(self) -> str:
        return "choices" if self.choices is not None else "json_schema"


class PipelineSpec(_Strict):
    """How bedside's extraction pipeline (``--model bedside-ner``) answers the task (pipelines.py)."""

    adapter: str  # a registered adapter: the Extractor's Document -> the task's answer form
    input: str  # the item field the pipeline reads
    options: dict[str, Any] = Field(default_factory=dict)  # the adapter's options, e.g. categories

    @field_validator("adapter")
    @classmethod
    def _known_adapter(cls, value: str) -> str:
        from bedside.evaluation.pipelines import adapter_names

        return _known("pipeline adapter", value, adapter_names())


class TaskSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    description: str
    dataset: DatasetSpec
    # Named data files besides dataset.path (e.g. train for a few-shot pool, test for held-back data).
    splits: dict[str, str] = Field(default_factory=dict)
    prompt: PromptSpec
    few_shot: FewShotSpec = Field(default_factory=FewShotSpec)
    output: OutputSpec
    parser: str = "choice"
    metrics: list[str] = Field(min_length=1)
    pipeline: PipelineSpec | None = None  # None: only generative models answer this task
    citation: str | None = None

    # Set by the loader: where the spec came from and the hash of its bytes (provenance).
    source: str | None = Field(default=None, exclude=True)
    sha256: str | None = Field(default=None, exclude=True)

    # The registries are imported inside the validators: they import nothing heavy, and spec
    # parsing must not depend on module import order.
    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        from bedside.evaluation.parsers import parser_names

        return _known("parser", value, parser_names())

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        from bedside.evaluation.metrics import metric_names

        for name in value:
            _known("metric", name, metric_names())
        return value

    @model_validator(mode="after")
    def _few_shot_split(self) -> TaskSpec:
        if self.few_shot.split is not None and self.few_shot.split not in self.splits:
            raise ValueError(f"few_shot.split '{self.few_shot.split}' is not in splits")
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        """The listing `bedside eval tasks --json` prints."""
        return {
            "name": self.name, "version": self.version, "description": self.description,
            "metrics": list(self.metrics), "loader": self.dataset.loader, "path": self.dataset.path,
            "splits": dict(self.splits), "output": self.output.kind,
            "choices": self.output.choices, "parser": self.parser,
            "few_shot": self.few_shot.model_dump(), "source": self.source,
            "strategies": ["zero-shot", "few-shot"] + (["pipeline"] if self.pipeline else []),
            "pipeline": self.pipeline.model_dump() if self.pipeline else None,
        }


def _known(kind: str, name: str, known: list[str]) -> str:
    if name not in known:
        raise ValueError(f"unknown {kind} '{name}' (known: {', '.join(known)})")
    return name


def placeholders(template: str) -> list[str]:
    """The field names a template uses; refuses attribute/index access and bad braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template has unbalanced braces: {exc}") from exc
    names = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"template placeholder {{{name}}} must be a plain field name")
        names.append(name)
    return names


def parse_task(data: Any, source: str, sha256: str | None = None) -> TaskSpec:
    if not isinstance(data, dict):
        raise ConfigError(f"task file {source} is not a YAML mapping")
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"task file {source}: {loc}: {msg}") from exc
    return spec.model_copy(update={"source": source, "sha256": sha256})


def load_task_text(text: str, source: str) -> TaskSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"task file {source} is not valid YAML{where}: {problem}") from exc
    return parse_task(data, source, hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_task_file(path: str | Path) -> TaskSpec:
    p = Path(path)
    return load_task_text(read_text(p, "task file", error=ConfigError), str(p))
