"""Words of a mention or a code description, normalised the same way for both.

A text becomes a list of stemmed terms, each with a kind: NORMAL, PAREN (a nonessential modifier the
tabular list writes in parentheses or brackets: "Essential (primary) hypertension") or FILLER (a phrase
that states the default case: "unspecified", "site not specified"). The kinds matter for scoring: a
description is barely penalised for modifiers and filler the mention lacks. Mentions additionally get
their abbreviations expanded ("CHF" -> "congestive heart failure"). All word knowledge lives in
``bedside/resources/coding/*.json``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import snowballstemmer

from bedside.errors import ConfigError
from bedside.textio import read_json_object

PACKAGE_DIR = "resources/coding"
FILES = ("abbreviations.json", "vocabulary.json")

_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_PAREN_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


class Kind(IntEnum):
    FILLER = 0
    PAREN = 1
    NORMAL = 2


@dataclass(frozen=True, slots=True)
class Term:
    stem: str
    kind: Kind


def default_dir() -> Path:
    return Path(str(resources.files("bedside").joinpath(PACKAGE_DIR)))


def fold(text: str) -> str:
    """Accents off ("Sjögren" -> "Sjogren"); case kept for the case-sensitive abbreviations."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    # Snowball cuts "-itis" to the organ's stem ("esophagitis" -> "esophag", as "esophageal"; "sinusitis"
    # -> "sinus"): an inflammation is not its organ, so these words are kept whole.
    if word.endswith("itis"):
        return word
    return _STEMMER.stemWord(word)


def _words(folded: str) -> list[tuple[str, int]]:
    return [(m.group(), m.start()) for m in _WORD_RE.finditer(folded)]


def _key(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w, _ in _words(fold(text)))


def _read(folder: Path, name: str) -> tuple[dict[str, Any], bytes]:
    return read_json_object(folder / name, "ICD-10-CM linker file")


def _table(data: dict[str, Any], field: str, where: str, case: bool = False) -> dict[tuple[str, ...], tuple[str, ...]]:
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    table = data.get(field) or {}
    if not isinstance(table, dict) or not all(isinstance(x, str) for kv in table.items() for x in kv):
        raise ConfigError(f"{where}: '{field}' must be an object of text -> text")
    for key, value in table.items():
        k = tuple(w for w, _ in _words(fold(key))) if case else _key(key)
        v = _key(value)
        if not k or not v:
            raise ConfigError(f"{where}: '{field}' entry {key!r} -> {value!r} has no words")
        if k in out:
            raise ConfigError(f"{where}: '{field}' lists {key!r} twice (after ignoring case and punctuation)")
        out[k] = v
    return out


def _alone(data: dict[str, Any], where: str, stopwords: frozenset[str]) -> dict[tuple[str, ...], str | None]:
    """The 'alone' table keyed like ``Vocabulary.alone_text`` looks it up: lower-case words, stopwords aside."""
    table = data.get("alone") or {}
    if not isinstance(table, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                              for k, v in table.items()):
        raise ConfigError(f"{where}: 'alone' must be an object of text -> text or null")
    return {tuple(w for w in _key(k) if w not in stopwords): v for k, v in table.items() if not k.startswith("_")}


def _defaults(raw: Any, where: str) -> tuple[tuple[frozenset[str], frozenset[str], str], ...]:
    out = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("when") or not isinstance(item.get("add"), str):
            raise ConfigError(f"{where}: each 'defaults' entry needs 'when' (words) and 'add' (text)")
        out.append((frozenset(w.lower() for w in item["when"]), frozenset(w.lower() for w in item.get("unless", ())),
                    item["add"]))
    return tuple(out)


