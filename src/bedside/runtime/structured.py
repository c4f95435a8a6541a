"""Check a JSON Schema before use and the engine's output after it.

Engines enforce the schema while decoding, but a generation can still stop early (token budget),
and remote servers differ in how strictly they enforce it. So bedside never trusts the engine:
every structured result is parsed and validated here before it is returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from bedside.errors import InputError, StructuredOutputError
from bedside.runtime.base import Constraint, Generation
from bedside.textio import read_text


def load_schema(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    text = read_text(p, "schema file")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"schema file {p} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    check_schema(schema, source=str(p))
    return schema


def check_schema(schema: Any, source: str = "schema") -> None:
    if not isinstance(schema, dict):
        raise InputError(f"{source} is not a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(x) for x in exc.absolute_path) or "(root)"
        raise InputError(f"{source} is not a valid JSON Schema at {where}: {exc.message}") from exc


def parse_choices(raw: str) -> tuple[str, ...]:
    choices = tuple(c.strip() for c in raw.split(","))
    if len(choices) < 2 or any(not c for c in choices):
        raise InputError("--choices needs at least two non-empty, comma-separated values")
    if len(set(choices)) != len(choices):
        raise InputError("--choices has duplicate values")
    return choices


def validate_output(gen: Generation, constraint: Constraint, max_tokens: int) -> Any:
    """Return the parsed value (a JSON value, or the chosen string) or raise StructuredOutputError."""
    try:
        value = json.loads(gen.text)
    except json.JSONDecodeError as exc:
        if gen.finish_reason == "length":
            raise StructuredOutputError(
                f"output was cut at max_tokens={max_tokens} before the JSON was complete; raise --max-tokens"
            ) from exc
        raise StructuredOutputError(f"engine output is not valid JSON: {exc.msg}") from exc
    if constraint.choices is not None:
        if value not in constraint.choices:
            raise StructuredOutputError("engine output is not one of the choices")
        return value
    errors = sorted(Draft202012Validator(constraint.schema or {}).iter_errors(value), key=lambda e: e.path)
    if errors:
        where = "/".join(str(x) for x in errors[0].absolute_path) or "(root)"
        raise StructuredOutputError(f"engine output does not match the schema at {where}: {errors[0].message}")
    return value


def bounded_schema(schema: Any, max_string: int = 256) -> Any:
    """A copy of ``schema`` whose free strings have a ``maxLength``.

    Small models under a grammar can loop inside a string ("1.1.1.1...") until the token budget
    runs out, which leaves unparseable JSON. Bounding strings keeps every output finite; anything
    valid against the bounded copy is valid against the original.
    """
    if isinstance(schema, list):
        return [bounded_schema(s, max_string) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded_schema(v, max_string) if k not in ("enum", "const", "default", "examples") else v
           for k, v in schema.items()}
    types = out.get("type")
    is_string = types == "string" or (isinstance(types, list) and "string" in types)
    if is_string and not any(k in out for k in ("maxLength", "enum", "const", "pattern", "format")):
        out["maxLength"] = max_string
    return out
