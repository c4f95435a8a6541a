"""Prompt rendering, few-shot selection and output parsers (no model)."""

from __future__ import annotations

import pytest
from eval_helpers import MCQA_TASK

from bedside.errors import InputError
from bedside.evaluation.loaders import Item
from bedside.evaluation.parsers import get_parser
from bedside.evaluation.prompts import FixedShots, build_prompt, choices_for
from bedside.evaluation.spec import load_task_text

SPEC = load_task_text(MCQA_TASK, "tiny.yaml")
OPTIONS = {"A": "aspirin", "B": "insulin"}


def item(n: int, question: str | None = None) -> Item:
    return Item(id=f"q{n}", fields={"question": question or f"question {n}?"}, gold="B", options=OPTIONS)


def test_zero_shot_prompt():
    prompt = build_prompt(SPEC, item(1))
    assert prompt.system == "Answer with the letter."
    assert prompt.text == "Q: question 1?\nA. aspirin\nB. insulin\nA:"
    assert choices_for(SPEC, item(1)) == ("A", "B")
    assert len(prompt.sha256) == 64 and prompt.sha256 != build_prompt(SPEC, item(2)).sha256


def test_few_shot_prompt_shows_gold_of_examples_only():
    prompt = build_prompt(SPEC, item(1), [item(2)])
    assert prompt.text == "Q: question 2?\nA. aspirin\nB. insulin\nA: B\n\nQ: question 1?\nA. aspirin\nB. insulin\nA:"
    assert prompt.shot_ids == ("q2",)


def test_fixed_shots_are_seeded_and_never_the_item_itself():
    pool = [item(n) for n in range(10)] + [item(99, question="question 3?")]  # q99 duplicates q3's input
    picks = FixedShots(pool, 3, seed=0)
    assert [s.id for s in picks.select(item(50))] == [s.id for s in FixedShots(pool, 3, seed=0).select(item(50))]
    for target in pool:
        chosen = picks.select(target)
        assert len(chosen) == 3 and target.id not in {s.id for s in chosen}
        assert all(s.input_sha256 != target.input_sha256 for s in chosen)
    assert [s.id for s in FixedShots(pool, 3, seed=1).select(item(50))] != [s.id for s in picks.select(item(50))]


def test_missing_template_field_is_an_input_error():
    bare = Item(id="x", fields={"text": "no question"}, gold="A", options=OPTIONS, source="f.jsonl:4")
    with pytest.raises(InputError, match=r"uses \{question\} but item x \(f.jsonl:4\) has no such field"):
        build_prompt(SPEC, bare)


@pytest.mark.parametrize(("text", "expected"), [
    ('"B"', "B"), ("B", "B"), ("b.", "B"), ("(C) warfarin", "C"), ("D: heparin", "D"),
    ("The answer is C because...", "C"), ("Answer: (A)", "A"),
    ("A patient should take aspirin", None),  # prose, not a letter
    ("I am not sure", None), ("", None),
])
def test_letter_parser(text, expected):
    assert get_parser("letter")(text, ("A", "B", "C", "D")) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('"Common Cold"', "Common Cold"), ("common cold", "Common Cold"),
    ("This looks like peptic ulcer disease, not a common cold.", "peptic ulcer disease"),
    ("Probably malaria", None),  # not one of these labels
    ("Colds are common", None),
])
def test_label_parser(text, expected):
    labels = ("Common Cold", "peptic ulcer disease", "Acne")
    assert get_parser("label")(text, labels) == expected


def test_choice_and_json_parsers():
    assert get_parser("choice")('"maybe"', ("yes", "no", "maybe")) == "maybe"
    assert get_parser("choice")("perhaps", ("yes", "no", "maybe")) is None
    assert get_parser("json")('{"codes": ["R05"]}', ()) == {"codes": ["R05"]}
    assert get_parser("json")("codes: R05", ()) is None
