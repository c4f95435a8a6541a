"""A cheap "is this English?" check, so a Spanish or Russian note gets a warning, not silent misses.

The entity model and rules are English. Clinical English is terse (few function words), so the test
is relative: a note is flagged only when another language's function words clearly outnumber
English ones, or when most letters are outside the Latin script. Word lists live in
resources/clinical/languages.json.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bedside.clinical.resources import load

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_MIN_WORDS = 12


@lru_cache(maxsize=1)
def _lists() -> dict[str, frozenset[str]]:
    raw = load("languages.json")
    return {lang: frozenset(words) for lang, words in raw["function_words"].items()}


def language_warning(text: str) -> str | None:
    """A one-line warning when ``text`` does not look like English, else None."""
    words = _WORD.findall(text[:20000].lower())
    if len(words) < _MIN_WORDS:
        return None
    letters = "".join(words)
    latin = sum(1 for ch in letters if ch.isascii() or "\u00c0" <= ch <= "\u024f")
    if latin < 0.5 * len(letters):
        return "the note is mostly in a non-Latin script; bedside's models and rules are English-only"
    counts = {lang: sum(1 for w in words if w in vocab) for lang, vocab in _lists().items()}
    english = counts.pop("en", 0)
    lang, best = max(counts.items(), key=lambda kv: kv[1])
    if best >= 5 and best > 2 * english:
        return f"the note looks like '{lang}', not English; bedside's models and rules are English-only"
    return None
