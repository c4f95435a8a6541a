"""Tokens, phrase matching, sections and sentences: the layers every other rule stands on."""

from __future__ import annotations

from bedside.clinical import Sectionizer, SentenceSplitter, Span
from bedside.clinical.regex import fold
from bedside.clinical.spans import Occupied, Overlapping, PhraseMatcher, Tokens, drop_overlaps, expand


def test_tokens_keep_offsets_and_fold_case():
    text = "Pt’s BP 140/90, b.i.d."
    tokens = Tokens.of(text, fold(text))
    for i in range(len(tokens)):
        assert text[tokens.starts[i]:tokens.ends[i]] == tokens.word(i)
    assert tokens.keys[:3] == ["pt", "'", "s"]
    assert "b" in tokens.keys and "/" in tokens.keys


def test_fold_refuses_a_length_changing_lowercase():
    assert fold("Chest PAIN") == "chest pain"
    assert fold("İzmir") is None  # 'İ'.lower() is two code points: offsets would move


def test_expand_alternatives_and_optional_slots():
    assert expand("no (evidence|sign) (of|for)?") == [
        "no evidence of", "no evidence for", "no evidence", "no sign of", "no sign for", "no sign"]


def test_phrase_matcher_prefers_the_longest_and_respects_exact_case():
    m: PhraseMatcher[str] = PhraseMatcher()
    m.add("heart failure", "dx")
    m.add("systolic heart failure", "dx-long")
    m.add("MI", "abbrev", exact=True)
    text = "Systolic heart failure; mi is not MI."
    tokens = Tokens.of(text, fold(text))
    found = [(text[x.begin:x.end], x.payload) for x in m.finditer(tokens)]
    assert found == [("Systolic heart failure", "dx-long"), ("MI", "abbrev")]


def test_drop_overlaps_keeps_the_longest_and_occupied_answers_overlaps():
    text = "chest x-ray of the chest"
    spans = [Span.of(text, 0, 5), Span.of(text, 0, 11), Span.of(text, 19, 24)]
    assert [s.text for s in drop_overlaps(spans)] == ["chest x-ray", "chest"]
    occupied = Occupied(spans)
    assert occupied.hits(3, 4) and occupied.hits(10, 20) and not occupied.hits(11, 19)
    overlapping = Overlapping(spans)  # which spans, not only whether: a long one reaches past shorter ones
    assert [s.text for s in overlapping(9, 10)] == ["chest x-ray"]
    assert [s.text for s in overlapping(3, 20)] == ["chest", "chest x-ray", "chest"]
    assert overlapping(11, 19) == [] and Overlapping([])(0, 5) == []


NOTE = (
    "DISCHARGE SUMMARY\n"
    "Chief Complaint: chest pain\n"
    "HISTORY OF PRESENT ILLNESS:\n"
    "65M with cough.\n"
    "  Family history: Mother with breast cancer.\n"
    "PHYSICAL EXAM\n"
    "Lungs clear. Plan: discharge home.\n"
    "BP: 120/80\n"
)


def test_sections_from_colon_headings_whole_line_headings_and_inline_headings():
    sections = Sectionizer()(NOTE)
    assert [s.name for s in sections] == [
        "preamble", "chief_complaint", "history_of_present_illness", "family_history", "physical_exam",
        "assessment_and_plan",
    ]
    for s in sections[1:]:
        assert NOTE[s.heading_begin:s.heading_end].rstrip(":").strip()
    fh = sections[3]
    assert NOTE[fh.heading_begin:fh.heading_end] == "Family history:"
    assert NOTE[fh.heading_end:fh.end].strip() == "Mother with breast cancer."
    assert sections[-1].end == len(NOTE)  # "BP:" is a label, not a known heading


def test_sections_of_text_without_headings_and_crlf_text():
    assert [s.name for s in Sectionizer()("No headings here.")] == ["preamble"]
    text = "Allergies: NKDA\r\nMedications:\r\naspirin\r\n"
    sections = Sectionizer()(text)
    assert [s.name for s in sections] == ["allergies", "medications"]
    assert text[sections[1].heading_begin:sections[1].heading_end] == "Medications:"


def _sentences(text: str) -> list[str]:
    return [text[b:e] for b, e in SentenceSplitter()(text)]


def test_sentences_keep_abbreviations_and_decimals_together():
    text = "Seen by Dr. Smith on 3.5 mg of warfarin. Takes metformin 500 mg b.i.d. He denies pain. Pt. is stable."
    assert _sentences(text) == [
        "Seen by Dr. Smith on 3.5 mg of warfarin.", "Takes metformin 500 mg b.i.d.", "He denies pain.",
        "Pt. is stable.",
    ]


def test_sentences_split_numbered_and_bulleted_lists_and_labels():
    text = "Meds:\n1. Aspirin 81 mg daily\n2. Lisinopril 10 mg daily\n- Atorvastatin 40 mg qhs\nBP: 120/80\nHR: 88"
    assert _sentences(text) == [
        "Meds:", "1. Aspirin 81 mg daily", "2. Lisinopril 10 mg daily", "- Atorvastatin 40 mg qhs", "BP: 120/80",
        "HR: 88",
    ]


def test_sentences_join_wrapped_lines_and_split_unpunctuated_ones():
    text = "Man with heart failure, diabetes and\nhypertension, admitted with\nDyspnea.\nDenies fever\nCough for 3 days"
    assert _sentences(text) == [
        "Man with heart failure, diabetes and\nhypertension, admitted with\nDyspnea.", "Denies fever",
        "Cough for 3 days",
    ]


def test_a_full_stop_at_the_end_of_a_line_ends_the_sentence_before_a_lower_case_line():
    text = "No UTIs.\nfever occasionally, sweating.\nSeen by Dr.\nsmith today"
    assert _sentences(text) == ["No UTIs.", "fever occasionally, sweating.", "Seen by Dr.\nsmith today"]


def test_a_short_line_ends_its_sentence_even_before_a_lower_case_line():
    # an ICU note's assessment list: the family's trait had reached the acidosis on the next line
    text = ("family with difficulty coping\nacidosis rx with bicarb and vent changes\nHx of DM,\nhtn and CAD\n"
            "Admitted overnight for observation after a fall at home\nwithout loss of consciousness")
    assert _sentences(text) == [
        "family with difficulty coping", "acidosis rx with bicarb and vent changes", "Hx of DM,\nhtn and CAD",
        "Admitted overnight for observation after a fall at home\nwithout loss of consciousness",
    ]


def test_sentences_split_on_questions_exclamations_and_blank_lines():
    assert _sentences("Chest pain? No. Fever! Yes\n\nnew paragraph") == [
        "Chest pain?", "No.", "Fever!", "Yes", "new paragraph"]


def test_sentences_of_a_range_and_of_empty_text():
    text = "Heading: One. Two."
    assert [text[b:e] for b, e in SentenceSplitter()(text, 9)] == ["One.", "Two."]
    assert SentenceSplitter()("") == []
    assert SentenceSplitter()(" \n\t ") == []
