"""Pieces of the extraction pipeline that need no model: chunking, LLM span location, language check."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bedside.errors import InputError
from bedside.extract.chunks import chunks
from bedside.extract.language import language_warning
from bedside.extract.llm import locate
from bedside.extract.pipeline import Extractor

DATA = Path(__file__).parent / "data"  # a note written for these tests (no patient data)


def test_chunks_cover_the_text_exactly_and_respect_the_limit():
    rng = random.Random(7)
    words = ["fever", "chest pain", "metformin 500 mg", "\n", "\n\n", ".", "No", "x" * 50]
    for _ in range(50):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 400)))
        limit = rng.randint(1, 300)
        pieces = list(chunks(text, limit))
        assert "".join(p for _, p in pieces) == text
        for off, piece in pieces:
            assert text[off:off + len(piece)] == piece
            assert 0 < len(piece) <= limit


def test_chunks_prefer_paragraph_breaks_and_never_split_words_when_avoidable():
    text = "alpha beta gamma.\n\ndelta epsilon zeta eta theta iota kappa"
    pieces = [p for _, p in chunks(text, 30)]
    assert pieces[0] == "alpha beta gamma.\n\n"
    assert all(not p.startswith(("lta", "psilon")) for p in pieces)


def test_locate_keeps_only_verbatim_mentions_with_exact_offsets():
    note = "Pt with Pneumonia; started ceftriaxone. Pneumonia improving."
    spans, dropped = locate(note, [
        {"text": "pneumonia", "category": "MEDICAL_CONDITION"},
        {"text": "pneumonia", "category": "MEDICAL_CONDITION"},  # second mention -> second occurrence
        {"text": "ceftriaxone", "category": "MEDICATION"},
        {"text": "sepsis", "category": "MEDICAL_CONDITION"},  # not in the note: dropped
        {"text": "Pneumo", "category": "MEDICAL_CONDITION"},  # only inside a word: dropped
        {"text": "ceftriaxone", "category": "NOT_A_CATEGORY"},
    ], offset=100)
    assert dropped == 3
    assert [(s["begin_offset"] - 100, s["end_offset"] - 100) for s in spans] == [(8, 17), (40, 49), (27, 38)]
    for s in spans:
        assert note[s["begin_offset"] - 100:s["end_offset"] - 100].lower() in ("pneumonia", "ceftriaxone")


@pytest.mark.parametrize("text, flagged", [
    ("El paciente presenta dolor torácico desde hace dos días, sin fiebre, con tos y disnea. "
     "Se inicia tratamiento con paracetamol para el dolor y se solicita radiografía de tórax.", True),
    ("Пациент жалуется на боль в груди и одышку в течение двух дней, температура нормальная, "
     "назначено лечение и рентген грудной клетки", True),
    ("Patient presents with chest pain for two days, no fever, with cough and dyspnea. "
     "Started acetaminophen for the pain and ordered a chest x-ray of the patient.", False),
    ("BP 140/90 HR 88 RR 18 SpO2 97% RA. CXR: no infiltrate. Plan: ASA 81 mg daily, f/u 2 wk", False),
])
def test_language_warning(text, flagged):
    assert (language_warning(text) is not None) is flagged


def test_extractor_refuses_empty_oversized_and_unknown_strategy(tmp_path):
    from bedside.config import Settings

    ex = Extractor("rules", settings=Settings(max_note_bytes=100, data_dir=tmp_path), link_icd10=False)
    with pytest.raises(InputError, match="empty"):
        ex.extract("   \n ")
    with pytest.raises(InputError, match="limit is 100"):
        ex.extract("fever " * 30)
    with pytest.raises(InputError, match="unknown strategy"):
        Extractor("magic", link_icd10=False)
    outcomes = list(ex.extract_many(["fever and cough", "", "x" * 200]))
    assert outcomes[0].document is not None and outcomes[0].error is None
    assert isinstance(outcomes[1].error, InputError) and isinstance(outcomes[2].error, InputError)


def test_section_headings_are_cut_out_of_model_sentences():
    from bedside.extract.spans import _without_headings

    # "Chief Complaint:" heads the first sentence; "Plan:" stands inside the second.
    assert _without_headings([(0, 40), (41, 80)], [(0, 16), (60, 65)]) == [(16, 40), (41, 60), (65, 80)]
    assert _without_headings([(0, 10)], [(0, 10)]) == []  # a heading alone on its line
    assert _without_headings([(0, 10)], []) == [(0, 10)]


def test_shipped_model_reads_note_lines_without_their_heading():
    from bedside.extract.spans import ModelSpans

    note = "Chief Complaint: Chest pain and shortness of breath since this morning.\n"
    spans = ModelSpans().spans([note])[0]
    found = [(s["text"], s["category"]) for s in spans]
    assert ("Chest pain", "MEDICAL_CONDITION") in found and ("shortness of breath", "MEDICAL_CONDITION") in found
    assert all(s["begin_offset"] >= len("Chief Complaint: ") for s in spans)  # the heading is not model input
    assert all(note[s["begin_offset"]:s["end_offset"]] == s["text"] for s in spans)


def test_a_qualifier_is_joined_to_the_condition_it_precedes():
    """'type 2' | 'diabetes mellitus' as the model may tag them: one entity, whatever the scores."""
    from bedside.extract.spans import QUALIFIER, ModelSpans

    assert QUALIFIER.fullmatch("type 2") and QUALIFIER.fullmatch("Stage IV") and not QUALIFIER.fullmatch("type")
    note = "67-year-old man with type 2 diabetes mellitus and stage IV breast cancer."
    found = [s["text"] for s in ModelSpans().spans([note])[0]]
    assert "type 2 diabetes mellitus" in found and "stage IV breast cancer" in found


def test_an_untagged_type_qualifier_before_a_condition_is_taken_in():
    """In this note the model tagged "diabetes mellitus" without "Type 2" (a different ICD-10 category)."""
    from bedside.extract.spans import TYPE_BEFORE, ModelSpans

    assert TYPE_BEFORE.search("3. Type 2 ") and TYPE_BEFORE.search("with type II ") and not TYPE_BEFORE.search("type ")
    note = (DATA / "discharge_note.txt").read_text(encoding="utf-8")
    spans = ModelSpans().spans([note])[0]
    assert "Type 2 diabetes mellitus" in [s["text"] for s in spans]
    assert all(note[s["begin_offset"]:s["end_offset"]] == s["text"] for s in spans)


_PHI_NOTE = ("Patient seen by Dr. Maria Lopez on 03/14/2024, MRN 12345678. Lives at 42 Oak Street, Springfield, "
             "MA 01101. Phone (413) 555-0199.")


def test_phi_names_ids_and_addresses_from_the_deidentifier():
    from bedside.extract.phi import PhiSpans

    found = {(s["type"], s["text"]) for s in PhiSpans().spans(_PHI_NOTE)}
    assert {("NAME", "Maria Lopez"), ("ID", "12345678"), ("ADDRESS", "42 Oak Street"), ("ADDRESS", "Springfield"),
            ("ADDRESS", "01101")} <= found
    # recall-first name rules stay out: relatives' words, a sentence that ends on a title word
    quiet = "Her son Ig G titre was low. It was the friend professor. CD is susceptible to friends. Springfield."
    assert PhiSpans().spans(quiet) == []


def test_a_phi_name_is_not_a_medication():
    """The entity model tagged "Maria Lopez" as a MEDICATION; the title-cued PHI name wins."""
    with Extractor("default", link_icd10=False) as ex:
        doc = ex.extract(_PHI_NOTE)
    by_text = {e.text: (e.category, e.type) for e in doc.entities}
    assert by_text["Maria Lopez"] == ("PROTECTED_HEALTH_INFORMATION", "NAME")
    assert by_text["12345678"] == ("PROTECTED_HEALTH_INFORMATION", "ID")
    assert by_text["(413) 555-0199"] == ("PROTECTED_HEALTH_INFORMATION", "PHONE_OR_FAX")
    with Extractor("default", link_icd10=False, phi=False) as ex:
        assert "Maria Lopez" not in {e.text for e in ex.extract(_PHI_NOTE).entities if e.category.startswith("PROT")}
