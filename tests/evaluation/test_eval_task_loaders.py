"""Loaders and parsers of the structured tasks (NER, CodiEsp, DDI, radiology): items from test-written
files, bad lines reported with file and line and counted, and the shared data read in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import SHARED_DATA

from bedside.errors import InputError
from bedside.evaluation.loaders import load_dataset, resolve_data_path
from bedside.evaluation.parsers import get_parser
from bedside.evaluation.prompts import build_prompt
from bedside.evaluation.registry import TaskRegistry

NEW_TASKS = ["bc2gm", "bc5cdr_chem", "bc5cdr_disease", "codiesp_d", "ddi2013", "iu_xray_impression", "ncbi_disease"]


# -- IOB (NER) -----------------------------------------------------------------------------------
def test_iob_sentences_become_items_with_character_spans(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text(
        "Germline\tO\nmutations\tO\nin\tO\nBRCA1\tO\ncause\tO\nbreast\tB-Disease\ncancer\tI-Disease\n.\tO\n"  # 1-8
        "\n"
        "A\tO\nbroken line without a tab\n.\tO\n"  # 10-12: line 11 has no tag -> sentence dropped
        "\n"
        "Some\tO\ntoken\tX-Disease\n"  # 14-15: invalid tag -> dropped
        "\n"
        "No\tO\ndisease\tO\n.\tO\n"  # 17-19: no entity: gold []
        "\n"
        "late\tO\nonset\tI-Disease\nataxia\tI-Disease\n",  # 21-23: I after O starts an entity (conlleval)
        encoding="utf-8")
    data = load_dataset("iob", path)
    assert [i.id for i in data.items] == ["line-1", "line-17", "line-21"]
    first = data.items[0]
    assert first.fields == {"sentence": "Germline mutations in BRCA1 cause breast cancer ."}
    assert first.gold == [[34, 47]] and first.source == f"{path}:1"
    assert json.loads(first.answer) == ["breast cancer"]  # how a few-shot example shows the gold
    assert data.items[1].gold == [] and data.items[1].answer == "[]"
    assert data.items[2].gold == [[5, 17]]  # "onset ataxia"
    assert [(m.path, m.line) for m in data.malformed] == [(str(path), 11), (str(path), 15)]
    assert data.malformed[0].reason.startswith("expected token<TAB>tag")
    assert "invalid tag" in data.malformed[1].reason and "broken" not in data.malformed[0].reason


def test_structured_loaders_take_no_field_map(tmp_path):
    from bedside.evaluation.spec import FieldMap

    path = tmp_path / "dev.tsv"
    path.write_text("a\tO\n", encoding="utf-8")
    with pytest.raises(InputError, match="builds its items itself"):
        load_dataset("iob", path, FieldMap(gold="x"))


# -- CodiEsp -------------------------------------------------------------------------------------
def write_codiesp(root: Path, cases: dict[str, str], table: str, name: str = "testD.tsv") -> Path:
    texts = root / "text_files_en"
    texts.mkdir(parents=True)
    for doc, text in cases.items():
        (texts / f"{doc}.txt").write_text(text, encoding="utf-8")
    (root / name).write_text(table, encoding="utf-8")
    return root / name


def test_codiesp_cases_with_normalised_codes_and_reported_lines(tmp_path):
    table = write_codiesp(tmp_path / "test", {
        "case-1": "A 60-year-old man with hypertension and renal colic.\n",
        "case-2": "A woman with asthma.\n",
        "case-3": "A healthy volunteer.\n",  # no codes: gold []
    }, "case-1\tn23\n"  # 1
       "case-1\ti10\n"  # 2
       "case-1\tI10\n"  # 3: the same code again (kept once)
       "case-2\tj45.909\n"  # 4
       "case-2\n"  # 5: one column
       "case-2\tasthma\n"  # 6: not a code
       "case-9\tr52\n")  # 7: no text file for case-9
    (tmp_path / "test" / "text_files_en" / "case-4.txt").write_bytes(b"caf\xe9\n")  # not UTF-8
    data = load_dataset("codiesp", table)
    assert {i.id: i.gold for i in data.items} == {"case-1": ["N23", "I10"], "case-2": ["J45.909"], "case-3": []}
    case1 = data.items[0]
    assert case1.fields == {"text": "A 60-year-old man with hypertension and renal colic."}
    assert json.loads(case1.answer) == ["N23", "I10"]
    reported = {(Path(m.path).name, m.line): m.reason for m in data.malformed}
    assert set(reported) == {("testD.tsv", 5), ("testD.tsv", 6), ("testD.tsv", 7), ("case-4.txt", 1)}
    assert reported[("testD.tsv", 6)] == "the code is not ICD-10-shaped"
    assert reported[("testD.tsv", 7)].startswith("no text file")
    # The split folder works as the data path too, and the hash covers the texts.
    again = load_dataset("codiesp", tmp_path / "test")
    assert again.sha256 == data.sha256
    (tmp_path / "test" / "text_files_en" / "case-3.txt").write_text("Edited.\n", encoding="utf-8")
    assert load_dataset("codiesp", table).sha256 != data.sha256


def test_codiesp_without_its_texts_folder_is_an_input_error(tmp_path):
    (tmp_path / "devD.tsv").write_text("a\tn23\n", encoding="utf-8")
    with pytest.raises(InputError, match="text_files_en"):
        load_dataset("codiesp", tmp_path / "devD.tsv")


# -- DDI -----------------------------------------------------------------------------------------
GOOD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<document id="DDI-DrugBank.d1">
    <sentence id="DDI-DrugBank.d1.s0" text="Aspirin increases the effect of warfarin and heparin.">
        <entity id="DDI-DrugBank.d1.s0.e0" charOffset="0-6" type="drug" text="Aspirin"/>
        <entity id="DDI-DrugBank.d1.s0.e1" charOffset="32-39" type="drug" text="warfarin"/>
        <entity id="DDI-DrugBank.d1.s0.e2" charOffset="45-51" type="drug" text="heparin"/>
        <pair id="DDI-DrugBank.d1.s0.p0" e1="DDI-DrugBank.d1.s0.e0"
            e2="DDI-DrugBank.d1.s0.e1" ddi="true" type="effect"/>
        <pair id="DDI-DrugBank.d1.s0.p1" e1="DDI-DrugBank.d1.s0.e1" e2="DDI-DrugBank.d1.s0.e2" ddi="false"/>
        <pair id="DDI-DrugBank.d1.s0.p2" e1="DDI-DrugBank.d1.s0.e0" e2="DDI-DrugBank.d1.s0.e9" ddi="false"/>
        <pair id="DDI-DrugBank.d1.s0.p3" e1="DDI-DrugBank.d1.s0.e0" e2="DDI-DrugBank.d1.s0.e2" ddi="true"/>
    </sentence>
    <sentence id="DDI-DrugBank.d1.s1" text="Antiretroviral and other drugs interact.">
        <entity id="DDI-DrugBank.d1.s1.e0" charOffset="0-13;25-29" type="group" text="Antiretroviral drugs"/>
        <entity id="DDI-DrugBank.d1.s1.e1" charOffset="50-60" type="drug" text="nothing"/>
        <pair id="DDI-DrugBank.d1.s1.p0" e1="DDI-DrugBank.d1.s1.e0" e2="DDI-DrugBank.d1.s1.e1" ddi="false"/>
    </sentence>
</document>
"""
BROKEN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<document id="DDI-MedLine.d2">
    <sentence id="DDI-MedLine.d2.s0" text="Unclosed">
