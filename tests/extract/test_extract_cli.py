"""`bedside extract` end to end with the shipped entity model (real ONNX Runtime, real rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

NOTE = (
    "HISTORY OF PRESENT ILLNESS: 67-year-old man with type 2 diabetes mellitus and hypertension. "
    "He reports fever but no chest pain.\n"
    "FAMILY HISTORY: Mother with breast cancer.\n"
    "MEDICATIONS: metformin 500 mg PO BID; lisinopril 10 mg daily.\n"
    "LABS: Creatinine 1.4 mg/dL.\n"
)


def _extract(env, *args, stdin=None):
    r = run_cli("extract", *args, env=env, stdin=stdin)
    if isinstance(r.stdout, bytes):  # stdin given as bytes: the output comes back as bytes too
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


def _by_text(doc):
    return {e["text"].lower(): e for e in doc["entities"]}


def _traits(e):
    return {t["name"] for t in e["traits"]}


def test_note_to_entities_attributes_traits_and_codes(tmp_path, bedside_env):
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    r = _extract(bedside_env, str(note))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for e in doc["entities"]:
        assert NOTE[e["begin_offset"]:e["end_offset"]] == e["text"]
        for a in e["attributes"]:
            assert NOTE[a["begin_offset"]:a["end_offset"]] == a["text"]
    ents = _by_text(doc)
    assert ents["chest pain"]["category"] == "MEDICAL_CONDITION"
    assert "NEGATION" in _traits(ents["chest pain"])
    assert "NEGATION" not in _traits(ents["fever"])  # "but no chest pain" negates only chest pain
    assert "PERTAINS_TO_FAMILY" in _traits(ents["breast cancer"])
    assert "PERTAINS_TO_FAMILY" not in _traits(ents["hypertension"])
    met = ents["metformin"]
    assert met["category"] == "MEDICATION"
    attrs = {a["type"]: a["text"] for a in met["attributes"]}
    assert attrs == {"DOSAGE": "500 mg", "ROUTE_OR_MODE": "PO", "FREQUENCY": "BID"}
    creat = ents["creatinine"]
    assert creat["category"] == "TEST_TREATMENT_PROCEDURE"
    assert {a["type"]: a["text"] for a in creat["attributes"]} == {"TEST_VALUE": "1.4", "TEST_UNIT": "mg/dL"}
    codes = [c["code"] for c in ents["hypertension"]["icd10cm_concepts"]]
    assert codes and codes[0] == "I10"
    assert len(ents["type 2 diabetes mellitus"]["icd10cm_concepts"]) <= 5
    assert ents["type 2 diabetes mellitus"]["icd10cm_concepts"][0]["code"].startswith("E11")


def test_stdin_comprehend_style_and_rules_strategy(bedside_env):
    r = _extract(bedside_env, "-", "--style", "comprehend", "--strategy", "rules", "--no-icd10",
                 stdin=NOTE.encode())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"Entities", "UnmappedAttributes"} <= set(doc)
    assert any(e["Text"] == "metformin" and e["BeginOffset"] == NOTE.index("metformin") for e in doc["Entities"])


def test_fhir_bundle_validates(tmp_path, bedside_env):
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    r = _extract(bedside_env, str(note), "--format", "fhir")
    assert r.returncode == 0, r.stderr
    bundle = json.loads(r.stdout)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Condition", "MedicationStatement", "Observation", "FamilyMemberHistory"} <= kinds
    from bedside.extract.fhir import validate_bundle

    validate_bundle(bundle)


def test_batch_writes_one_line_per_file_and_records_bad_notes(tmp_path, bedside_env):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Patient denies chest pain . Started on aspirin .")
    (notes / "b.txt").write_text("")
    (notes / "c.txt").write_bytes(b"\x00\x01binary\x00")
    (notes / "d.txt").write_bytes("Pt with fi\xe8vre and cough.".encode("latin-1"))
    (notes / "e.txt").write_text("Cisplatin nephrotoxicity was observed in rats .")
    out = tmp_path / "out" / "result.jsonl"
    r = _extract(bedside_env, "--batch", str(notes), "--out", str(out), "--no-icd10")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["file"] for x in lines] == ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]
    assert "empty" in lines[1]["error"]["message"]
    assert "binary" in lines[2]["error"]["message"]
    assert "UTF-8" in lines[3]["error"]["message"] and "--encoding" in lines[3]["error"]["message"]
    a = {e["text"]: e for e in lines[0]["entities"]}
    assert "NEGATION" in _traits(a["chest pain"]) and a["aspirin"]["category"] == "MEDICATION"
    e = {x["text"]: x["category"] for x in lines[4]["entities"]}
    assert e.get("Cisplatin") == "MEDICATION" and e.get("nephrotoxicity") == "MEDICAL_CONDITION"
    assert "3 errors" in r.stderr
    assert not list(out.parent.glob("*.partial"))


def test_latin1_with_encoding_flag_keeps_offsets_exact(tmp_path, bedside_env):
    note = tmp_path / "latin1.txt"
    text = "Café owner with pneumonia; started azithromycin 500 mg daily."
    note.write_bytes(text.encode("latin-1"))
    r = _extract(bedside_env, str(note), "--no-icd10")
    assert r.returncode == 2 and "--encoding latin-1" in r.stderr
    r = _extract(bedside_env, str(note), "--encoding", "latin-1", "--no-icd10")
    assert r.returncode == 0, r.stderr
    ents = json.loads(r.stdout)["entities"]
    assert any(e["text"] == "pneumonia" for e in ents)
    for e in ents:
        assert text[e["begin_offset"]:e["end_offset"]] == e["text"]


@pytest.mark.parametrize("setup, message", [
    (lambda p: p.write_text(""), "empty"),
    (lambda p: p.write_bytes(b"\x7fELF\x00\x00binary"), "binary"),
    (lambda p: None, "not found"),
])
def test_bad_single_notes_fail_clearly(tmp_path, bedside_env, setup, message):
    note = tmp_path / "n.txt"
    setup(note)
    r = _extract(bedside_env, str(note), "--no-icd10")
    assert r.returncode == 2
    assert message in r.stderr and r.stdout == ""


def test_oversized_note_is_refused_and_large_note_offsets_stay_exact(tmp_path, bedside_env):
    big = tmp_path / "big.txt"
    text = (NOTE + "\n") * 400  # ~100k characters: several model pieces
    big.write_text(text)
    env = {**bedside_env, "BEDSIDE_MAX_NOTE_BYTES": "50000"}
    r = _extract(env, str(big), "--no-icd10")
    assert r.returncode == 2 and "limit is 50,000" in r.stderr
    r = _extract(bedside_env, str(big), "--no-icd10")
    assert r.returncode == 0, r.stderr
    ents = json.loads(r.stdout)["entities"]
    assert sum(e["text"] == "metformin" for e in ents) == 400
    for e in ents:
        assert text[e["begin_offset"]:e["end_offset"]] == e["text"]


def test_non_english_note_warns(tmp_path, bedside_env):
    note = tmp_path / "es.txt"
    note.write_text("El paciente presenta dolor torácico desde hace dos días, sin fiebre, con tos y disnea. "
                    "Se inicia tratamiento con paracetamol para el dolor y se solicita radiografía de tórax.")
    r = _extract(bedside_env, str(note), "--no-icd10")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "English" in r.stderr


def test_usage_errors(tmp_path, bedside_env):
    assert "not both" in _extract(bedside_env, "--no-icd10").stderr
    r = _extract(bedside_env, "--batch", str(tmp_path), "--no-icd10")
    assert r.returncode == 2 and "--out" in r.stderr
    r = _extract(bedside_env, "-", "--format", "xml", stdin=b"fever")
    assert r.returncode == 2 and "unknown format" in r.stderr
    r = _extract(bedside_env, "-", "--model", str(tmp_path / "nope"), stdin=b"fever")
    assert r.returncode == 2 and "not found" in r.stderr


def test_shipped_model_is_compact_and_self_describing():
    from bedside.extract.spans import shipped_model_dir
    from bedside.ner.infer import read_meta

    folder = shipped_model_dir()
    assert (folder / "model.onnx").stat().st_size <= 30 * 1024 * 1024
    meta = read_meta(folder)
    assert meta["base_model"]["sha256"] and meta["hyperparameters"]["lr"] > 0
    assert all(d["sha256"] for d in meta["train_data"])
    assert set(meta["dev_strict_f1"]["onnx"]) == {"ncbi_disease/dev", "bc5cdr_disease/dev", "bc5cdr_chem/dev"}
    assert "/work/" not in json.dumps(meta) and str(Path.home()) not in json.dumps(meta)


@pytest.mark.integration
def test_llm_strategy_keeps_only_spans_in_the_note(tmp_path, bedside_env):
    from conftest import audit_rows

    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    r = _extract(bedside_env, str(note), "--strategy", "llm", "--model", "smollm2", "--no-icd10")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for e in doc["entities"]:
        assert NOTE[e["begin_offset"]:e["end_offset"]] == e["text"]
    # Rules still add what they always find (the lab value), whatever the small model proposed.
    assert any(e["text"] == "Creatinine" for e in doc["entities"])
    rows = audit_rows(bedside_env)
    assert rows and all(row["task"] == "extract" for row in rows)
    assert all(NOTE[:40] not in json.dumps(row) for row in rows)  # hashes, not note text
