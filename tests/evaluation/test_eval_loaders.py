"""Loaders: good records become items, bad ones are reported with file:line and counted."""

from __future__ import annotations

import json

import pytest
from eval_helpers import SHARED_DATA, mcqa_line, needs_shared_data

from bedside.errors import InputError
from bedside.evaluation.loaders import load_dataset, resolve_data_path, shared_data_dir
from bedside.evaluation.registry import bundled_tasks
from bedside.evaluation.spec import FieldMap


def test_mcqa_jsonl_items_and_malformed_lines(tmp_path):
    path = tmp_path / "qa.jsonl"
    lines = [
        mcqa_line("q1", "Which drug is an anticoagulant?", "C"),  # 1 good
        "",  # 2 blank: ignored, not malformed
        '{"realidx": "q2", "question": "broken',  # 3 not JSON
        "[1, 2]",  # 4 not an object
        mcqa_line("q3", "", "A"),  # 5 empty question
        mcqa_line("q4", "Which is a hormone?", "E"),  # 6 gold not an option
        mcqa_line("q1", "Duplicate id", "A"),  # 7 duplicate id
        json.dumps({"question": "no id", "options": {"A": "x", "B": "y"}, "answer_idx": "A"}),  # 8 no id
        json.dumps({"realidx": "q5", "question": "q", "options": ["x", "y"], "answer_idx": "A"}),  # 9 list options
        mcqa_line("q6", "Which is a hormone?", "B", subject="pharmacology"),  # 10 good
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"realidx": "q7", "question": "caf\xe9"}\n'  # 11 not UTF-8
    path.write_bytes(raw)
    data = load_dataset("mcqa_jsonl", path)
    assert [i.id for i in data.items] == ["q1", "q6"]
    first = data.items[0]
    assert first.gold == "C" and first.options["C"] == "warfarin" and first.source == f"{path}:1"
    # The answer text beside the gold letter is hidden from templates; other fields are kept.
    assert "answer" not in first.fields and "answer_idx" not in first.fields
    assert data.items[1].fields["subject"] == "pharmacology"
    reasons = {m.line: m.reason for m in data.malformed}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 11]
    assert reasons[3].startswith("not valid JSON")
    assert reasons[4] == "a JSON list, not an object"
    assert reasons[5] == "missing or empty field 'question'"
    assert reasons[6].startswith("gold 'answer_idx' is not one of the option keys")
    assert reasons[7] == "duplicate id (first at line 1)"
    assert reasons[8] == "missing id field 'realidx'"
    assert "must be an object" in reasons[9]
    assert reasons[11].startswith("not UTF-8")
    assert str(data.malformed[0]) == f"{path}:3: {reasons[3]}"
    # Reasons never quote record text (it may be patient data).
    assert all("anticoagulant" not in m.reason and "caf" not in m.reason for m in data.malformed)
    assert len(data.sha256) == 64


def test_split_context_moves_the_abstract(tmp_path):
    path = tmp_path / "pqa.jsonl"
    record = {"realidx": "1", "question": "Background text.\nResults text.\nDoes X cause Y?",
              "answer": "yes", "answer_idx": "A", "options": {"A": "yes", "B": "no", "C": "maybe"}}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    fields = FieldMap(id="realidx", gold="answer", required=["question"])
    item = load_dataset("mcqa_jsonl", path, fields, {"split_context": True}).items[0]
    assert item.fields["question"] == "Does X cause Y?"
    assert item.fields["context"] == "Background text.\nResults text."
    assert item.gold == "yes" and item.options is None and "answer_idx" not in item.fields
    with pytest.raises(InputError, match="loader 'mcqa_jsonl' has no option 'delimiter'"):
        load_dataset("mcqa_jsonl", path, fields, {"delimiter": ";"})


def test_csv_rows_quoted_newlines_and_bad_rows(tmp_path):
    path = tmp_path / "s2d.csv"
    path.write_text(
        "index,label,text\n"
        '1,Acne,"Pimples on my face,\nand blackheads."\n'  # lines 2-3: one row over two lines
        "2,Migraine,Throbbing headache\n"  # 4
        "3,Migraine,too,many,fields\n"  # 5
        "4,Dengue\n"  # 6 too few
        "5,,Fever and rash\n"  # 7 empty gold
        "6,Malaria,Chills and fever\n",  # 8
        encoding="utf-8",
    )
    data = load_dataset("csv", path, FieldMap(gold="label", required=["text"]))
    assert [(i.id, i.gold) for i in data.items] == [("line-2", "Acne"), ("line-4", "Migraine"), ("line-8", "Malaria")]
    assert data.items[0].fields == {"index": "1", "text": "Pimples on my face,\nand blackheads."}
    assert {m.line: m.reason for m in data.malformed} == {
        5: "5 fields, header has 3",
        6: "fewer fields than the header's 3",
        7: "missing or empty gold field 'label'",
    }


def test_generic_jsonl_with_field_map_and_list_gold(tmp_path):
    path = tmp_path / "codes.jsonl"
    path.write_text(
        json.dumps({"doc": "d1", "note": "Cough.", "codes": ["R05", "J20.9"]}) + "\n"
        + json.dumps({"doc": "d2", "note": "Fine.", "codes": []}) + "\n",
        encoding="utf-8",
    )
    data = load_dataset("jsonl", path, FieldMap(id="doc", gold="codes", required=["note"]))
    assert [(i.id, i.gold) for i in data.items] == [("d1", ["R05", "J20.9"])]
    assert data.malformed[0].line == 2 and "gold" in data.malformed[0].reason


def test_unreadable_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="dataset file not found"):
        load_dataset("jsonl", tmp_path / "absent.jsonl")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"label,text\nAcne,caf\xe9\n")
    with pytest.raises(InputError, match="is not UTF-8"):
        load_dataset("csv", bad)
    with pytest.raises(InputError, match="unknown loader 'xml'"):
        load_dataset("xml", bad)


def test_shared_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BEDSIDE_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    assert resolve_data_path("qa/x.jsonl", "t") == tmp_path / "qa" / "x.jsonl"
    assert resolve_data_path(str(tmp_path / "abs.jsonl"), "t") == tmp_path / "abs.jsonl"


@needs_shared_data
@pytest.mark.parametrize(("task", "count"), [
    ("medmcqa", 2816), ("mmlu_medical", 1089), ("pubmedqa", 450), ("symptom2disease", 900),
])
def test_bundled_tasks_load_the_shared_data_cleanly(task, count, monkeypatch):
    monkeypatch.setenv("BEDSIDE_SHARED_DATA", str(SHARED_DATA))
    spec = {s.name: s for s in bundled_tasks()}[task]
    data = load_dataset(spec.dataset.loader, resolve_data_path(spec.dataset.path, task),
                        spec.dataset.fields, spec.dataset.options)
    assert len(data.items) == count and not data.malformed
    labels = spec.output.choices
    if isinstance(labels, list):
        assert {i.gold for i in data.items} <= set(labels)
    if task == "pubmedqa":
        assert all(i.fields["context"] and i.fields["question"].endswith("?") for i in data.items[:50])
