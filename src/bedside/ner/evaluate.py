"""Score a predictor on gold corpora: each corpus only on the categories it annotates.

A disease-only corpus is scored on MEDICAL_CONDITION alone, so the model's (unannotated, possibly
right) MEDICATION spans there count neither for nor against it; this is also how the issue's
independent scorer compares MEDICAL_CONDITION with disease gold and MEDICATION with chemical gold.
"""

from __future__ import annotations

from collections.abc import Callable

from bedside.ner.data import Corpus, Span
from bedside.ner.infer import Entity
from bedside.ner.metrics import score

Predictor = Callable[[list[str]], list[list[Entity]]]


def evaluate(corpora: list[Corpus], predictor: Predictor) -> dict[str, dict[str, object]]:
    """``{corpus name: scores}``. A text shared by several corpora (BC5CDR dev) is predicted once."""
    texts = list(dict.fromkeys(ex.text for c in corpora for ex in c.examples))
    predicted = dict(zip(texts, predictor(texts), strict=True))
    out: dict[str, dict[str, object]] = {}
    for corpus in corpora:
        name = corpus.ref.name
        while name in out:
            name += "'"
        gold = [list(ex.spans) for ex in corpus.examples]
        pred = [
            [Span(e.begin_offset, e.end_offset, e.category) for e in predicted[ex.text]]
            for ex in corpus.examples
        ]
        out[name] = {
            "path": str(corpus.ref.path),
            "sha256": corpus.sha256,
            "categories": sorted(corpus.categories),
            "skipped": len(corpus.problems),
            **score(gold, pred, sorted(corpus.categories)),
        }
    return out


def headline(results: dict[str, dict[str, object]]) -> dict[str, float]:
    """Strict F1 per corpus, for logs and metadata summaries."""
    return {name: r["strict"]["f1"] for name, r in results.items()}  # type: ignore[index]
