"""Parsers turn a model's output text into an answer, or None when there is none to find.

Constrained decoding returns the chosen string directly (``Result.value``); parsers matter for
free-text decoding, where a model writes "The answer is (B)." A parser never guesses: output it
cannot read is None, which the metrics score as wrong and the runner counts as unparsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

Parser = Callable[[str, Sequence[str]], Any]

_PARSERS: dict[str, Parser] = {}


def register_parser(name: str) -> Callable[[Parser], Parser]:
    def add(fn: Parser) -> Parser:
        _PARSERS[name] = fn
        return fn

    return add


def parser_names() -> list[str]:
    return sorted(_PARSERS)


def get_parser(name: str) -> Parser:
    return _PARSERS[name]


def _unquote(text: str) -> str:
    """A constrained choice arrives as a JSON string ("\\"B\\""); free text may quote it too."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return stripped
    return value if isinstance(value, str) else stripped


def _exact(text: str, choices: Sequence[str]) -> str | None:
    candidate = _unquote(text).strip().rstrip(".").strip()
    if candidate in choices:
        return candidate
    folded = {c.casefold(): c for c in choices}
    return folded.get(candidate.casefold())


@register_parser("choice")
def parse_choice(text: str, choices: Sequence[str]) -> str | None:
    """The whole output is one of the choices (case and a trailing period aside)."""
    return _exact(text, choices)


@register_parser("letter")
def parse_letter(text: str, choices: Sequence[str]) -> str | None:
    """An option key: the whole output, a leading "B." / "(B)", or "answer is B" / "Answer: B".

    A bare leading letter followed by a space is not taken: "A patient with..." is prose.
    """
    exact = _exact(text, choices)
    if exact is not None:
        return exact
    keys = "|".join(re.escape(c) for c in sorted(choices, key=len, reverse=True))
    for pattern in (rf"^\W*({keys})(?:[).:]|$)", rf"answer\s*(?:is|:)?\s*\(?({keys})\b"):
        match = re.search(pattern, _unquote(text), flags=re.IGNORECASE if pattern.startswith("answer") else 0)
        if match and match.group(1) in choices:
            return match.group(1)
    return None


@register_parser("label")
def parse_label(text: str, choices: Sequence[str]) -> str | None:
    """A label named in the text: the earliest mention wins, the longest label on a tie."""
    exact = _exact(text, choices)
    if exact is not None:
        return exact
    folded = _unquote(text).casefold()
    best: tuple[int, int, str] | None = None
    for choice in choices:
        match = re.search(rf"(?<!\w){re.escape(choice.casefold())}(?!\w)", folded)
        if match:
            key = (match.start(), -len(choice), choice)
            best = key if best is None or key < best else best
    return best[2] if best else None


@register_parser("json")
def parse_json(text: str, choices: Sequence[str]) -> Any:
    """A JSON value (schema tasks); None when the text is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
