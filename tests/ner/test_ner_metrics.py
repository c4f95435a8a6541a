"""Entity-level scores against hand-computed values: strict vs partial, overall and per type."""

from __future__ import annotations

import pytest

pytest.importorskip("nervaluate", reason="entity scoring needs the 'ner' extra")

from bedside.ner.data import Span  # noqa: E402
from bedside.ner.metrics import score  # noqa: E402

C, M = "MEDICAL_CONDITION", "MEDICATION"

GOLD = [
    [Span(0, 9, C), Span(15, 19, M)],
    [Span(0, 4, C), Span(10, 14, C)],
]
PRED = [
    [Span(0, 9, C), Span(15, 19, C)],  # exact; right boundaries, wrong type
    [Span(0, 6, C), Span(20, 24, M)],  # overlaps gold (0,4); spurious. Gold (10,14) missed.
]


def test_strict_counts_only_exact_boundaries_and_type() -> None:
    s = score(GOLD, PRED, [C, M])
    # correct 1 of 4 predicted, 1 of 4 gold.
    assert s["strict"]["correct"] == 1
    assert (s["strict"]["incorrect"], s["strict"]["spurious"], s["strict"]["missed"]) == (2, 1, 1)
    assert s["strict"]["precision"] == pytest.approx(0.25)
    assert s["strict"]["recall"] == pytest.approx(0.25)
    assert s["strict"]["f1"] == pytest.approx(0.25)
    assert (s["n_sentences"], s["n_gold"], s["n_pred"]) == (2, 4, 4)


def test_partial_ignores_type_and_gives_half_credit_for_overlap() -> None:
    s = score(GOLD, PRED, [C, M])
    # correct: (0,9) and the wrong-type (15,19); partial: (0,6)~(0,4). (2 + 0.5) / 4.
    assert (s["partial"]["correct"], s["partial"]["partial"]) == (2, 1)
    assert s["partial"]["precision"] == pytest.approx(0.625)
    assert s["partial"]["recall"] == pytest.approx(0.625)
    assert s["partial"]["f1"] == pytest.approx(0.625)


def test_per_type_scores() -> None:
    per = score(GOLD, PRED, [C, M])["per_type"]
    # Conditions: gold 3, predicted 3; strict 1 correct; partial (1 + 0.5) / 3.
    assert per[C]["strict"]["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert per[C]["strict"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert per[C]["partial"]["f1"] == pytest.approx(0.5)
    assert (per[M]["strict"]["f1"], per[M]["strict"]["gold"], per[M]["strict"]["pred"]) == (0.0, 1, 1)


def test_adjacent_spans_do_not_overlap() -> None:
    # Exclusive ends: (0,4) and (4,8) share no character, so partial gives no credit.
    s = score([[Span(0, 4, C)]], [[Span(4, 8, C)]], [C])
    assert s["partial"]["f1"] == 0.0
    assert (s["partial"]["spurious"], s["partial"]["missed"]) == (1, 1)


def test_only_requested_categories_count_and_empty_input() -> None:
    s = score([[Span(0, 4, C)]], [[Span(0, 4, C), Span(5, 9, M)]], [C])
    assert s["strict"]["precision"] == 1.0  # the MEDICATION prediction is not scored
    assert s["n_pred"] == 1 and list(s["per_type"]) == [C]
    empty = score([], [], [C])
    assert empty["strict"]["f1"] == 0.0 and empty["n_sentences"] == 0
    none = score([[]], [[]], [C, M])
    assert none["per_type"][M]["strict"]["gold"] == 0
    with pytest.raises(ValueError):
        score([[]], [], [C])


def test_scores_do_not_depend_on_the_order_of_the_spans():
    import random

    from bedside.ner.data import Span
    from bedside.ner.metrics import score

    rng = random.Random(0)

    def spans(n: int) -> list[Span]:
        return [Span(s, s + rng.randrange(1, 6), rng.choice("CD")) for s in (rng.randrange(0, 40) for _ in range(n))]

    for _ in range(100):  # overlapping spans: nervaluate matched them in the order given
        gold, pred = [spans(4)], [spans(5)]
        shuffled_gold, shuffled_pred = [rng.sample(gold[0], 4)], [rng.sample(pred[0], 5)]
        a, b = score(gold, pred, ["C", "D"]), score(shuffled_gold, shuffled_pred, ["C", "D"])
        assert (a["strict"], a["partial"], a["per_type"]) == (b["strict"], b["partial"], b["per_type"])
