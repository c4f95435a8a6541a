"""Character spans, word tokens and phrase lookup: the primitives every rule layer shares.

Offsets are 0-based code-point offsets into the original input (Python ``str`` indices), end
exclusive, so ``text[span.begin:span.end] == span.text`` always holds. Nothing here rewrites the
input: a lower-cased copy is matched only when lower-casing keeps every offset (``regex.fold``;
'İ' becomes two code points), and otherwise each token key is folded on its own.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Generic, TypeVar

# Runs of letters/digits/underscore are words; every other visible character is a token alone.
# Phrases in the data files are cut the same way, so "b.i.d.", "h/o" and "x-ray" match as written.
TOKEN_RE = re.compile(r"\w+|[^\w\s]")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of the input: ``text == input[begin:end]``, plus what a detector says it is."""

    begin: int
    end: int
    text: str
    category: str = ""
    type: str = ""
    score: float = 1.0
    source: str = "rules"
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, text: str, begin: int, end: int, **kw) -> Span:
        return cls(begin, end, text[begin:end], **kw)

    def overlaps(self, other: Span | tuple[int, int]) -> bool:
        b, e = (other.begin, other.end) if isinstance(other, Span) else other
        return self.begin < e and b < self.end

    def within(self, begin: int, end: int) -> bool:
        return begin <= self.begin and self.end <= end

    def with_(self, **kw) -> Span:
        return replace(self, **kw)


def key(token: str) -> str:
    """How a token is compared: case-insensitive, typographic apostrophe read as ASCII."""
    return token.lower().replace("\u2019", "'")


@dataclass(slots=True)
class Tokens:
    """The words of one text with their character offsets, cut once and shared by every layer."""

    text: str
    starts: list[int]
    ends: list[int]
    keys: list[str]

    @classmethod
    def of(cls, text: str, folded: str | None = None) -> Tokens:
        """Tokens of ``text``; ``folded`` is its lower-cased twin (``regex.fold``) when offsets agree."""
        matches = list(TOKEN_RE.finditer(folded if folded is not None else text))
        starts = [m.start() for m in matches]
        ends = [m.end() for m in matches]
        keys = [m.group() for m in matches] if folded is not None else [key(m.group()) for m in matches]
        return cls(text, starts, ends, keys)

    def __len__(self) -> int:
        return len(self.starts)

    def word(self, i: int) -> str:
        return self.text[self.starts[i]:self.ends[i]]

    def range(self, begin: int, end: int) -> tuple[int, int]:
        """Token indices ``[lo, hi)`` of the tokens that overlap characters ``[begin, end)``."""
        return bisect_right(self.ends, begin), bisect_left(self.starts, end)


_SLOT = re.compile(r"\(([^()]*)\)(\?)?|[^\s()]+")


def expand(phrase: str) -> list[str]:
    """All spellings of a data-file phrase: ``(a|b)`` is one of the alternatives, ``(a|b)?`` may be absent."""
    slots: list[list[str]] = []
    for m in _SLOT.finditer(phrase):
        if m.group(1) is None:
            slots.append([m.group(0)])
        else:
            options = [o.strip() for o in m.group(1).split("|")]
            slots.append(options + [""] if m.group(2) else options)
    out: list[str] = []
    for combo in product(*slots):
        spelled = " ".join(p for p in combo if p)
        if spelled and spelled not in out:
            out.append(spelled)
    return out


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    lo: int  # first token
    hi: int  # one past the last token
    begin: int  # characters
    end: int
    payload: T