</document>
"""


def test_ddi_pairs_become_items_and_bad_pairs_and_files_are_reported(tmp_path):
    corpus = tmp_path / "Test"
    (corpus / "DrugBank").mkdir(parents=True)
    (corpus / "MedLine").mkdir()
    good = corpus / "DrugBank" / "Aspirin_ddi.xml"
    broken = corpus / "MedLine" / "broken.xml"
    good.write_text(GOOD_XML, encoding="utf-8")
    broken.write_text(BROKEN_XML, encoding="utf-8")
    data = load_dataset("ddi_xml", corpus)
    assert [(i.id, i.gold) for i in data.items] == [("DDI-DrugBank.d1.s0.p0", "effect"),
                                                    ("DDI-DrugBank.d1.s0.p1", "none")]
    first = data.items[0]
    assert first.fields["marked"] == "<e1>Aspirin</e1> increases the effect of <e2>warfarin</e2> and heparin."
    assert (first.fields["drug1"], first.fields["drug2"], first.fields["type1"]) == ("Aspirin", "warfarin", "drug")
    assert first.source == f"{good}:7" and first.line == 7  # where the <pair> tag starts
    reported = {(Path(m.path).name, m.line): m.reason for m in data.malformed}
    assert set(reported) == {("Aspirin_ddi.xml", 10), ("Aspirin_ddi.xml", 11), ("Aspirin_ddi.xml", 16),
                             ("broken.xml", 4)}
    assert reported[("Aspirin_ddi.xml", 10)].startswith("pair refers to an entity")
    assert reported[("Aspirin_ddi.xml", 11)].startswith("interaction without a known type")
    assert "outside its sentence" in reported[("Aspirin_ddi.xml", 16)]
    assert reported[("broken.xml", 4)].startswith("not well-formed XML: mismatched tag")
    # One file works as the data path too.
    assert len(load_dataset("ddi_xml", good).items) == 2


def test_ddi_refuses_entity_declarations(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaa">]>\n<document/>\n', encoding="utf-8")
    data = load_dataset("ddi_xml", path)
    assert not data.items and data.malformed[0].reason == "XML entity declarations are not allowed"


def test_a_marked_discontinuous_entity_wraps_its_whole_extent():
    from bedside.evaluation.ddi import _marked

    assert _marked("ab cd ef", (0, 5), (6, 8)) == "<e1>ab cd</e1> <e2>ef</e2>"
    assert _marked("abef", (0, 2), (2, 4)) == "<e1>ab</e1><e2>ef</e2>"  # adjacent: closed before opened


# -- parsers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ('["breast cancer", "FAP"]', ["breast cancer", "FAP"]),  # constrained output
    ('{"mentions": ["ataxia"]}', ["ataxia"]),
    ("[]", []),
    ('The diseases are ["ataxia", 3, " "] here.', ["ataxia"]),  # free text: the first JSON list
    ("breast cancer, ovarian cancer", None),  # prose is not guessed at
])
def test_mentions_parser(text, expected):
    assert get_parser("mentions")(text, ()) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('"No acute disease."', "No acute disease."),
    ('{"impression": "Cardiomegaly."}', "Cardiomegaly."),
    ("Impression: No acute disease.\n\nThe patient should follow up.", "No acute disease."),
    ("  \n ", None),
])
def test_text_parser(text, expected):
    assert get_parser("text")(text, ()) == expected


def test_icd_parser_without_codes_is_unparsed():
    assert get_parser("icd10_codes")("I cannot code this case.", ()) is None
    assert get_parser("icd10_codes")('{"codes": []}', ()) == []


# -- the shared data -----------------------------------------------------------------------------
needs_task_data = pytest.mark.skipif(not (SHARED_DATA / "ddi2013").is_dir(),
                                     reason=f"shared data not found at {SHARED_DATA}")


@needs_task_data
def test_every_new_task_reads_its_shared_data(monkeypatch):
    monkeypatch.setenv("BEDSIDE_SHARED_DATA", str(SHARED_DATA))
    registry = TaskRegistry.discover()
    counts = {}
    for name in NEW_TASKS:
        spec = registry.get(name)
        data = load_dataset(spec.dataset.loader, resolve_data_path(spec.dataset.path, name), spec.dataset.fields,
                            spec.dataset.options)
        counts[name] = (len(data.items), len(data.malformed))
        build_prompt(spec, data.items[0], data.items[1:3])  # every template field exists
    # Sentences (shared/data README: dev), cases, DDI pairs and reports.
    assert counts["ncbi_disease"] == (923, 0) and counts["bc5cdr_chem"] == (4581, 0)
    assert counts["bc2gm"] == (2519, 0) and counts["codiesp_d"] == (250, 0)
    assert counts["iu_xray_impression"] == (2331, 0)
    # The corpus itself has one interaction without a type (Dextroamphetamine_ddi.xml): reported, not fatal.
    assert counts["ddi2013"] == (27791, 1)
