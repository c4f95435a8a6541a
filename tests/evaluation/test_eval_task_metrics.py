"""The scorer check for the structured tasks: each metric on a small fixture equals its hand value.

NER spans, DDI's positive-class F1, ICD-10 codes through their parser, and groundedness (with the
real extractor: the shipped model and the rule layer).
"""

from __future__ import annotations

import pytest

from bedside.evaluation.grounding import grounder
from bedside.evaluation.metrics import get_metric, score
from bedside.evaluation.parsers import get_parser


def spans_of(sentence: str, *mentions: str) -> list[list[int]]:
    """Gold spans written as their text: the first occurrence of each, as the loader gives them."""
    out = []
    for m in mentions:
        b = sentence.index(m)
        out.append([b, b + len(m)])
    return out


# -- NER -----------------------------------------------------------------------------------------
S_A = "Germline mutations in BRCA1 cause breast cancer and ovarian cancer ."
S_B = "No disease is named here ."
S_C = "Familial adenomatous polyposis ( FAP ) is inherited ."
S_D = "Tay - Sachs disease is rare ."
S_E = "Most cancers are sporadic ."
NER_INPUTS = [{"sentence": s} for s in (S_A, S_B, S_C, S_D, S_E)]
NER_GOLDS = [
    spans_of(S_A, "breast cancer", "ovarian cancer"),
    [],
    spans_of(S_C, "Familial adenomatous polyposis", "FAP"),
    spans_of(S_D, "Tay - Sachs disease"),
    spans_of(S_E, "cancers"),
]
NER_PREDS = [
    # "breast cancer": exact. "cancer": two token-bounded occurrences; the one inside "breast cancer"
    # overlaps a gold span already matched exactly (spurious), the other overlaps "ovarian cancer"
    # (partial). "BRCA1 gene" is not in the sentence: one false positive.
    # -> exact 1, partial 1, predicted 3 spans + 1 missing = 4, gold 2
    ["breast cancer", "cancer", "BRCA1 gene"],
    [],  # nothing to find, nothing found -> 0, 0, 0, 0
    None,  # unparsed output -> 0, 0, 0, gold 2
    ["tay-sachs DISEASE"],  # whitespace and case aside it is the gold span -> exact 1, predicted 1, gold 1
    ["cancer"],  # only inside the token "cancers": not token-bounded, so not found -> predicted 1, gold 1
]


def test_strict_f1_by_hand():
    # Pooled: exact 2, predicted 4+0+0+1+1 = 6, gold 2+0+2+1+1 = 6 -> P = R = 2/6 -> F1 = 2*2/(6+6) = 1/3.
    assert get_metric("strict_f1").compute(NER_PREDS, NER_GOLDS, NER_INPUTS) == pytest.approx(1 / 3)


def test_partial_f1_by_hand():
    # Exact 2 plus half of 1 partial: P = R = 2.5/6 -> F1 = 2*2.5/12 = 5/12.
    assert get_metric("partial_f1").compute(NER_PREDS, NER_GOLDS, NER_INPUTS) == pytest.approx(5 / 12)


def test_ner_f1_is_undefined_without_gold_or_predictions():
    assert get_metric("strict_f1").compute([[]], [[]], [{"sentence": S_B}]) is None


def test_ner_metrics_need_the_sentences():
    with pytest.raises(ValueError, match="input fields"):
        get_metric("strict_f1").compute(NER_PREDS, NER_GOLDS)


def test_span_scores_agree_with_the_projects_nervaluate_scorer():
    # Where every listed mention is found, scoring the located spans with bedside.ner.metrics
    # (nervaluate, SemEval-2013) gives the same strict and partial F1.
    from bedside.evaluation.mentions import locate
    from bedside.ner.data import Span
    from bedside.ner.metrics import score as ner_score

    preds = [["breast cancer", "cancer"], [], ["polyposis", "FAP"], ["Tay - Sachs disease"], ["Most"]]
    sentences = [f["sentence"] for f in NER_INPUTS]
    gold_spans = [[Span(b, e, "D") for b, e in g] for g in NER_GOLDS]
    pred_spans = [[Span(b, e, "D") for b, e in sorted(locate(p, s))] for p, s in zip(preds, sentences, strict=True)]
    expected = ner_score(gold_spans, pred_spans, ["D"])
    for name, scheme in (("strict_f1", "strict"), ("partial_f1", "partial")):
        ours = get_metric(name).compute(preds, NER_GOLDS, NER_INPUTS)
        assert ours == pytest.approx(expected[scheme]["f1"], abs=1e-4)
    assert expected["strict"]["f1"] < expected["partial"]["f1"]  # the fixture has partial matches


def test_ner_bootstrap_ci_surrounds_the_value():
    result = score("strict_f1", NER_PREDS * 4, NER_GOLDS * 4, resamples=200, seed=3, inputs=NER_INPUTS * 4)
    assert result.value == pytest.approx(1 / 3)
    assert 0 <= result.ci.low <= result.value <= result.ci.high <= 1


# -- DDI -----------------------------------------------------------------------------------------
DDI_GOLDS = ["effect", "none", "mechanism", "advise", "none", "int"]
DDI_PREDS = ["effect", "effect", "none", "advise", "none", None]


