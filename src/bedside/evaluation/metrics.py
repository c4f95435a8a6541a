"""Metrics by name: what a task file lists under ``metrics``.

A metric is either a mean of per-item scores (``item``: accuracy, MAP, ROUGE-L) or a function of
the pooled corpus (``corpus``: F1 from summed counts); the bootstrap treats both the same way,
through resampled item indices. A prediction of None means the output could not be parsed: it
matches nothing, so it counts against recall and never as a false positive.

Labels may be single strings or collections (multi-label tasks such as ICD coding): both are
compared as sets, so micro-F1 over single labels equals accuracy when nothing is unparsed.

Some scores need the item's input as well as its gold: entity mentions are located in the sentence
(NER), an impression is checked against the findings it summarises (groundedness). Such a metric
sets ``uses_inputs`` and its functions take a third argument, the item's fields (one dict per item;
a list of them for ``corpus`` and ``resampler``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from bedside.errors import ConfigError
from bedside.evaluation.stats import DEFAULT_RESAMPLES, Interval, bootstrap_ci


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    description: str
    item: Callable[[Any, Any], float | None] | None = None  # per-item score, averaged
    corpus: Callable[[Sequence[Any], Sequence[Any]], float | None] | None = None
    # Optional fast path for the bootstrap: (preds, golds) -> statistic over resampled indices.
    # Must agree with ``corpus``; the F1 metrics encode items once instead of 1,000 times.
    resampler: Callable[..., Callable[[list[int]], float | None]] | None = None
    uses_inputs: bool = False  # the functions take the items' fields as a third argument

    def __post_init__(self) -> None:
        if (self.item is None) == (self.corpus is None):
            raise ValueError(f"metric '{self.name}' needs exactly one of item or corpus")

    def _args(self, inputs: Sequence[dict[str, str]] | None, n: int) -> tuple:
        if not self.uses_inputs:
            return ()
        if inputs is None or len(inputs) != n:
            raise ValueError(f"metric '{self.name}' needs each item's input fields")
        return (inputs,)

    def item_score(self, pred: Any, gold: Any, fields: dict[str, str] | None = None) -> float | None:
        """One item's score (item metrics only)."""
        assert self.item is not None
        return self.item(pred, gold, fields) if self.uses_inputs else self.item(pred, gold)

    def item_scores(self, preds: Sequence[Any], golds: Sequence[Any],
                    inputs: Sequence[dict[str, str]] | None = None) -> list[float | None]:
        fields = self._args(inputs, len(preds))[0] if self.uses_inputs else [None] * len(preds)
        return [self.item_score(p, g, f) for p, g, f in zip(preds, golds, fields, strict=True)]

    def compute(self, preds: Sequence[Any], golds: Sequence[Any],
                inputs: Sequence[dict[str, str]] | None = None) -> float | None:
        if len(preds) != len(golds):
            raise ValueError("preds and golds differ in length")
        if self.corpus is not None:
            return self.corpus(preds, golds, *self._args(inputs, len(preds))) if preds else None
        return _mean(self.item_scores(preds, golds, inputs))


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float | None
    ci: Interval | None
    higher_is_better: bool

    def as_dict(self) -> dict[str, Any]:
        # The bootstrap's settings are the same for every metric of a cell: the cell records them once.
        return {"value": self.value, "ci_low": self.ci.low if self.ci else None,
                "ci_high": self.ci.high if self.ci else None, "higher_is_better": self.higher_is_better}


_METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    _METRICS[metric.name] = metric
    return metric


def metric_names() -> list[str]:
    return sorted(_METRICS)


def get_metric(name: str) -> Metric:
    if name not in _METRICS:
        raise ConfigError(f"unknown metric '{name}' (known: {', '.join(metric_names())})")
    return _METRICS[name]


def score(
    name: str, preds: Sequence[Any], golds: Sequence[Any], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
    inputs: Sequence[dict[str, str]] | None = None,
) -> MetricValue:
    """The metric on all items plus its percentile-bootstrap 95% CI (``inputs``: the items' fields)."""
    metric = get_metric(name)
    value = metric.compute(preds, golds, inputs)
    if metric.item is not None:
        scores = metric.item_scores(preds, golds, inputs)

        def statistic(idx: list[int]) -> float | None:
            return _mean([scores[i] for i in idx])
    elif metric.resampler is not None:
        statistic = metric.resampler(preds, golds, *metric._args(inputs, len(preds)))
    else:
        corpus = metric.corpus
        assert corpus is not None
        extra = metric._args(inputs, len(preds))

        def statistic(idx: list[int]) -> float | None:
            more = ([extra[0][i] for i in idx],) if extra else ()
            return corpus([preds[i] for i in idx], [golds[i] for i in idx], *more)
    ci = bootstrap_ci(len(preds), statistic, resamples=resamples, seed=seed) if value is not None else None
    return MetricValue(name, value, ci, metric.higher_is_better)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _as_set(label: Any) -> frozenset[str]:
    if label is None:
        return frozenset()
    if isinstance(label, list | tuple | set | frozenset):
        return frozenset(str(x) for x in label)
    return frozenset([str(label)])


