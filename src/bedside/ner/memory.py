"""What a model's training corpora decided, kept beside the model: strings never tagged, strings nearly always tagged.

**Untagged** (``untagged.json``). The entity model sometimes tags, in a new sentence, words that its
training corpora wrote again and again without ever tagging them ("OD", "degeneration", "respiratory",
a lone "L -" of "L-dopa"). A string that occurs at least ``min_count`` times outside every gold mention
of a category, and never as one, is listed for that category; the extraction pipeline drops a model
span whose words are listed unless its clinical lexicon knows the term (a corpus convention must not
remove "mass" or "normal saline" from a clinical note). Occurrences inside a longer mention do not
count: "stenosis" inside "aortic stenosis" is not evidence against "stenosis".

**Tagged** (``tagged.json``). The converse: a gold mention string whose occurrences in the training
text were whole gold mentions at least ``min_share`` of the time ("rhabdomyolysis", "cisplatin",
"von Hippel - Lindau disease"). Extraction adds an occurrence the model left untagged, where no model
span of the same category overlaps it, as a span of that category with the share as its score (a
chemical inside a disease mention, "halothane" in "halothane hepatitis", is both in BC5CDR). A
mention string that also occurs inside longer mentions or untagged counts those occurrences against
it. A one-word string the gold only wrote as an abbreviation ("HIT", "GM", "PAN", "LIDS", "OC")
matches only as the gold wrote it: in a clinical note "hit", "gm", "lids" and "oC" are other things.
Any list or pattern of the rule layer that reads the same words otherwise wins ("CA 125", a test).

Measured on dev with a train-only model and lists built from the train splits (strict F1 through the
pipeline; benchmarks/results/extract_dev.md): see docs/extraction.md.

    python -m bedside.ner.memory --recipe shipped --data-root ../shared/data/ner --out DIR
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from bedside.ner.data import Example

FILE = "untagged.json"
TAGGED_FILE = "tagged.json"
# Untagged list: at least this many occurrences outside every mention. With train-only models and lists,
# 2 rather than 3 raised summed dev F1 through the pipeline by +0.19 and +0.25 (two seeds); 1 raised it
# further but dropped clinical terms from CodiEsp reports ("atypia", "skin lesions", "B-cell lymphoma").
MIN_COUNT = 2
MAX_WORDS = 6
# Chosen on dev with a train-only model among 0.6 / 0.8 / 0.9 (and a minimum of 1 / 2 / 3 gold
# mentions; a first trial applied after the pipeline): 0.8 and one mention added most (summed strict
# F1 +1.1, against +0.65 at 0.9 and +0.75 with at least two mentions).
MIN_SHARE = 0.8
MIN_ABBREVIATION = 3
# Long names are remembered too ("von Hippel - Lindau disease" is 6 corpus tokens): 10 rather than 6 words
# added +0.17 and +0.03 summed dev F1 with two train-only models; 16 added nothing more.
TAGGED_MAX_WORDS = 10
_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> str:
    """The lower-cased words of ``text`` joined by single spaces (the list's key)."""
    return " ".join(w.lower() for w in _WORD.findall(text))


def build(examples: Iterable[Example], categories: Iterable[str], *, min_count: int = MIN_COUNT,
          max_words: int = MAX_WORDS) -> dict[str, object]:
    """The list for each category, from the examples that annotate it."""
    cats = list(categories)
    free: dict[str, Counter[str]] = {c: Counter() for c in cats}
    tagged: dict[str, set[str]] = {c: set() for c in cats}
    for ex in examples:
        toks = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(ex.text)]
        for cat in cats:
            if cat not in ex.annotated:
                continue
            gold = [s for s in ex.spans if s.label == cat]
            tagged[cat].update(words(ex.text[s.start:s.end]) for s in gold)
            inside = [any(s.start < e and b < s.end for s in gold) for b, e, _ in toks]
            for i in range(len(toks)):
                for n in range(min(max_words, len(toks) - i)):
                    if inside[i + n]:
                        break
                    free[cat][" ".join(t for _, _, t in toks[i:i + n + 1])] += 1
    return {
        "min_count": min_count,
        "max_words": max_words,
        "categories": {c: sorted(k for k, n in free[c].items() if n >= min_count and k not in tagged[c]
                                 and any(ch.isalpha() or ch.isdigit() for ch in k)) for c in cats},
    }


