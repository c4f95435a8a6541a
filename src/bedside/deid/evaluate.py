"""Scoring a detector against gold PHI spans: span-level and token-level, overall and per class.

De-identification cares first whether PHI was removed, so the headline numbers are class-agnostic:
a gold span counts as found when any predicted span overlaps it (``overlap``), or when one has exactly
its offsets (``exact``, after trimming white space); a predicted span is correct when it overlaps
any gold span. Per class, recall is over the gold spans of that class (found by a span of any type;
``typed_recall`` also wants the same class) and precision over the predicted spans of that class.
Token level counts word tokens (``\\w+`` runs) inside gold vs predicted spans.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"\w+")


def _prf(tp_p: int, n_pred: int, tp_r: int, n_gold: int) -> dict[str, float | int]:
    p = tp_p / n_pred if n_pred else 1.0
    r = tp_r / n_gold if n_gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "gold": n_gold, "predicted": n_pred}


def _trimmed(text: str, b: int, e: int) -> tuple[int, int]:
    while b < e and text[b].isspace():
        b += 1
    while e > b and text[e - 1].isspace():
        e -= 1
    return b, e


class _Index:
    """Sorted ranges asked 'does anything overlap [b, e)?' (ranges may nest)."""

    def __init__(self, ranges: Iterable[tuple[int, int, str]]):
        self.items = sorted(ranges)
        self.begins = [r[0] for r in self.items]

    def overlapping(self, b: int, e: int) -> list[tuple[int, int, str]]:
        hi = bisect_left(self.begins, e)
        return [r for r in self.items[max(0, hi - 64):hi] if r[1] > b] if hi else []


class Scorer:
    """Accumulates counts over documents; :meth:`report` gives the numbers."""

    def __init__(self) -> None:
        self.c: Counter[str] = Counter()
        # (doc id, class, begin, end): for error analysis only; never printed by the CLI
        self.misses: list[tuple[str, str, int, int]] = []
        self.false_positives: list[tuple[str, str, int, int]] = []

    def add(self, doc_id: str, text: str, gold: list[tuple[int, int, str]], pred: list[tuple[int, int, str]]) -> None:
        """``gold``/``pred``: (begin, end, class) with classes already mapped to one vocabulary."""
        c = self.c
        gold = [(*_trimmed(text, b, e), k) for b, e, k in gold]
        pred = [(*_trimmed(text, b, e), k) for b, e, k in pred]
        gi, pi = _Index(gold), _Index(pred)
        exact_pred = {(b, e) for b, e, _ in pred}
        for b, e, k in gold:
            hits = pi.overlapping(b, e)
            c[f"gold|{k}"] += 1
            if hits:
                c[f"found|{k}"] += 1
                c[f"typed|{k}"] += any(h[2] == k for h in hits)
            else:
                self.misses.append((doc_id, k, b, e))
            c[f"exact|{k}"] += (b, e) in exact_pred
        exact_gold = {(b, e) for b, e, _ in gold}
        for b, e, k in pred:
            c[f"pred|{k}"] += 1
            if gi.overlapping(b, e):
                c[f"correct|{k}"] += 1
            else:
                self.false_positives.append((doc_id, k, b, e))
            c[f"pexact|{k}"] += (b, e) in exact_gold
        for m in _WORD.finditer(text):
            b, e = m.span()
            g = gi.overlapping(b, e)
            p = pi.overlapping(b, e)
            gk = g[0][2] if g else None
            pk = p[0][2] if p else None
            if gk:
                c[f"tgold|{gk}"] += 1
                c[f"tfound|{gk}"] += bool(pk)
            if pk:
                c[f"tpred|{pk}"] += 1
                c[f"tcorrect|{pk}"] += bool(gk)
        c["documents"] += 1

    def _sum(self, prefix: str, cls: str | None) -> int:
        if cls is not None:
            return self.c[f"{prefix}|{cls}"]
        return sum(v for k, v in self.c.items() if k.startswith(prefix + "|"))

    def _block(self, cls: str | None) -> dict[str, object]:
        s = self._sum
        block: dict[str, object] = {
            "span_overlap": _prf(s("correct", cls), s("pred", cls), s("found", cls), s("gold", cls)),
            "span_exact": _prf(s("pexact", cls), s("pred", cls), s("exact", cls), s("gold", cls)),
            "token": _prf(s("tcorrect", cls), s("tpred", cls), s("tfound", cls), s("tgold", cls)),
        }
        if cls is not None and s("gold", cls):
            block["typed_recall"] = round(s("typed", cls) / s("gold", cls), 4)
        return block

    def report(self) -> dict[str, object]:
        classes = sorted({k.split("|", 1)[1] for k in self.c if "|" in k})
        return {
            "documents": self.c["documents"],
            "overall": self._block(None),
            "per_class": {k: self._block(k) for k in classes},
        }
