"""The list of strings a model's training corpora hold but never tag, and how extraction uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedside.clinical import RulePipeline
from bedside.ner.data import Example, Span
from bedside.ner.untagged import Untagged, build, words, write

DIS, CHEM = "MEDICAL_CONDITION", "MEDICATION"


def ex(text: str, *mentions: tuple[str, str], annotated=(DIS, CHEM)) -> Example:
    spans = []
    for words_, label in mentions:
        b = text.index(words_)
        spans.append(Span(b, b + len(words_), label))
    return Example(text, tuple(spans), frozenset(annotated))


def test_a_string_written_often_and_never_tagged_is_listed():
    examples = [
        ex("Degeneration of the aortic stenosis was seen.", ("aortic stenosis", DIS)),
        ex("Degeneration followed stenosis of the valve.", ("stenosis", DIS)),
        ex("Degeneration again; aortic stenosis.", ("aortic stenosis", DIS)),
        ex("Degeneration in NCBI.", annotated=(DIS,)),  # counts for diseases only
    ]
    data = build(examples, [DIS, CHEM], min_count=3)
    dis, chem = set(data["categories"][DIS]), set(data["categories"][CHEM])
    assert "degeneration" in chem  # never a chemical either in the sentences that annotate chemicals
    assert "stenosis" not in dis  # tagged once alone; inside "aortic stenosis" it is no evidence
    assert "aortic" not in dis  # only ever inside a mention
    assert "degeneration" in dis
    # the NCBI-like sentence annotates diseases only, so it adds nothing to the chemical counts
    assert build(examples[3:] * 3, [DIS, CHEM], min_count=3)["categories"][CHEM] == []


def test_lookup_is_by_lower_cased_words(tmp_path: Path):
    summary = write(tmp_path, {"min_count": 3, "max_words": 6, "categories": {DIS: ["l -", "od"], CHEM: []}})
    assert summary["strings"] == {DIS: 2, CHEM: 0}
    listed = Untagged.load(tmp_path)
    assert listed is not None and listed.contains(DIS, "L-") and listed.contains(DIS, "OD")
    assert not listed.contains(CHEM, "OD") and not listed.contains("ANATOMY", "OD")
    assert words("L-dopa  (LD)") == "l - dopa ( ld )"
    assert Untagged.load(tmp_path / "none") is None


def test_bad_list_is_refused(tmp_path: Path):
    (tmp_path / "untagged.json").write_text(json.dumps({"categories": ["x"]}))
    with pytest.raises(ValueError, match="categories"):
        Untagged.load(tmp_path)


def test_extraction_drops_a_listed_model_span_unless_the_lexicon_knows_it():
    text = "Given 5 mg of L - dopa; the mass grew. OD noted; OD again."
    spans = [
        {"begin_offset": 14, "end_offset": 17, "category": CHEM, "untagged": True},  # "L -"
        {"begin_offset": 28, "end_offset": 32, "category": DIS, "untagged": True},  # "mass": a clinical term
        {"begin_offset": 39, "end_offset": 41, "category": DIS, "untagged": True},  # "OD"
        {"begin_offset": 49, "end_offset": 51, "category": DIS},  # the same words, unflagged, stay
    ]
    found = [(e.text, e.category) for e in RulePipeline()(text, spans).entities if e.category in (DIS, CHEM)]
    assert ("mass", DIS) in found and found.count(("OD", DIS)) == 1
    assert not any(t.startswith("L") for t, _ in found)


def test_the_shipped_model_has_a_list_built_from_its_training_data():
    from bedside.extract.spans import shipped_model_dir
    folder = shipped_model_dir()
    meta = json.loads((folder / "bedside-ner.json").read_text())
    listed = Untagged.load(folder)
    assert listed is not None
    assert meta["untagged"]["strings"] == {c: len(v) for c, v in listed.by_category.items()}
    assert [d["path"] for d in meta["untagged"]["train_data"]] == [d["path"] for d in meta["train_data"]]