@dataclass(frozen=True)
class Vocabulary:
    stopwords: frozenset[str]
    filler: dict[str, tuple[tuple[str, ...], ...]]  # first word -> phrases, longest first
    site: frozenset[str]  # stems
    marked: frozenset[str]  # stems that narrow a code to a population or circumstance ("pregnancy", "newborn")
    defaults: tuple[tuple[frozenset[str], frozenset[str], str], ...]  # (when, unless, add): see vocabulary.json
    phrases: dict[tuple[str, ...], tuple[str, ...]]  # lower-case keys; mentions and descriptions alike
    respell_patterns: tuple[tuple[re.Pattern[str], str], ...]
    respell: dict[str, tuple[str, ...]]
    synonyms: dict[str, frozenset[str]]  # stem -> the stems that may stand for it (itself included)
    abbreviations: dict[tuple[str, ...], tuple[str, ...]]  # lower-case keys
    exact: dict[tuple[str, ...], tuple[str, ...]]  # case-sensitive keys
    never: tuple[str, ...]  # code prefixes the linker never returns ("Y93": activities, no condition)
    alone: dict[tuple[str, ...], str | None]  # a whole mention -> the text to link instead (None: no code)
    digest: str  # sha256 of the files: part of the index cache key, since filler and stems shape the index
    _respelled: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, folder: Path | None = None) -> Vocabulary:
        folder = folder or default_dir()
        abbr, raw_a = _read(folder, FILES[0])
        vocab, raw_v = _read(folder, FILES[1])
        where = str(folder / FILES[1])
        respell = {k.lower(): _key(v) for k, v in (vocab.get("respell") or {}).items()}
        try:
            patterns = tuple((re.compile(p), r) for p, r in vocab.get("respell_patterns") or [])
        except (re.error, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: 'respell_patterns' must be [regex, replacement] pairs: {exc}") from None
        synonyms: dict[str, set[str]] = {}
        for group in vocab.get("synonyms") or []:
            if not isinstance(group, list) or len(group) < 2:
                raise ConfigError(f"{where}: each synonym group must be a list of two or more words")
            stems = {stem(w.lower()) for w in group}
            for s in stems:
                synonyms.setdefault(s, {s}).update(stems)
        filler: dict[str, list[tuple[str, ...]]] = {}
        for phrase in sorted({_key(p) for p in vocab.get("filler") or []} - {()}, key=len, reverse=True):
            filler.setdefault(phrase[0], []).append(phrase)
        stopwords = frozenset(w.lower() for w in vocab.get("stopwords") or [])
        return cls(
            stopwords=stopwords,
            filler={w: tuple(p) for w, p in filler.items()},
            site=frozenset(stem(w.lower()) for w in vocab.get("site") or []),
            marked=frozenset(stem(w.lower()) for w in vocab.get("marked") or []),
            defaults=_defaults(vocab.get("defaults") or [], where),
            phrases=_table(vocab, "phrases", where),
            respell_patterns=patterns,
            respell=respell,
            synonyms={s: frozenset(alts) for s, alts in synonyms.items()},
            abbreviations=_table(abbr, "terms", str(folder / FILES[0])),
            exact=_table(abbr, "exact", str(folder / FILES[0]), case=True),
            never=tuple(str(c).upper() for c in vocab.get("never_link") or []),
            alone=_alone(abbr, str(folder / FILES[0]), stopwords),
            digest=hashlib.sha256(raw_a + b"\0" + raw_v).hexdigest(),
        )

    def alone_text(self, mention: str) -> str | None:
        """What to link for ``mention``: its replacement when the whole mention, stopwords aside, is in the
        'alone' table ("necrosis" -> "gangrene"), None when that says it has no code ("a hypodense lesion"),
        else the mention."""
        return self.alone.get(tuple(w for w in _key(mention) if w not in self.stopwords), mention)

    def with_defaults(self, mention: str, beside: str = "") -> str:
        """The mention with the words a coding default adds ("diabetes mellitus" -> "... type 2").

        ``beside``: words said with it (the condition, for its site) that can rule a default out."""
        words = {w.lower() for w, _ in _words(fold(mention))}
        near = words | {w.lower() for w, _ in _words(fold(beside))} if beside else words
        for when, unless, add in self.defaults:
            if words & when and not near & unless:
                mention = f"{mention} {add}"
        return mention

    def terms(self, text: str, *, mention: bool = False) -> list[Term]:
        """The distinct terms of ``text`` in order, each with its strongest kind.

        ``mention``: the text is a mention, not a code description: its abbreviations are expanded, and
        its parentheses mean nothing special (in the tabular list they enclose nonessential modifiers).
        """
        folded = fold(text)
        words = _words(folded)
        has_parens = not mention and ("(" in folded or "[" in folded)
        parens = [m.span() for m in _PAREN_RE.finditer(folded)] if has_parens else []
        tokens: list[tuple[str, Kind]] = []
        i = 0
        while i < len(words):
            word, start = words[i]
            kind = Kind.PAREN if parens and any(a <= start < b for a, b in parens) else Kind.NORMAL
            n, repl = self._rewrite(words, i, mention)
            if n:
                tokens.extend((w, kind) for w in repl)
                i += n
                continue
            tokens.extend((w, kind) for w in self._respell(word.lower()))
            i += 1
        kinds = self._mark_filler(tokens)
        best: dict[str, Kind] = {}
        for (word, _), kind in zip(tokens, kinds, strict=True):
            if word in self.stopwords:
                continue
            s = stem(word)
            if s not in best or kind > best[s]:
                best[s] = kind
        return [Term(s, k) for s, k in best.items()]

    def _respell(self, word: str) -> tuple[str, ...]:
        out = self._respelled.get(word)
        if out is None:
            spelled = word
            for pattern, replacement in self.respell_patterns:
                spelled = pattern.sub(replacement, spelled)
            out = self.respell.get(spelled, (spelled,))
            if len(self._respelled) > 200_000:  # mentions bring new words forever; keep the cache bounded
                self._respelled.clear()
            self._respelled[word] = out
        return out

    def _rewrite(self, words: list[tuple[str, int]], i: int, mention: bool) -> tuple[int, tuple[str, ...]]:
        """The longest abbreviation (mentions only) or phrase starting at word ``i``: (its length, its words)."""
        for n in range(min(4, len(words) - i), 0, -1):
            raw = tuple(w for w, _ in words[i : i + n])
            if mention and raw in self.exact:
                return n, self.exact[raw]
            lower = tuple(w.lower() for w in raw)
            if mention and lower in self.abbreviations:
                return n, self.abbreviations[lower]
            if lower in self.phrases:
                return n, self.phrases[lower]
        return 0, ()

    def _mark_filler(self, tokens: list[tuple[str, Kind]]) -> list[Kind]:
        kinds = [k for _, k in tokens]
        words = [w for w, _ in tokens]
        i = 0
        while i < len(words):
            for phrase in self.filler.get(words[i], ()):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    kinds[i : i + len(phrase)] = [Kind.FILLER] * len(phrase)
                    i += len(phrase) - 1
                    break
            i += 1
        return kinds
