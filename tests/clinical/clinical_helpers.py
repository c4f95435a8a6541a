"""Small helpers for the clinical tests: one shared pipeline, find an entity by its words, check offsets.

(No conftest.py here: tests elsewhere import the root conftest by name, and a second one would shadow it.)
"""

from __future__ import annotations

import re
from functools import cache

from bedside.clinical import Document, Entity, RulePipeline


@cache
def shared_pipeline() -> RulePipeline:
    """Built once per test process: it reads every rule file (tens of milliseconds)."""
    return RulePipeline()


def entity(doc: Document, text: str, category: str | None = None) -> Entity:
    found = [e for e in doc.entities if e.text == text and (category is None or e.category == category)]
    assert found, f"no entity {text!r} in {[(e.text, e.category) for e in doc.entities]}"
    return found[0]


def traits(doc: Document, text: str) -> set[str]:
    return {t.name for t in entity(doc, text).traits}


def attributes(doc: Document, text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in entity(doc, text).attributes:
        out.setdefault(a.type, []).append(a.text)
    return out


def detected(text: str, *items: tuple[str, str]) -> list[dict]:
    """Another detector's spans: each (words, category) found as whole words after the previous one."""
    spans, pos = [], 0
    for words, category in items:
        m = re.compile(rf"(?<!\w){re.escape(words)}(?!\w)").search(text, pos)
        assert m, f"{words!r} not in {text[pos:]!r}"
        spans.append({"begin_offset": m.start(), "end_offset": m.end(), "category": category})
        pos = m.end()
    return spans


def assert_exact(doc: Document, text: str) -> None:
    """Every span the document reports is the input text at its offsets."""
    for e in doc.entities:
        assert text[e.begin_offset:e.end_offset] == e.text
        for a in e.attributes:
            assert text[a.begin_offset:a.end_offset] == a.text
    for a in doc.unmapped_attributes:
        assert text[a.begin_offset:a.end_offset] == a.text
    for s in doc.sections:
        assert 0 <= s.heading_begin_offset <= s.heading_end_offset <= s.end_offset <= len(text)
