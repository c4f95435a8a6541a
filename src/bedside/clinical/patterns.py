"""Entities from regular expressions kept as data: ``time.json``, ``phi.json``, ``social.json``.

Each file has ``placeholders`` ({NUM}, {MONTH} ...) and ``patterns``: a category, a type, a score,
optional fixed traits, and one or more regexes, written in lower case (see ``regex``).
Regexes run over the whole note once each; a match
that crosses a sentence boundary or touches a heading is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.regex import Rx
from bedside.clinical.spans import Span
from bedside.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z_]*)\}")


def fill(pattern: str, placeholders: dict[str, str], where: str) -> str:
    """Replace ``{NAME}`` (upper-case names only, so ``{1,2}`` stays a repetition)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in placeholders:
            raise ConfigError(f"{where}: unknown placeholder {{{m.group(1)}}}")
        return placeholders[m.group(1)]

    return _PLACEHOLDER.sub(sub, pattern)


def compile_all(patterns: str | list[str], placeholders: dict[str, str], where: str) -> list[Rx]:
    """One regex for the alternatives without named groups, one each for those with (names may repeat)."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    filled = [fill(p, placeholders, where) for p in items]
    plain = [p for p in filled if "(?P<" not in p]
    named = [p for p in filled if "(?P<" in p]
    out = [Rx("|".join(f"(?:{p})" for p in plain), where)] if plain else []
    return out + [Rx(p, where) for p in named]


@dataclass(frozen=True, slots=True)
class PatternRule:
    category: str
    type: str
    score: float
    traits: tuple[str, ...]
    regexes: tuple[Rx, ...]


class Patterns:
    def __init__(self, files: Sequence[str], folder: Path | None = None):
        self.rules: list[PatternRule] = []
        for name in files:
            data = resources.load(name, folder)
            placeholders = dict(data.get("placeholders", {}))
            for i, raw in enumerate(resources.require(data, "patterns", name)):
                where = f"{name} pattern {i + 1}"
                self.rules.append(PatternRule(
                    raw["category"], raw["type"], float(raw.get("score", 0.8)), tuple(raw.get("traits", ())),
                    tuple(compile_all(raw["regex"], placeholders, where)),
                ))

    def find(self, doc: Doc) -> list[Span]:
        out: list[Span] = []
        for rule in self.rules:
            meta = {"traits": rule.traits} if rule.traits else {}
            for rx in rule.regexes:
                for m in rx.finditer(doc.text, doc.folded):
                    b, e = m.span("span") if "span" in rx.groupindex and m.group("span") else m.span()
                    if e <= b:
                        continue
                    if not doc.within_sentence(b, e):
                        continue
                    out.append(Span.of(doc.text, b, e, category=rule.category, type=rule.type, score=rule.score,
                                       source="pattern", meta=meta))
        return out
