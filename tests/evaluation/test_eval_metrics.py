"""The scorer check: each metric on a small fixture equals its hand-computed value."""

from __future__ import annotations

import pytest

from bedside.errors import ConfigError
from bedside.evaluation.metrics import average_precision, get_metric, metric_names, score

# Six single-label items; item 4's output could not be parsed (None).
GOLDS = ["A", "B", "A", "C", "B", "A"]
PREDS = ["A", "B", "B", "C", None, "A"]


def test_accuracy_by_hand():
    # Correct at items 0, 1, 3, 5 -> 4 of 6.
    assert get_metric("accuracy").compute(PREDS, GOLDS) == pytest.approx(4 / 6)


def test_macro_f1_by_hand():
    # Class A: gold at 0,2,5; predicted at 0,5 -> TP 2, FP 0, FN 1 (item 2) -> F1 = 2*2/(2*2+0+1) = 0.8
    # Class B: gold at 1,4; predicted at 1,2 -> TP 1, FP 1 (item 2), FN 1 (item 4, unparsed)
    #          -> F1 = 2/(2+1+1) = 0.5
    # Class C: gold at 3; predicted at 3 -> TP 1 -> F1 = 1.0
    # Macro = (0.8 + 0.5 + 1.0) / 3 = 0.76667. The unparsed None is not a class.
    assert get_metric("macro_f1").compute(PREDS, GOLDS) == pytest.approx(2.3 / 3)


def test_micro_f1_by_hand():
    # Pooled: TP = 4 (items 0,1,3,5); FP = 1 (item 2 said B); FN = 2 (item 2 missed A, item 4 missed B)
    # -> 2*4 / (2*4 + 1 + 2) = 8/11. (Unparsed output costs recall only, so micro-F1 > accuracy here.)
    assert get_metric("micro_f1").compute(PREDS, GOLDS) == pytest.approx(8 / 11)


def test_micro_f1_multi_label_by_hand():
    # Doc 1: predicted {A, B}, gold {A} -> TP A, FP B.  Doc 2: predicted {C}, gold {C, D} -> TP C, FN D.
    # TP 2, FP 1, FN 1 -> 4 / (4 + 1 + 1) = 2/3.
    assert get_metric("micro_f1").compute([["A", "B"], ["C"]], [["A"], ["C", "D"]]) == pytest.approx(2 / 3)


def test_map_by_hand():
    # Doc 1: ranked [X, A, Y, B], gold {A, B, C}: hits at rank 2 (P@2 = 1/2) and rank 4 (P@4 = 2/4);
    #        AP = (0.5 + 0.5) / 3 gold codes = 1/3 (C never retrieved counts as 0).
    # Doc 2: ranked [B, B, A] -> the repeated B is dropped -> [B, A], gold {A, B}:
    #        P@1 = 1, P@2 = 1 -> AP = 2/2 = 1.
    # Doc 3: nothing predicted (unparsed), gold {Z} -> AP 0.
    # Doc 4: no gold codes -> not scored (as trec_eval).
    # MAP = (1/3 + 1 + 0) / 3 = 4/9.
    preds = [["X", "A", "Y", "B"], ["B", "B", "A"], None, ["Q"]]
    golds = [["A", "B", "C"], ["A", "B"], ["Z"], []]
    assert average_precision(preds[0], golds[0]) == pytest.approx(1 / 3)
    assert average_precision(preds[3], golds[3]) is None
    assert get_metric("map").compute(preds, golds) == pytest.approx(4 / 9)


def test_rouge_l_by_hand():
    pytest.importorskip("rouge_score", reason="rouge-score is in the eval extra")
    # 1: "no acute cardiopulmonary abnormality" vs gold "no acute cardiopulmonary process":
    #    LCS = "no acute cardiopulmonary" = 3 tokens; P = 3/4, R = 3/4 -> F = 0.75.
    # 2: "heart size normal lungs clear" vs gold "lungs clear heart size normal": the longest common
    #    subsequence is "heart size normal" (3 of 5 each) -> P = R = F = 0.6.
    # 3: unparsed (None) -> 0.   Mean = (0.75 + 0.6 + 0) / 3 = 0.45.
    preds = ["no acute cardiopulmonary abnormality", "heart size normal lungs clear", None]
    golds = ["No acute cardiopulmonary process.", "Lungs clear. Heart size normal.", "Normal chest."]
    assert get_metric("rouge_l").compute(preds, golds) == pytest.approx(0.45)


def test_f1_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is optional")
    golds = ["A", "B", "A", "C", "B", "A", "D", "C"]
    preds = ["A", "B", "B", "C", "A", "A", "C", "D"]
    for average in ("macro", "micro"):
        expected = metrics.f1_score(golds, preds, average=average)
        assert get_metric(f"{average}_f1").compute(preds, golds) == pytest.approx(expected)
    assert get_metric("accuracy").compute(preds, golds) == pytest.approx(metrics.accuracy_score(golds, preds))


def test_score_adds_a_bootstrap_ci_around_the_value():
    result = score("macro_f1", PREDS * 5, GOLDS * 5, resamples=300, seed=1)
    assert result.value == pytest.approx(2.3 / 3) and result.higher_is_better
    assert result.ci.low <= result.value <= result.ci.high and result.ci.low < result.ci.high
    as_dict = result.as_dict()
    assert set(as_dict) == {"value", "ci_low", "ci_high", "higher_is_better"}
    assert score("accuracy", [], []).value is None and score("accuracy", [], []).ci is None


def test_metric_registry():
    assert {"accuracy", "macro_f1", "micro_f1", "map", "rouge_l"} <= set(metric_names())
    # The hallucination rate is the one metric where lower is better.
    assert [n for n in metric_names() if not get_metric(n).higher_is_better] == ["hallucination_rate"]
    with pytest.raises(ConfigError, match="unknown metric 'bleu'"):
        get_metric("bleu")


@pytest.mark.parametrize("name", ["macro_f1", "micro_f1"])
def test_fast_bootstrap_path_agrees_with_the_corpus_metric(name):
    import random

    metric = get_metric(name)
    preds = PREDS + [["A", "D"], ["C"], None]
    golds = GOLDS + [["A"], ["C", "D"], ["B"]]
    statistic = metric.resampler(preds, golds)
    rng = random.Random(7)
    for _ in range(50):
        idx = [rng.randrange(len(golds)) for _ in golds]
        assert statistic(idx) == pytest.approx(metric.corpus([preds[i] for i in idx], [golds[i] for i in idx]))
