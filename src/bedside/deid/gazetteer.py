"""A site's own list of PHI strings: local hospital and ward names, staff names, nearby towns.

General lists cannot know that "GH" or "Quartermain 2" is a place in one hospital's notes; a site
can. A gazetteer file is JSON ``{"entries": [{"text": "Quartermain", "type": "HOSPITAL"}, ...]}``;
entries match as whole words, case-insensitively. ``python -m bedside.deid.physionet`` writes one
from the training patients' gold spans, so its value can be measured on patients it never saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from bedside.deid.spans import TYPES, PhiSpan
from bedside.deid.words import Lexicon, Phrases, tokenize
from bedside.errors import InputError


class Gazetteer:
    name = "gazetteer"

    def __init__(self, entries: Iterable[tuple[str, str]], *, score: float = 0.8):
        self.types: dict[tuple[str, ...], str] = {}
        for text, kind in entries:
            keys = tuple(t.key for t in tokenize(text) if t.alpha or t.text.isdigit())
            if keys:
                self.types.setdefault(keys, kind if kind in TYPES else "ID")
        self.phrases = Phrases([" ".join(k) for k in self.types])
        self.score = score

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = [(e["text"], e.get("type", "NAME")) for e in data["entries"]]
        except FileNotFoundError:
            raise InputError(f"gazetteer not found: {path}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"gazetteer {path} is not JSON {{\"entries\": [{{\"text\", \"type\"}}]}}: {exc}") from None
        return cls(entries)

    def __len__(self) -> int:
        return len(self.types)

    def __call__(self, text: str) -> list[PhiSpan]:
        toks = [t for t in tokenize(text) if t.alpha or t.text.isdigit()]
        out = []
        i = 0
        while i < len(toks):
            k = self.phrases.match(toks, i)
            if k:
                kind = self.types.get(tuple(t.key for t in toks[i:i + k]), "NAME")
                out.append(PhiSpan.of(text, toks[i].begin, toks[i + k - 1].end, kind, self.score, self.name))
                i += k
            else:
                i += 1
        return out


def entries_from_gold(spans: Iterable[tuple[str, str]], lexicon: Lexicon) -> list[dict[str, str]]:
    """Gazetteer entries from gold (text, type) pairs: without words that are English or clinical on
    their own ("general", "heart"), which would mark every use of the word; single letters are left out."""
    out: dict[str, str] = {}
    for text, kind in spans:
        words = [t for t in tokenize(text) if t.alpha]
        if not words or (len(words) == 1 and (len(words[0].base) < 2 or lexicon.english(words[0])
                                             or words[0].base in lexicon.never)):
            continue
        out.setdefault(" ".join(t.key for t in words), kind)
    return [{"text": t, "type": k} for t, k in sorted(out.items())]
