"""A name or place found once with good evidence is PHI everywhere else in the same note.

"Mr. Masci" makes the bare "Masci" three lines later a name, and "transferred to GH" makes every
other "GH" a place. Only words that are no English or clinical words are spread (a "Dr. Small"
must not turn every "small" into a name), and only as whole words.
"""

from __future__ import annotations

import re

from bedside.deid.spans import PhiSpan
from bedside.deid.words import Lexicon, tokenize

_SPREAD = {"NAME", "LOCATION", "HOSPITAL"}


class Propagator:
    name = "propagate"

    def __init__(self, lexicon: Lexicon, *, min_score: float = 0.7):
        self.lex = lexicon
        self.min_score = min_score

    def __call__(self, text: str, spans: list[PhiSpan]) -> list[PhiSpan]:
        words: dict[str, tuple[str, float]] = {}
        for s in spans:
            if s.type not in _SPREAD or s.score < self.min_score:
                continue
            for t in tokenize(s.text):
                if t.alpha and len(t.base) > 1 and self.lex.wordlike(t) and not self.lex.english(t):
                    words.setdefault(t.base, (s.type, s.score))
        if not words:
            return []
        rx = re.compile(r"(?<![\w'-])(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                        + r")(?:'s)?(?!\w)", re.IGNORECASE)
        out = []
        for m in rx.finditer(text):
            kind, score = words[m.group(1).lower()]
            out.append(PhiSpan.of(text, m.start(1), m.end(1), kind, round(score * 0.9, 4), self.name))
        return out
