"""Sentence boundaries for clinical text, where line breaks matter as much as periods.

Notes break lines for lists ("1. Furosemide 40 mg PO daily"), labels ("BP: 120/80") and wrapping
("...diabetes mellitus and\\nhypertension"), and use periods inside abbreviations ("b.i.d.", "Dr.").
A sentence ends at a period, '?' or '!' followed by space and a word that is not lower case (unless
the word before is a known abbreviation or a list number), at a blank line, and at a line break
unless the text plainly runs on (next line lower case after a line long enough to have been wrapped,
or the line ends with "and", ",", ...); a line that ends with a full stop (not an abbreviation's)
always ends its sentence.
"""

from __future__ import annotations

import re
from pathlib import Path

from bedside.clinical import resources

_LINE = re.compile(r"[^\r\n]+")
_BREAK = re.compile(r"\r\n|\r|\n")
_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|\Z)")
_NEXT = re.compile(r"\s*(\S)")
_PREV_WORD = re.compile(r"(\S*)$")
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*•·>]|\d{1,3}[.)]|\(\d{1,3}\)|[A-Za-z][.)])[ \t]")
_LABEL = re.compile(r"[ \t]*[A-Z][A-Za-z0-9 /&()'-]{0,30}:(?:\s|$)")
_LAST_WORD = re.compile(r"([\w/]+)\W*$")
# A line this short was not cut by wrapping: it is a list item or a note's fragment ("family with
# difficulty coping\n acidosis rx with bicarb" had given the acidosis the family's trait).
_SHORT_LINE = 40


class SentenceSplitter:
    def __init__(self, folder: Path | None = None):
        data = resources.load("sentences.json", folder)
        self._no_split = frozenset(w.lower() for w in data.get("no_split_after", ()))
        self._continue_words = frozenset(w.lower() for w in data.get("continuation_words", ()))
        self._continue_chars = str(data.get("continuation_chars", ""))

    def __call__(self, text: str, begin: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """Sentences of ``text[begin:end]`` as ``(begin, end)`` offsets, trimmed of surrounding space."""
        end = len(text) if end is None else end
        cuts = self._line_cuts(text, begin, end)
        for m in _END.finditer(text, begin, end):
            if self._ends_sentence(text, m, end):
                cuts.append(m.end())
        out: list[tuple[int, int]] = []
        start = begin
        for cut in sorted(set(cuts)) + [end]:
            if cut <= start:
                continue
            chunk = text[start:cut]
            stripped = chunk.strip()
            if stripped:
                b = start + (len(chunk) - len(chunk.lstrip()))
                out.append((b, b + len(stripped)))
            start = cut
        return out

    def _line_cuts(self, text: str, begin: int, end: int) -> list[int]:
        cuts: list[int] = []
        prev: tuple[int, int] | None = None
        for m in _LINE.finditer(text, begin, end):
            line = m.group()
            if not line.strip():
                continue
            if prev is not None:
                gap = text[prev[1]:m.start()]
                if len(_BREAK.findall(gap)) > 1 or self._breaks(text[prev[0]:prev[1]], line):
                    cuts.append(prev[1])
            prev = (m.start(), m.end())
        return cuts

    def _breaks(self, prev: str, line: str) -> bool:
        """Whether a line break between ``prev`` and ``line`` ends a sentence."""
        prev = prev.rstrip()
        if _LIST_MARKER.match(line) or _LABEL.match(line) or prev.endswith(":"):
            return True
        last = _LAST_WORD.search(prev)
        word = last.group(1).lower() if last else ""
        # A full stop at the end of a line ends the sentence even before a lower-case line ("No UTIs.\nfever
        # occasionally, ..." had carried the negation over); not after an abbreviation ("Dr.\nsmith").
        if prev[-1:] in ".?!" and not (prev.endswith(".") and word in self._no_split):
            return True
        first = line.lstrip()[:1]
        if prev[-1:] in self._continue_chars or word in self._continue_words:
            return False
        abbreviation = prev.endswith(".") and word in self._no_split  # "Seen by Dr.\nsmith"
        if first.islower():
            return len(prev.strip()) <= _SHORT_LINE and not abbreviation
        return last is None or not abbreviation

    def _ends_sentence(self, text: str, m: re.Match[str], end: int) -> bool:
        nxt = _NEXT.match(text, m.end(), end)
        if nxt is None or "?" in m.group() or "!" in m.group():
            return True
        if nxt.group(1).islower():
            return False
        lo = max(0, m.start() - 40)  # a bounded look back: a note may be one 5 MB line
        before = text[lo:m.start()]
        word = _PREV_WORD.search(before).group(1)
        if word.lstrip("([{\"'").lower() in self._no_split:
            return False
        if not word.isdigit():
            return True
        # "1. Furosemide ...": a list number at the start of its line, not a sentence end.
        head = before[:len(before) - len(word)]
        nl = max(head.rfind("\n"), head.rfind("\r"))
        at_line_start = (nl >= 0 or lo == 0) and not head[nl + 1:].strip()
        return not at_line_start
