"""Condition attributes: ACUITY ("acute on chronic"), DIRECTION ("left"), SYSTEM_ORGAN_SITE ("leg").

A word links to the nearest condition in its sentence that holds it, or that it touches through a
short run of plain words ("left leg swelling", "pain in the left knee"). Body sites that no condition
claims become ANATOMY entities; acuity and direction words that none claims are dropped ("left the
hospital" is not an attribute of anything).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.spans import PhraseMatcher, Span

# What may stand between a condition and its attribute: words and spaces, no punctuation.
_PLAIN_GAP = re.compile(r"[^\W\d_]*(?:[\s-]+[^\W\d_]+)*[\s-]*")
_GAP_LIMIT = 30  # characters
_GAP_WORDS = 4


@dataclass(frozen=True, slots=True)
class ModifierLink:
    entity: int
    attribute: Span
    relationship_score: float


class ConditionModifiers:
    def __init__(self, folder: Path | None = None):
        attributes = resources.require(resources.load("conditions.json", folder), "attributes", "conditions.json")
        self._matcher: PhraseMatcher[str] = PhraseMatcher()
        for attr, spec in attributes.items():
            for term in spec.get("terms", ()):
                self._matcher.add(term, attr)
            for term in spec.get("exact", ()):
                self._matcher.add(term, attr, exact=True)

    def candidates(self, doc: Doc) -> list[Span]:
        return [Span.of(doc.text, m.begin, m.end, type=m.payload, source="modifier", score=0.85)
                for m in self._matcher.finditer(doc.tokens) if doc.within_sentence(m.begin, m.end)]

    def link(
        self, doc: Doc, conditions: Sequence[Span], words: Sequence[Span],
    ) -> tuple[list[ModifierLink], list[Span]]:
        """Each word linked to one of ``conditions`` (by index), or left over."""
        order = sorted(range(len(conditions)), key=lambda i: conditions[i].begin)
        begins = [conditions[i].begin for i in order]
        widest = max((c.end - c.begin for c in conditions), default=0)
        links: list[ModifierLink] = []
        left: list[Span] = []
        for w in words:
            si = doc.sentence(w.begin)
            best: tuple[float, int] | None = None
            lo = bisect_left(begins, w.begin - _GAP_LIMIT - widest)
            hi = bisect_right(begins, w.end + _GAP_LIMIT)
            for i in order[lo:hi]:
                c = conditions[i]
                if si is None or doc.sentence(c.begin) != si:
                    continue
                score = _score(doc.text, c, w)
                if score is not None and (best is None or score > best[0]):
                    best = (score, i)
            if best is None:
                left.append(w)
            else:
                links.append(ModifierLink(best[1], w, best[0]))
        return links, left


def _score(text: str, c: Span, w: Span) -> float | None:
    if c.begin <= w.begin and w.end <= c.end:
        return 0.95
    if w.end <= c.begin:
        gap = text[w.end:c.begin]
    elif w.begin >= c.end:
        gap = text[c.end:w.begin]
    else:
        return None  # straddles the condition's edge
    if len(gap) > _GAP_LIMIT or len(gap.split()) > _GAP_WORDS or not _PLAIN_GAP.fullmatch(gap):
        return None
    return round(0.9 - 0.005 * len(gap), 4)