def build_tagged(examples: Iterable[Example], categories: Iterable[str], *, min_share: float = MIN_SHARE,
                 max_words: int = TAGGED_MAX_WORDS) -> dict[str, object]:
    """Each category's mention strings that were whole gold mentions in ``min_share`` of their occurrences."""
    cats = list(categories)
    examples = list(examples)
    gold: dict[str, Counter[str]] = {c: Counter() for c in cats}
    # how the gold wrote each one-word string; one never written as a plain word (lower case, or a capital
    # only at a sentence start) is an abbreviation and matches only as the gold wrote it
    surfaces: dict[str, set[str]] = {}
    plain: set[str] = set()
    for ex in examples:
        for s in ex.spans:
            if s.label in gold:
                key = words(ex.text[s.start:s.end])
                if 0 < len(key.split()) <= max_words and any(ch.isalpha() for ch in key):
                    gold[s.label][key] += 1
                    surface = ex.text[s.start:s.end]
                    surfaces.setdefault(key, set()).add(surface)
                    if surface.islower() or (len(surface) > 3 and surface[1:].islower()):
                        plain.add(key)
    seen: dict[str, Counter[str]] = {c: Counter() for c in cats}
    for ex in examples:
        toks = [m.group().lower() for m in _WORD.finditer(ex.text)]
        for cat in cats:
            if cat not in ex.annotated or not gold[cat]:
                continue
            for i in range(len(toks)):
                for n in range(1, min(max_words, len(toks) - i) + 1):
                    key = " ".join(toks[i:i + n])
                    if key in gold[cat]:
                        seen[cat][key] += 1
    shares = {c: {k: round(n / seen[c][k], 3) for k, n in sorted(gold[c].items()) if n >= min_share * seen[c][k]}
              for c in cats}
    # a string kept for two categories would be a coin toss: neither list keeps it
    both = {k for c in cats for k in shares[c] if sum(k in shares[o] for o in cats) > 1}
    def abbreviation(k: str) -> bool:
        return " " not in k and k not in plain

    # two letters mean too many things to be kept ("CC", "LA", "T4", "DX"): on dev, dropping them helped too
    kept = {c: {k: v for k, v in shares[c].items()
                if k not in both and not (abbreviation(k) and len(k) < MIN_ABBREVIATION)} for c in cats}
    return {"min_share": min_share, "max_words": max_words, "categories": kept,
            "cased": {k: sorted(surfaces[k]) for c in cats for k in sorted(kept[c]) if abbreviation(k)}}


def write(folder: Path, data: dict[str, object], file: str = FILE) -> dict[str, object]:
    """Write ``folder/file`` (a list); returns the summary the model metadata records."""
    (folder / file).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    cats = data["categories"]
    assert isinstance(cats, dict)
    settings = {k: v for k, v in data.items() if k not in ("categories", "cased")}
    return {"file": file, **settings, "strings": {c: len(v) for c, v in cats.items()}}


def _glued(text: str, begin: int, end: int) -> bool:
    """Whether a word is one part of a hyphenated or slashed compound ("ABS" of "FTA-ABS"): the corpora
    space their hyphens, so a compound in a note is a different word."""
    return (begin > 1 and text[begin - 1] in "-/" and text[begin - 2].isalnum()) or \
        (end + 1 < len(text) and text[end] in "-/" and text[end + 1].isalnum())


class _List:
    """One of the lists kept beside a model; ``FILE`` names it."""

    FILE = ""

    def __init__(self, data: dict[str, object]):
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path) -> Self | None:
        """The list beside a model, or None when the model has none (trained before it existed)."""
        path = folder / cls.FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: expected a JSON object")
        return cls(data)