class PhraseMatcher(Generic[T]):
    """Finds lexicon phrases as whole-token sequences; at each position the longest phrase wins.

    A phrase added with ``exact=True`` matches only as written (case included): short capitalised
    abbreviations such as "MI" or "PT" that are ordinary words in lower case.
    """

    def __init__(self) -> None:
        # first token -> phrase length -> token keys -> [(exact words or None, payload)] in insertion order.
        # Looked up by length, not scanned: ConText's "no" starts hundreds of phrases, and scanning them
        # at every "no" was 40 % of the rule pipeline's time.
        self._index: dict[str, dict[int, dict[tuple[str, ...], list[tuple[list[str] | None, T]]]]] = {}
        self._lengths: dict[str, list[int]] = {}  # first token -> phrase lengths, longest first
        self.longest = 0

    def add(self, phrase: str, payload: T, *, exact: bool = False) -> None:
        words = TOKEN_RE.findall(phrase)
        if not words:
            return
        keys = tuple(key(w) for w in words)
        by_length = self._index.setdefault(keys[0], {})
        by_length.setdefault(len(keys), {}).setdefault(keys, []).append((words if exact else None, payload))
        self._lengths[keys[0]] = sorted(by_length, reverse=True)
        self.longest = max(self.longest, len(keys))

    def add_all(self, phrases: Iterable[str], payload: T, *, exact: bool = False) -> None:
        for phrase in phrases:
            for spelled in expand(phrase):
                self.add(spelled, payload, exact=exact)

    def __len__(self) -> int:
        return sum(len(e) for by_length in self._index.values() for table in by_length.values() for e in table.values())

    def finditer(self, tokens: Tokens, lo: int = 0, hi: int | None = None) -> Iterator[Match[T]]:
        """Non-overlapping matches from left to right within token range ``[lo, hi)``."""
        hi = len(tokens) if hi is None else hi
        keys, index, lengths = tokens.keys, self._index, self._lengths
        # Most tokens start no phrase: find the few that may in one comprehension, not one Python step each.
        starts = [i for i in range(lo, hi) if keys[i] in index]
        free = lo  # first token not inside the previous match
        for i in starts:
            if i < free:
                continue
            by_length = index[keys[i]]
            found = None
            for n in lengths[keys[i]]:  # longest first
                if i + n > hi:
                    continue
                for words, payload in by_length[n].get(tuple(keys[i:i + n]), ()):
                    if words is None or all(tokens.word(i + j) == w for j, w in enumerate(words)):
                        found = (n, payload)
                        break
                if found:
                    break
            if found:
                n, payload = found
                yield Match(i, i + n, tokens.starts[i], tokens.ends[i + n - 1], payload)
                free = i + n


def drop_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Keep the longest of overlapping spans (earliest on ties), in text order. O(n log n): notes can be long."""
    begins: list[int] = []
    kept: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.begin - s.end, s.begin)):
        i = bisect_left(begins, s.begin)
        if i > 0 and kept[i - 1].end > s.begin:
            continue
        if i < len(kept) and kept[i].begin < s.end:
            continue
        begins.insert(i, s.begin)
        kept.insert(i, s)
    return kept


class Overlapping:
    """Some spans, asked which of them touch a range: O(log n + k) per question, for notes of any length."""

    def __init__(self, spans: Iterable[Span]):
        self._spans = sorted(spans, key=lambda s: s.begin)
        self._begins = [s.begin for s in self._spans]
        self._longest = max((s.end - s.begin for s in self._spans), default=0)

    def __call__(self, begin: int, end: int) -> list[Span]:
        lo = bisect_left(self._begins, begin - self._longest)
        hi = bisect_left(self._begins, end)
        return [s for s in self._spans[lo:hi] if s.end > begin]


class Occupied:
    """The union of some spans, asked whether a range touches it: O(log n) per question."""

    def __init__(self, spans: Iterable[Span | tuple[int, int]]):
        merged: list[list[int]] = []
        for b, e in sorted((s.begin, s.end) if isinstance(s, Span) else s for s in spans):
            if merged and b < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([b, e])
        self._begins = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def hits(self, begin: int, end: int) -> bool:
        i = bisect_left(self._begins, end) - 1
        return i >= 0 and self._ends[i] > begin

    def covers(self, begin: int, end: int) -> bool:
        """Whether ``[begin, end)`` lies wholly inside the union."""
        i = bisect_right(self._begins, begin) - 1
        return i >= 0 and self._ends[i] >= end