def _counts(preds: Sequence[Any], golds: Sequence[Any]) -> tuple[Counter, Counter, Counter]:
    tp, fp, fn = Counter(), Counter(), Counter()
    for pred, gold in zip(preds, golds, strict=True):
        p, g = _as_set(pred), _as_set(gold)
        tp.update(p & g)
        fp.update(p - g)
        fn.update(g - p)
    return tp, fp, fn


def _f1(tp: int, fp: int, fn: int) -> float:
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def accuracy_item(pred: Any, gold: Any) -> float:
    return 1.0 if pred is not None and _as_set(pred) == _as_set(gold) else 0.0


def micro_f1(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    tp, fp, fn = _counts(preds, golds)
    return _f1(sum(tp.values()), sum(fp.values()), sum(fn.values()))


def macro_f1(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    """Unweighted mean of per-class F1 over every class seen in gold or predictions (sklearn's default)."""
    tp, fp, fn = _counts(preds, golds)
    classes = set(tp) | set(fp) | set(fn)
    if not classes:
        return 0.0
    return sum(_f1(tp[c], fp[c], fn[c]) for c in classes) / len(classes)


def _f1_resampler(average: str) -> Callable[[Sequence[Any], Sequence[Any]], Callable[[list[int]], float]]:
    """Encode each item's TP/FP/FN class ids once; a resample then only adds up small integer lists."""

    def prepare(preds: Sequence[Any], golds: Sequence[Any]) -> Callable[[list[int]], float]:
        ids: dict[str, int] = {}
        events = []
        for pred, gold in zip(preds, golds, strict=True):
            p, g = _as_set(pred), _as_set(gold)
            events.append(tuple(tuple(ids.setdefault(c, len(ids)) for c in sorted(part))
                                for part in (p & g, p - g, g - p)))
        k = len(ids)

        def statistic(idx: list[int]) -> float:
            tp, fp, fn = [0] * k, [0] * k, [0] * k
            for i in idx:
                hits, false_pos, missed = events[i]
                for c in hits:
                    tp[c] += 1
                for c in false_pos:
                    fp[c] += 1
                for c in missed:
                    fn[c] += 1
            if average == "micro":
                return _f1(sum(tp), sum(fp), sum(fn))
            present = [c for c in range(k) if tp[c] or fp[c] or fn[c]]
            return sum(_f1(tp[c], fp[c], fn[c]) for c in present) / len(present) if present else 0.0

        return statistic

    return prepare


def average_precision(ranked: Any, gold: Any) -> float | None:
    """AP of a ranked list against a gold set, as trec_eval: mean of precision@k at each relevant hit,
    divided by all gold items (missed ones count as 0). Items with no gold are not scored (None)."""
    relevant = _as_set(gold)
    if not relevant:
        return None
    if ranked is None:
        ranked = []
    elif isinstance(ranked, str):
        ranked = [ranked]
    hits, rank, total, seen = 0, 0, 0.0, set()
    for code in map(str, ranked):
        if code in seen:  # a repeated code is not a new guess
            continue
        seen.add(code)
        rank += 1
        if code in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


@cache
def _rouge_scorer() -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise ConfigError("metric rouge_l needs the rouge-score package: pip install 'bedside[eval]'") from exc
    # No stemming: scores stay comparable with the plain-token ROUGE-L most clinical papers report.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l_item(pred: Any, gold: Any) -> float:
    if pred is None or not str(pred).strip():
        return 0.0
    return _rouge_scorer().score(str(gold), str(pred))["rougeL"].fmeasure


register_metric(Metric("accuracy", True, "share of items whose answer equals the gold", item=accuracy_item))
register_metric(Metric("micro_f1", True, "F1 of label counts pooled over all classes", corpus=micro_f1,
                       resampler=_f1_resampler("micro")))
register_metric(Metric("macro_f1", True, "unweighted mean of per-class F1", corpus=macro_f1,
                       resampler=_f1_resampler("macro")))
register_metric(Metric("map", True, "mean average precision of ranked label lists", item=average_precision))
register_metric(Metric("rouge_l", True, "ROUGE-L F-measure (longest common subsequence)", item=rouge_l_item))