def test_micro_f1_positive_by_hand():
    # TP: items 0 (effect), 3 (advise). FP: item 1 (effect for none). FN: item 2 (mechanism said none),
    # item 5 (int, unparsed). "none" right at item 4 counts nowhere. -> 2*2/(2*2+1+2) = 4/7.
    assert get_metric("micro_f1_positive").compute(DDI_PREDS, DDI_GOLDS) == pytest.approx(4 / 7)


def test_macro_f1_positive_by_hand():
    # effect: TP 1, FP 1 -> 2/3; mechanism: FN 1 -> 0; advise: TP 1 -> 1; int: FN 1 -> 0. Mean = (2/3+1)/4 = 5/12.
    assert get_metric("macro_f1_positive").compute(DDI_PREDS, DDI_GOLDS) == pytest.approx(5 / 12)


def test_positive_f1_bootstrap_agrees_with_the_value():
    result = score("micro_f1_positive", DDI_PREDS * 3, DDI_GOLDS * 3, resamples=200, seed=1)
    assert result.value == pytest.approx(4 / 7) and result.ci.low <= result.value <= result.ci.high


# -- ICD-10 coding -------------------------------------------------------------------------------
def test_icd_codes_are_normalised_then_scored_by_hand():
    parse = get_parser("icd10_codes")
    # Constrained JSON: lower case and a missing dot are normalised, a word is not a code.
    first = parse('["n23", "I10", "e119", "hypertension"]', ())
    # Free text: the code-shaped tokens, a repeat dropped.
    second = parse("Codes: J45.909 and J45.909, also R05.", ())
    assert first == ["N23", "I10", "E11.9"] and second == ["J45.909", "R05"]
    golds = [["I10", "E11.9", "N18.3"], ["J45.909"]]
    # micro-F1: doc 1 TP 2 (I10, E11.9), FP 1 (N23), FN 1 (N18.3); doc 2 TP 1, FP 1 (R05).
    #           -> 2*3 / (2*3 + 2 + 1) = 2/3.
    assert get_metric("micro_f1").compute([first, second], golds) == pytest.approx(2 / 3)
    # MAP: doc 1 hits at ranks 2 and 3 -> (1/2 + 2/3) / 3 gold = 7/18; doc 2 hit at rank 1 -> 1.
    #      -> (7/18 + 1) / 2 = 25/36.
    assert get_metric("map").compute([first, second], golds) == pytest.approx(25 / 36)


# -- groundedness --------------------------------------------------------------------------------
GROUNDING = [
    # (generated impression, findings, supported, stated) with the real extractor's findings:
    # cardiomegaly (affirmed, in the findings) and pneumothorax (negated, not affirmed there): 2 of 2.
    ("Cardiomegaly. No pneumothorax.", "Stable cardiomegaly. No pleural effusion or pneumothorax.", 2, 2),
    # A pleural effusion the findings deny: 0 of 1.
    ("Large right pleural effusion.", "The lungs are clear. No pleural effusion.", 0, 1),
    # "No acute cardiopulmonary disease": a statement of absence nothing contradicts: 1 of 1.
    ("No acute cardiopulmonary disease.", "Heart size normal. Lungs clear.", 1, 1),
    # The findings' pneumonia in the same sentence as "right lower lobe": 1 of 1.
    ("Right lower lobe pneumonia.", "Patchy opacity in the right lower lobe consistent with pneumonia.", 1, 1),
    # The wrong side is not supported: 0 of 1.
    ("Left lower lobe pneumonia.", "Patchy opacity in the right lower lobe consistent with pneumonia.", 0, 1),
    # Denying a finding the findings report: 0 of 1.
    ("No pneumothorax.", "Small right apical pneumothorax.", 0, 1),
    ("Normal chest.", "Heart size normal. Lungs clear.", 0, 0),  # states no finding
]


def test_each_impression_is_checked_against_its_findings():
    g = grounder()
    for text, findings, supported, stated in GROUNDING:
        assert g.counts(text, findings) == (supported, stated), text


def test_groundedness_and_hallucination_rate_by_hand():
    preds = [text for text, *_ in GROUNDING] + [None]  # an unparsed output states nothing
    inputs = [{"findings": findings} for _, findings, *_ in GROUNDING] + [{"findings": "Lungs clear."}]
    golds = ["(the reference impression is not used)"] * len(preds)
    # Supported 2+0+1+1+0+0+0 = 4 of 2+1+1+1+1+1+0 = 7 stated findings.
    assert get_metric("groundedness").compute(preds, golds, inputs) == pytest.approx(4 / 7)
    assert get_metric("hallucination_rate").compute(preds, golds, inputs) == pytest.approx(3 / 7)
    assert get_metric("hallucination_rate").higher_is_better is False
    # Outputs that state no finding at all have neither score.
    assert get_metric("groundedness").compute(["Normal chest."], golds[:1], inputs[:1]) is None


def test_rouge_l_scores_the_parsed_impression():
    pytest.importorskip("rouge_score", reason="rouge-score is in the eval extra")
    # The constrained output is a JSON string; the parser unwraps it. LCS "no acute cardiopulmonary"
    # = 3 of 4 tokens each way -> 0.75.
    parsed = get_parser("text")('"No acute cardiopulmonary abnormality."', ())
    assert parsed == "No acute cardiopulmonary abnormality."
    assert get_metric("rouge_l").compute([parsed], ["No acute cardiopulmonary process."]) == pytest.approx(0.75)
