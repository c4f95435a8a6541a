"""Strings the training corpora hold but never tag: a memory of the annotators' decisions, kept with the model.

The entity model sometimes tags, in a new sentence, words that its training corpora wrote again and
again without ever tagging them ("OD", "degeneration", "respiratory", a lone "L -" of "L-dopa"). A
string that occurs at least ``min_count`` times outside every gold mention of a category, and never
as one, is listed for that category; the extraction pipeline drops a model span whose words are
listed unless its clinical lexicon knows the term (a corpus convention must not remove "mass" or
"normal saline" from a clinical note). Occurrences inside a longer mention do not count: "stenosis"
inside "aortic stenosis" is not evidence against "stenosis".

Measured on dev with a train-only model and a list built from the train splits (strict F1 through the
pipeline; benchmarks/results/extract_dev.md): see docs/extraction.md.

    python -m bedside.ner.untagged --recipe shipped --data-root ../shared/data/ner --out DIR
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bedside.ner.data import Example

FILE = "untagged.json"
MIN_COUNT = 3
MAX_WORDS = 6
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


def write(folder: Path, data: dict[str, object]) -> dict[str, object]:
    """Write ``folder/untagged.json``; returns the summary the model metadata records."""
    (folder / FILE).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    cats = data["categories"]
    assert isinstance(cats, dict)
    return {"file": FILE, "min_count": data["min_count"], "max_words": data["max_words"],
            "strings": {c: len(v) for c, v in cats.items()}}


class Untagged:
    def __init__(self, data: dict[str, object]):
        cats = data.get("categories")
        if not isinstance(cats, dict):
            raise ValueError(f"{FILE}: 'categories' must map a category to a list of strings")
        self.by_category = {c: frozenset(v) for c, v in cats.items()}

    @classmethod
    def load(cls, folder: Path) -> Untagged | None:
        """The list beside a model, or None when the model has none (trained before it existed)."""
        path = folder / FILE
        if not path.is_file():
            return None
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def contains(self, category: str, text: str) -> bool:
        listed = self.by_category.get(category)
        return bool(listed) and words(text) in listed  # type: ignore[operator]


def main(argv: list[str] | None = None) -> None:
    from bedside.ner.data import merge, read_corpus
    from bedside.ner.recipe import load_recipe

    ap = argparse.ArgumentParser(description="Write untagged.json for a recipe's training corpora.")
    ap.add_argument("--recipe", required=True, help="recipe name or TOML file (its [[train]] corpora are read)")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data/ner"))
    ap.add_argument("--out", type=Path, required=True, help="the model folder (bedside-ner.json gets a summary)")
    ap.add_argument("--min-count", type=int, default=MIN_COUNT)
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe, data_root=args.data_root)
    corpora = [read_corpus(ref) for ref in recipe.train]
    examples, _ = merge(corpora)
    cats = sorted(set().union(*(c.categories for c in corpora)))
    summary = write(args.out, build(examples, cats, min_count=args.min_count))
    meta_path = args.out / "bedside-ner.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["untagged"] = summary | {"train_data": [
            {"path": f"{c.ref.path.parent.name}/{c.ref.path.name}", "sha256": c.sha256} for c in corpora]}
        meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
