"""Entities from term lists (``medications.json``, ``tests.json``, ``conditions.json``, ``anatomy.json``).

Each file holds groups of terms sharing a category, type and score. All files given to one
:class:`Lexicon` share a matcher, so the longest term wins across them ("chest x-ray" over "chest",
"potassium chloride" over "potassium"). A term listed twice is a data error, reported at load.

A file may also hold ``suffixes``: word endings that name a kind of entity whatever the stem
("orchiectomy", "arthrodesis", "cystogram"): no list of procedures is ever complete, and their
endings are regular. A word that a listed term already covers keeps the term. A group with no
category lists phrases that are no entity but hold a term's words ("on the other hand"). A
``retype_only`` suffix group only re-reads a detector's one-word span ("ureterocele" tagged as a drug).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.spans import TOKEN_RE, Match, PhraseMatcher, Span, key
from bedside.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Suffixes:
    endings: tuple[str, ...]
    not_words: frozenset[str]  # words with the ending that are no such entity ("program", "biography")
    min_length: int
    term: Term
    retype_only: bool = False  # re-reads a detector's span (lookup), never finds a new one


@dataclass(frozen=True, slots=True)
class Term:
    category: str
    type: str
    score: float
    canonical: str | None = None  # generic name of a brand, full name of an abbreviation
    kind: str | None = None  # DIAGNOSIS / SIGN / SYMPTOM for conditions
    requires_value: bool = False  # a lab name that counts only with a value after it
    by_suffix: bool = False  # known by its ending only ("orchiectomy"), not listed
    over_chemical: bool = False  # a test or panel, never a substance: it wins over a model's MEDICATION ("BMP")
    traits: tuple[str, ...] = ()  # traits the word carries inside itself ("afebrile": NEGATION)


def _terms(raw: object, where: str) -> Iterator[tuple[str, str | None]]:
    if isinstance(raw, dict):
        yield from raw.items()
    elif isinstance(raw, list):
        yield from ((t, None) for t in raw)
    else:
        raise ConfigError(f"{where}: 'terms' must be a list or an object")


class Lexicon:
    def __init__(self, files: Sequence[str], folder: Path | None = None):
        self.matcher: PhraseMatcher[Term] = PhraseMatcher()
        self.suffixes: list[Suffixes] = []
        seen: dict[tuple[tuple[str, ...], bool], str] = {}
        capitals: list[tuple[str, Term]] = []
        for name in files:
            data = resources.load(name, folder)
            for group in resources.require(data, "groups", name):
                exact = bool(group.get("exact", False))
                for term, canonical in _terms(group.get("terms"), name):
                    k = (tuple(t if exact else key(t) for t in TOKEN_RE.findall(term)), exact)
                    if k in seen:
                        raise ConfigError(f"{name}: term '{term}' is listed twice (also in {seen[k]})")
                    seen[k] = name
                    # a group without a category holds phrases that are no entity and hide the terms inside
                    # them ("on the other hand" is no body part)
                    payload = Term(group.get("category") or "", group.get("type") or "",
                                   float(group.get("score", 0.85)), canonical,
                                   group.get("kind"), bool(group.get("requires_value", False)),
                                   over_chemical=bool(group.get("over_chemical", False)),
                                   traits=tuple(group.get("traits", ())))
                    self.matcher.add(term, payload, exact=exact)
                    letters = sum(c.isalpha() for c in term)
                    if exact and term.upper() != term and (letters >= 3 or payload.requires_value):
                        capitals.append((term.upper(), payload))
            for i, raw in enumerate(data.get("suffixes", ())):
                where = f"{name} suffixes {i + 1}"
                endings = tuple(e.lower() for e in resources.require(raw, "endings", where))
                if not endings or not all(e.isalpha() for e in endings):
                    raise ConfigError(f"{where}: 'endings' must be a non-empty list of letters-only endings")
                term = Term(raw["category"], raw["type"], float(raw.get("score", 0.7)), by_suffix=True)
                self.suffixes.append(Suffixes(endings, frozenset(w.lower() for w in raw.get("not", ())),
                                              int(raw.get("min_length", 0)), term, bool(raw.get("retype_only", False))))
        # an abbreviation written in mixed case ("AFib", "Hgb") in a note typed in capitals ("AFIB"), unless
        # a list names the capitals itself ("TPA"); two letters mean other things in capitals ("Na" / "NA",
        # not applicable) unless the term needs a value after it ("NA 134", a lab)
        for upper, payload in capitals:
            k = (tuple(TOKEN_RE.findall(upper)), True)
            if k not in seen:
                seen[k] = "capitals"
                self.matcher.add(upper, payload, exact=True)
        self._finding = [g for g in self.suffixes if not g.retype_only]
        self._endings = tuple(e for g in self._finding for e in g.endings)

    def matches(self, doc: Doc, begin: int, end: int) -> Iterator[Match[Term]]:
        lo, hi = doc.tokens.range(begin, end)
        return self.matcher.finditer(doc.tokens, lo, hi)

    def find(self, doc: Doc) -> list[Span]:
        """Every term in the note's sentences (never in a heading), as entity spans."""
        matches = list(self.matcher.finditer(doc.tokens))
        if self._finding:
            matches = sorted(matches + self._by_suffix(doc, matches), key=lambda m: m.begin)
        return [to_span(doc.text, m) for m in matches if m.payload.category and doc.within_sentence(m.begin, m.end)]

    def _by_suffix(self, doc: Doc, matches: list[Match[Term]]) -> list[Match[Term]]:
        tokens = doc.tokens
        covered = {i for m in matches for i in range(m.lo, m.hi)}
        endings = self._endings
        # one pass in C over every word (a note has thousands), then the few hits are checked in full
        hits = [i for i, k in enumerate(tokens.keys) if k.endswith(endings) and i not in covered]
        out: list[Match[Term]] = []
        for i in hits:
            group = _suffix_group(self._finding, tokens.keys[i])
            if group is not None:
                out.append(Match(i, i + 1, tokens.starts[i], tokens.ends[i], group.term))
        return out

    def lookup(self, doc: Doc, span: Span) -> Term | None:
        """The term that is exactly ``span``, if any (to type a span another detector found)."""
        for m in self.matches(doc, span.begin, span.end):
            if m.begin == span.begin and m.end == span.end:
                return m.payload if m.payload.category else None
        lo, hi = doc.tokens.range(span.begin, span.end)
        if hi == lo + 1 and (doc.tokens.starts[lo], doc.tokens.ends[lo]) == (span.begin, span.end):
            group = _suffix_group(self.suffixes, doc.tokens.keys[lo])
            if group is not None:
                return group.term
        return None


