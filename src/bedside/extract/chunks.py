"""Long notes in pieces whose offsets add back up exactly.

The span model and the LLM see bounded pieces (memory, context window); the rule layer still sees
the whole note so that sections keep their scope. A piece ends at a blank line, else a line break,
else a sentence end, else whitespace, so no entity is cut in two; only a run of non-space text
longer than the limit is ever split mid-word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_BREAKS = (re.compile(r"\n[ \t]*\n"), re.compile(r"\n"), re.compile(r"[.!?;][ \t]+"), re.compile(r"\s"))


def chunks(text: str, max_chars: int) -> Iterator[tuple[int, str]]:
    """(offset, piece) pairs covering ``text`` in order; ``text[offset:offset+len(piece)] == piece``."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    start, n = 0, len(text)
    while start < n:
        end = min(start + max_chars, n)
        if end < n:
            end = _cut(text, start, end)
        yield start, text[start:end]
        start = end


def _cut(text: str, start: int, end: int) -> int:
    """The last good break in text[start:end], preferring strong breaks in the second half."""
    floor = start + (end - start) // 2
    for pattern in _BREAKS:
        last = None
        for m in pattern.finditer(text, floor, end):
            last = m
        if last is not None:
            return last.end()
    return end
