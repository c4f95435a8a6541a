"""One note analysed once: tokens, sections and sentences, with offset lookups the rule layers share."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from bedside.clinical.regex import fold
from bedside.clinical.sections import Section, Sectionizer
from bedside.clinical.sentences import SentenceSplitter
from bedside.clinical.spans import Tokens


@dataclass
class Doc:
    text: str
    tokens: Tokens
    sections: list[Section]
    sentences: list[tuple[int, int]]  # never crossing a section; headings are in none
    folded: str | None = None  # lower-cased twin of text for case-free regexes (regex.fold)
    _section_begins: list[int] = field(init=False, repr=False)
    _sentence_begins: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._section_begins = [s.begin for s in self.sections]
        self._sentence_begins = [b for b, _ in self.sentences]

    def section(self, offset: int) -> Section | None:
        i = bisect_right(self._section_begins, offset) - 1
        return self.sections[i] if i >= 0 else None

    def sentence(self, offset: int) -> int | None:
        """Index of the sentence holding character ``offset``, or None (a heading, blank space)."""
        i = bisect_right(self._sentence_begins, offset) - 1
        if i >= 0 and offset < self.sentences[i][1]:
            return i
        return None

    def within_sentence(self, begin: int, end: int) -> bool:
        """Whether ``[begin, end)`` lies inside one sentence (so not in a heading, not across a boundary)."""
        i = self.sentence(begin)
        return i is not None and end <= self.sentences[i][1]

    def sentence_tokens(self, i: int) -> tuple[int, int]:
        return self.tokens.range(*self.sentences[i])

    def in_heading(self, begin: int, end: int) -> bool:
        s = self.section(begin)
        return s is not None and begin < s.heading_end and s.heading_begin < end


class Analyzer:
    """Builds a :class:`Doc`: the rule layers never split or tokenise text themselves."""

    def __init__(self, folder: Path | None = None):
        self.sectionize = Sectionizer(folder)
        self.split = SentenceSplitter(folder)

    def __call__(self, text: str) -> Doc:
        sections = self.sectionize(text)
        sentences: list[tuple[int, int]] = []
        for s in sections:
            sentences += self.split(text, s.heading_end if s.heading_end > s.begin else s.begin, s.end)
        folded = fold(text)
        return Doc(text, Tokens.of(text, folded), sections, sentences, folded)
