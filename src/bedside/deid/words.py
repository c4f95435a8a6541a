"""Word tokens and cue phrases shared by the name and place detectors.

A word is a run of letters with inner hyphens or apostrophes ("Forman-Lyons", "Mary's", "O'Brien"),
optionally followed by digits ("Quartermain2"); digits and single punctuation marks are tokens of
their own. Cue phrases from ``resources/deid/cues.json`` are cut the same way, so "spoke w/"
matches the tokens ``spoke``, ``w``, ``/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*\d*|\d+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Tok:
    begin: int
    end: int
    text: str
    key: str  # lower case, typographic apostrophe as ASCII

    @property
    def alpha(self) -> bool:
        return self.text[0].isalpha()

    @property
    def base(self) -> str:
        """The key without a possessive "'s"."""
        return self.key[:-2] if self.key.endswith("'s") and len(self.key) > 3 else self.key


def tokenize(text: str) -> list[Tok]:
    return [Tok(m.start(), m.end(), m.group(), m.group().lower().replace("\u2019", "'")) for m in _TOKEN.finditer(text)]


class Phrases:
    """Multi-word phrases looked up by their first token; the longest match wins."""

    def __init__(self, phrases: list[str]):
        self.index: dict[str, list[tuple[str, ...]]] = {}
        for p in phrases:
            keys = tuple(t.key for t in tokenize(p))
            if keys:
                self.index.setdefault(keys[0], []).append(keys)
        for bucket in self.index.values():
            bucket.sort(key=len, reverse=True)

    def match(self, toks: list[Tok], i: int) -> int:
        """Number of tokens of the longest phrase starting at ``toks[i]`` (0: none)."""
        for keys in self.index.get(toks[i].key, ()):
            n = len(keys)
            if i + n <= len(toks) and all(toks[i + j].key == keys[j] for j in range(n)):
                return n
        return 0

    def ends_at(self, toks: list[Tok], i: int) -> bool:
        """Whether some phrase ends with ``toks[i]`` (used for right-to-left checks)."""
        for start in range(max(0, i - 3), i + 1):
            if self.match(toks, start) == i - start + 1:
                return True
        return False


@cache
def cues() -> dict:
    return json.loads(resources.files("bedside").joinpath("resources/deid/cues.json").read_text(encoding="utf-8"))


def _upper_share(text: str) -> float | None:
    letters = [c for c in text[:20000] if c.isalpha()]
    if len(letters) < 20:
        return None
    return sum(c.isupper() for c in letters) / len(letters)


def mixed_case(text: str) -> bool:
    """Whether the note is written in ordinary case, so that capitals carry information."""
    upper = _upper_share(text)
    return upper is not None and 0.02 < upper < 0.5


def capitals_inform(text: str) -> bool:
    """Whether a capitalised word stands out: ordinary-case notes and lower-case ones ("resp- Arthur
    Peppler,MD" in a note typed without capitals), not all-capitals notes."""
    upper = _upper_share(text)
    return upper is not None and upper < 0.5


def proper_case(t: Tok) -> bool:
    """"Peppler", not "PEPPLER" or "peppler"."""
    return t.text[0].isupper() and t.text[1:].islower() and len(t.text) > 1


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return deletes | transposes | replaces | inserts


def _part(t: Tok, text: str) -> Tok:
    return Tok(t.begin, t.end, text, text.lower().replace("\u2019", "'"))


class Lexicon:
    """Word tests over a :class:`~bedside.deid.vocab.Vocabulary` plus the clinical terms of cues.json.

    Notes are full of misspellings ("tranplant", "supprotive"); a long word one edit away from an
    English or medical word is read as that word unless it is a known name.
    """

    TYPO_MIN = 7

    def __init__(self, vocab):
        self.v = vocab
        self.clinical = frozenset(cues()["clinical_terms"]["terms"])
        self.never = frozenset(cues()["never_names"])
        self._typo_cache: dict[str, bool] = {}

    def known(self, t: Tok) -> bool:
        return t.base in self.v.first_names or t.base in self.v.last_names

    def first_name(self, t: Tok) -> bool:
        return t.base in self.v.first_names

    def clinical_term(self, t: Tok) -> bool:
        return t.key in self.clinical or t.base in self.clinical

    def frequent(self, t: Tok) -> bool:
        if "-" in t.base and all(t.text.split("-")):
            return all(self.frequent(_part(t, p)) for p in t.text.split("-"))
        return t.base in self.v.frequent_words or self.clinical_term(t) or t.base in self.v.medical_words

    def english(self, t: Tok, proper: bool = False) -> bool:
        """An English, medical or clinical word (or a misspelling of one) rather than a proper name.

        ``proper``: the word is capitalised inside a sentence of ordinary-case text, so it is not read
        as a misspelling ("Peppler" is not "pepper").
        """
        w = t.base
        if self.v.is_common(w) or self.v.is_common(t.key) or self.clinical_term(t) or self.inflected(w):
            return True
        if "-" in w:  # "CALLED-UPDATE", "phoned-family": words glued by a hyphen are words
            parts = t.text.split("-")
            if all(parts):
                return all(self.english(_part(t, p), proper) for p in parts)
        if proper or len(w) < self.TYPO_MIN or self.known(t) or w in self.v.cities:
            return False
        if w not in self._typo_cache:
            near = self.v.frequent_words
            # a misspelling of a name is no English word ("Dominico" is near "dominic", a frequent word)
            self._typo_cache[w] = any((x in near and not self.v.is_name(x)) or x in self.v.medical_words
                                      or x in self.clinical for x in _edits1(w))
        return self._typo_cache[w]

    def inflected(self, w: str) -> bool:
        """Plurals and verb forms, which Webster's list keeps only as stems ("weeks", "placed", "bringing")."""
        for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                             ("ly", ""), ("'s", "")):
            if w.endswith(suffix) and len(w) > len(suffix) + 1 and self.v.is_common(w[: -len(suffix)] + repl):
                return True
        return False

    def wordlike(self, t: Tok) -> bool:
        return t.alpha and t.base not in self.never and t.key not in self.never \
            and not any(ch.isdigit() for ch in t.text)
