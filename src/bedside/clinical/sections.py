"""Section headings ("Family History:", "ASSESSMENT AND PLAN") found in a note, from ``sections.json``.

Headings are found by shape, then looked up: a candidate is the text before a colon at the start of a
line (or after a sentence end), or a whole short line; it is a heading when its normalised form is a
known variant. One regex pass and a dict lookup per line keeps this linear in the note length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources

# A candidate at the start of a line, after an optional list marker: up to 60 characters before a
# colon, or the whole line.
_LINE_HEAD = re.compile(
    r"^[ \t]*(?:[-*#•>]+[ \t]*|\d{1,2}[.)][ \t]+)?(?P<head>[^\r\n:]{1,60}?)[ \t]*(?P<colon>:|(?=\r?\n|\r|\Z))",
    re.MULTILINE,
)
# A candidate inside a line, after a sentence end: "... stable. Plan: discharge".
_INLINE_HEAD = re.compile(r"(?<=[.!?])[ \t]+(?P<head>[A-Za-z][^\r\n:.!?]{0,50}?)[ \t]*(?P<colon>:)")
_SPACES = re.compile(r"\s+")


def normalise(heading: str) -> str:
    return _SPACES.sub(" ", heading.strip().lower())


@dataclass(frozen=True, slots=True)
class SectionKind:
    name: str
    traits: tuple[str, ...] = ()
    condition_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A section from its heading to the next heading; ``heading_*`` cover the heading and its colon."""

    kind: SectionKind
    begin: int
    end: int
    heading_begin: int
    heading_end: int

    @property
    def name(self) -> str:
        return self.kind.name


# Text before the first heading: a note's preamble, or a note with no headings at all.
PREAMBLE = SectionKind("preamble")


class Sectionizer:
    def __init__(self, folder: Path | None = None):
        data = resources.load("sections.json", folder)
        self._kinds: dict[str, SectionKind] = {}
        for entry in resources.require(data, "sections", "sections.json"):
            kind = SectionKind(entry["name"], tuple(entry.get("traits", ())), entry.get("condition_kind"))
            for heading in entry["headings"]:
                self._kinds.setdefault(normalise(heading), kind)

    def kind(self, heading: str) -> SectionKind | None:
        return self._kinds.get(normalise(heading))

    def _headings(self, text: str) -> list[tuple[int, int, SectionKind]]:
        found: dict[int, tuple[int, int, SectionKind]] = {}
        for rx in (_LINE_HEAD, _INLINE_HEAD):
            for m in rx.finditer(text):
                kind = self._kinds.get(normalise(m.group("head")))
                if kind is not None:
                    found[m.start("head")] = (m.start("head"), m.end("colon"), kind)
        return [found[k] for k in sorted(found)]

    def __call__(self, text: str) -> list[Section]:
        """The note's sections in order, covering it from the first heading on (a preamble before it)."""
        heads = self._headings(text)
        sections: list[Section] = []
        if not heads or heads[0][0] > 0:
            first = heads[0][0] if heads else len(text)
            sections.append(Section(PREAMBLE, 0, first, 0, 0))
        for i, (hb, he, kind) in enumerate(heads):
            end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
            sections.append(Section(kind, hb, end, hb, he))
        return sections