def _suffix_group(groups: list[Suffixes], k: str) -> Suffixes | None:
    """The first group whose ending makes the word ``k`` (a token key) one of its entities."""
    return next((g for g in groups if k.endswith(g.endings) and len(k) >= g.min_length and k.isalpha()
                 and k not in g.not_words), None)


def to_span(text: str, m: Match[Term]) -> Span:
    t = m.payload
    meta = {k: v for k, v in (("canonical", t.canonical), ("kind", t.kind)) if v}
    if t.requires_value:
        meta["requires_value"] = True
    if t.traits:
        meta["traits"] = t.traits
    return Span.of(text, m.begin, m.end, category=t.category, type=t.type, score=t.score, source="lexicon", meta=meta)


class Salts:
    """Salt and ester words after a medication name are part of it ("docusate sodium 100 mg PO BID"):
    otherwise "sodium 100 mg" reads as a lab value and the dose is lost to the medication. The words
    are ``medications.json``'s ``salts``."""

    def __init__(self, folder: Path | None = None):
        data = resources.require(resources.load("medications.json", folder), "salts", "medications.json")
        words = sorted((re.escape(w) for w in resources.require(data, "words", "medications.json salts")),
                       key=len, reverse=True)
        self._after = re.compile(rf"(?:[ \t]+(?:{'|'.join(words)})\b){{1,2}}", re.I)

    def extend(
        self, doc: Doc, spans: list[Span], medication: str, starts: set[int],
    ) -> tuple[list[Span], list[tuple[int, int]]]:
        """``spans`` with each ``medication`` span grown over the salt words right after it, and the
        grown parts (other spans inside them give way). A salt word that begins another medication
        term (``starts``: "aspirin potassium chloride") stays out."""
        out, grown = [], []
        for s in spans:
            m = self._after.match(doc.text, s.end) if s.category == medication else None
            if m is None or not doc.within_sentence(s.begin, m.end()):
                out.append(s)
                continue
            end = m.end()
            for word in re.finditer(r"\S+", doc.text[s.end:m.end()]):
                if s.end + word.start() in starts:
                    end = s.end + word.start()
                    break
            end = s.end + len(doc.text[s.end:end].rstrip())  # not text[:end]: a copy of the note per drug
            if end > s.end:
                grown.append((s.end, end))
                s = s.with_(end=end, text=doc.text[s.begin:end])
            out.append(s)
        return out, grown