class Untagged(_List):
    FILE = FILE

    def __init__(self, data: dict[str, object]):
        cats = data.get("categories")
        if not isinstance(cats, dict):
            raise ValueError(f"{FILE}: 'categories' must map a category to a list of strings")
        self.by_category = {c: frozenset(v) for c, v in cats.items()}

    def contains(self, category: str, text: str) -> bool:
        listed = self.by_category.get(category)
        return bool(listed) and words(text) in listed  # type: ignore[operator]


class Tagged(_List):
    """Occurrences, in a new text, of the strings the training corpora nearly always tagged."""

    FILE = TAGGED_FILE

    def __init__(self, data: dict[str, object]):
        cats = data.get("categories")
        if not isinstance(cats, dict) or not all(isinstance(v, dict) for v in cats.values()):
            raise ValueError(f"{TAGGED_FILE}: 'categories' must map a category to {{string: share}}")
        self.index: dict[str, tuple[str, float]] = {k: (c, float(v)) for c, strings in cats.items()
                                                    for k, v in strings.items()}
        self.max_words = max((len(k.split()) for k in self.index), default=0)
        self.first_words = {k.split(" ", 1)[0] for k in self.index}
        cased = data.get("cased", {})
        if not isinstance(cased, dict):
            raise ValueError(f"{TAGGED_FILE}: 'cased' must map a string to the forms the gold wrote")
        self.cased = {k: frozenset(v) for k, v in cased.items()}

    def knows(self, text: str) -> bool:
        """Whether ``text`` is itself a remembered string (of any category)."""
        return words(text) in self.index

    def find(self, text: str) -> list[tuple[int, int, str, float]]:
        """``(begin, end, category, share)`` of listed strings in ``text``: longest first from the left."""
        toks = list(_WORD.finditer(text))
        low = [t.group().lower() for t in toks]
        out = []
        i = 0
        while i < len(toks):
            if low[i] not in self.first_words:
                i += 1
                continue
            for n in range(min(self.max_words, len(toks) - i), 0, -1):
                hit = self.index.get(" ".join(low[i:i + n]))
                if hit is None or (n == 1 and (low[i] in self.cased and toks[i].group() not in self.cased[low[i]]
                                               or _glued(text, toks[i].start(), toks[i].end()))):
                    continue
                out.append((toks[i].start(), toks[i + n - 1].end(), *hit))
                i += n - 1
                break
            i += 1
        return out


def write_both(folder: Path, examples: list[Example], categories: list[str], *,
               min_count: int = MIN_COUNT) -> dict[str, dict[str, object]]:
    """Both lists into ``folder``; ``{"untagged": summary, "tagged": summary}`` for the model metadata."""
    return {"untagged": write(folder, build(examples, categories, min_count=min_count)),
            "tagged": write(folder, build_tagged(examples, categories), TAGGED_FILE)}


def main(argv: list[str] | None = None) -> None:
    from bedside.ner.data import merge, read_corpus
    from bedside.ner.recipe import load_recipe

    ap = argparse.ArgumentParser(description="Write untagged.json and tagged.json for a recipe's training corpora.")
    ap.add_argument("--recipe", required=True, help="recipe name or TOML file (its [[train]] corpora are read)")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data/ner"))
    ap.add_argument("--out", type=Path, required=True, help="the model folder (bedside-ner.json gets a summary)")
    ap.add_argument("--min-count", type=int, default=MIN_COUNT)
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe, data_root=args.data_root)
    corpora = [read_corpus(ref) for ref in recipe.train]
    examples, _ = merge(corpora)
    cats = sorted(set().union(*(c.categories for c in corpora)))
    summaries = write_both(args.out, examples, cats, min_count=args.min_count)
    meta_path = args.out / "bedside-ner.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        train_data = [{"path": f"{c.ref.path.parent.name}/{c.ref.path.name}", "sha256": c.sha256} for c in corpora]
        meta.update({k: v | {"train_data": train_data} for k, v in summaries.items()})
        meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(summaries))


if __name__ == "__main__":
    main()
