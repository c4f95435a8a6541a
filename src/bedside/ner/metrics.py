"""Entity-level precision/recall/F1, strict and partial, computed by ``nervaluate`` (SemEval-2013 task 9.1).

- strict: same start, same end, same category.
- partial: boundaries overlap, category not checked; an overlap that is not exact counts half
  (precision = (correct + 0.5 partial) / predicted, recall = (correct + 0.5 partial) / gold).

Spans here have exclusive ends; nervaluate's are inclusive, hence the ``end - 1``: without it, two
adjacent entities ("a b" and "c") would count as overlapping. nervaluate matches overlapping spans
in the order it is given them, so each document's spans are sorted first: the same spans in another
order (a detector's output is a set) score the same (15 of 300 random shuffles differed before).
"""

from __future__ import annotations

from nervaluate import Evaluator

from bedside.ner.data import Span

STRATEGIES = ("strict", "partial")
_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")


def _dicts(docs: list[list[Span]]) -> list[list[dict[str, object]]]:
    return [[{"label": s.label, "start": s.start, "end": s.end - 1}
             for s in sorted(doc, key=lambda s: (s.start, s.end, s.label))] for doc in docs]


def _row(result) -> dict[str, float | int]:
    if result is None:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 0, "pred": 0, **dict.fromkeys(_COUNTS, 0)}
    return {
        "precision": round(result.precision, 4),
        "recall": round(result.recall, 4),
        "f1": round(result.f1, 4),
        "gold": result.possible,
        "pred": result.actual,
        **{k: getattr(result, k) for k in _COUNTS},
    }


def score(gold: list[list[Span]], pred: list[list[Span]], categories: list[str]) -> dict[str, object]:
    """Scores over documents (sentences) aligned by position; only ``categories`` are counted."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted")
    cats = sorted(categories)
    res = Evaluator(_dicts(gold), _dicts(pred), tags=cats, loader="dict").evaluate() if gold else {}
    overall = res.get("overall", {})
    entities = res.get("entities", {})
    return {
        **{s: _row(overall.get(s)) for s in STRATEGIES},
        "per_type": {c: {s: _row(entities.get(c, {}).get(s)) for s in STRATEGIES} for c in cats},
        "n_sentences": len(gold),
        "n_gold": sum(1 for doc in gold for s in doc if s.label in cats),
        "n_pred": sum(1 for doc in pred for s in doc if s.label in cats),
    }
