"""What a model's training corpora never tag and nearly always tag (ner/memory.py), and how extraction uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedside.clinical import RulePipeline
from bedside.ner.data import Example, Span
from bedside.ner.memory import TAGGED_FILE, Tagged, Untagged, build, build_tagged, words, write

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


def test_a_string_nearly_always_tagged_is_remembered_with_its_share():
    examples = [
        ex("Rhabdomyolysis followed cisplatin .", ("Rhabdomyolysis", DIS), ("cisplatin", CHEM)),
        ex("Severe rhabdomyolysis and HIT .", ("rhabdomyolysis", DIS), ("HIT", DIS)),
        ex("The rhabdomyolysis registry .", ("rhabdomyolysis registry", DIS)),  # inside a longer one: counts against
        ex("Aortic stenosis ; stenosis ; stenosis .", ("Aortic stenosis", DIS)),
        ex("Lithium toxicity with lithium .", ("Lithium toxicity", DIS), ("Lithium", CHEM), ("lithium", DIS)),
        ex("CC was given .", ("CC", CHEM)),
        ex("Cisplatin in NCBI .", annotated=(DIS,)),  # says nothing about chemicals
    ]
    data = build_tagged(examples, [DIS, CHEM], min_share=0.6)
    dis, chem = data["categories"][DIS], data["categories"][CHEM]
    assert dis["rhabdomyolysis"] == pytest.approx(2 / 3, abs=1e-3)  # 2 of its 3 occurrences were whole mentions
    assert "stenosis" not in dis and "aortic stenosis" in dis  # 0 of 3 alone
    assert chem == {"cisplatin": 1.0}  # "CC" has two letters; "lithium" is both categories: neither list
    assert "lithium" not in dis
    assert data["cased"] == {"hit": ["HIT"]}  # the gold only wrote it as an abbreviation
    assert build_tagged(examples, [DIS, CHEM], min_share=0.8)["categories"][DIS].get("rhabdomyolysis") is None


def test_remembered_strings_are_found_longest_first_and_abbreviations_only_as_written(tmp_path: Path):
    data = {"categories": {DIS: {"hit": 1.0, "von hippel - lindau disease": 0.9, "lindau": 0.8}, CHEM: {"iron": 0.85}},
            "cased": {"hit": ["HIT"]}}
    summary = write(tmp_path, data, TAGGED_FILE)
    assert summary == {"file": TAGGED_FILE, "strings": {DIS: 3, CHEM: 1}}
    memory = Tagged.load(tmp_path)
    assert memory is not None
    text = "HIT after heparin; iron given; he hit his head. Von Hippel-Lindau disease, Lindau; iron-rich, HIT/x."
    found = [(text[b:e], c, s) for b, e, c, s in memory.find(text)]
    # one word of a hyphenated or slashed compound is another word ("iron-rich")
    assert found == [("HIT", DIS, 1.0), ("iron", CHEM, 0.85), ("Von Hippel-Lindau disease", DIS, 0.9),
                     ("Lindau", DIS, 0.8)]
    spaced = "Hippel-Lindau; iron - rich"  # as the corpora write a compound
    assert [spaced[b:e] for b, e, *_ in memory.find(spaced)] == ["iron"]
    assert Tagged.load(tmp_path / "none") is None
    (tmp_path / TAGGED_FILE).write_text(json.dumps({"categories": {DIS: ["hit"]}}))
    with pytest.raises(ValueError, match="categories"):
        Tagged.load(tmp_path)


def test_a_remembered_span_yields_to_the_rule_layer():
    text = "CA 125 was 40 U/mL. Given iron. Alcohol: none."
    spans = [
        {"begin_offset": 0, "end_offset": 2, "category": CHEM, "memory": True},  # "CA": the tumour marker wins
        {"begin_offset": 26, "end_offset": 30, "category": CHEM, "memory": True},  # "iron": nothing else reads it
        {"begin_offset": 32, "end_offset": 39, "category": CHEM, "memory": True},  # "Alcohol:" social history
    ]
    found = {(e.text, e.category) for e in RulePipeline()(text, spans).entities}
    assert ("iron", CHEM) in found and ("CA", CHEM) not in found and ("Alcohol", CHEM) not in found
    assert any(t.startswith("CA 125") and c == "TEST_TREATMENT_PROCEDURE" for t, c in found)


def test_extraction_adds_remembered_strings_the_model_left_untagged(tmp_path: Path):
    import shutil

    from bedside.extract import Extractor
    from bedside.extract.spans import shipped_model_dir
    folder = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), folder)
    write(folder, {"categories": {CHEM: {"window": 0.9}, DIS: {"fever": 1.0}}, "cased": {}}, TAGGED_FILE)
    text = "She was started on window 20 mg daily. No fever today."  # a word the model leaves alone
    doc = Extractor("default", ner_model=folder, link_icd10=False).extract(text)
    hits = [e for e in doc.entities if e.text == "window"]
    assert [(e.category, e.score) for e in hits] == [(CHEM, 0.9)]
    assert {a.type for a in hits[0].attributes} >= {"DOSAGE", "FREQUENCY"}  # a medication like any other
    assert [e.text for e in doc.entities if e.category == DIS] == ["fever"]  # the model's own span, not two
    (folder / TAGGED_FILE).unlink()
    doc = Extractor("default", ner_model=folder, link_icd10=False).extract(text)
    assert not [e for e in doc.entities if e.text == "window"]


def test_the_shipped_model_remembers_strings_from_its_training_data():
    from bedside.extract.spans import shipped_model_dir
    folder = shipped_model_dir()
    meta = json.loads((folder / "bedside-ner.json").read_text())
    memory = Tagged.load(folder)
    assert memory is not None and meta["tagged"]["min_share"] == 0.8
    assert sum(meta["tagged"]["strings"].values()) == len(memory.index)
    assert [d["path"] for d in meta["tagged"]["train_data"]] == [d["path"] for d in meta["train_data"]]


def test_a_model_span_inside_a_remembered_string_takes_the_whole_string():
    from bedside.extract.spans import _grown
    memory = Tagged({"categories": {DIS: {"migraine with aura": 0.9, "breast and ovarian cancer": 1.0,
                                          "aura": 0.8}}})
    piece = "Migraine with aura and aura alone; breast and ovarian cancer."
    hits = memory.find(piece)

    def span(words_: str, cat: str = DIS, start: int = 0) -> dict:
        b = piece.index(words_, start)
        return {"begin_offset": b, "end_offset": b + len(words_), "category": cat, "score": 0.8}

    merged = [span("Migraine"), span("aura", start=19), span("breast"), span("ovarian cancer"),
              span("alone", CHEM)]
    got = [(piece[m["begin_offset"]:m["end_offset"]], m["category"]) for m in _grown(piece, merged, hits, memory)]
    # "aura" alone is remembered itself and keeps its place; two pieces of one string become one span
    assert got == [("Migraine with aura", DIS), ("aura", DIS), ("breast and ovarian cancer", DIS), ("alone", CHEM)]
