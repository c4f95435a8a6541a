"""The whole rule pipeline: the fixture discharge note, other detectors' spans, output formats, hard input."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from clinical_helpers import assert_exact, attributes, detected, entity, shared_pipeline, traits

from bedside.clinical import Document, RulePipeline, Span
from bedside.clinical.resources import default_dir
from bedside.errors import ConfigError, InputError


@pytest.fixture
def pipeline() -> RulePipeline:
    return shared_pipeline()

NOTE = resources.files("bedside").joinpath("resources/examples/discharge_note.txt").read_text(encoding="utf-8")

# A second synthetic note (written for these tests; not a real patient), different in shape from the first.
CLINIC_NOTE = """\
CC: cough x 2 weeks

HPI: 58 y/o F with h/o asthma and GERD presents with productive cough for the past 2 weeks, worse at night.
Denies fever, chills, hemoptysis or chest pain. Tried OTC guaifenesin without relief. No sick contacts.

PMH:
- Asthma
- GERD
- Hyperlipidemia

Medications:
- Albuterol 2 puffs inhaled q4-6h prn wheezing
- Omeprazole 20 mg PO daily before breakfast
- Atorvastatin 20 mg PO qhs

Allergies: Sulfa allergy (hives).

Social History: Former smoker, quit 2010, 15 pack-year history. Drinks 1 glass of wine per week.
Denies illicit drug use.

Family History: Father with COPD. Sister with asthma.

Exam: T 37.2 C, HR 84, BP 128/76, SpO2 97% on room air. Scattered wheezes bilaterally. No clubbing.

Labs: WBC 8.1 K/uL, Hgb 13.5 g/dL.

Assessment/Plan:
1. Cough, likely post-viral vs asthma exacerbation. Possible GERD contribution.
   - Prednisone 40 mg PO daily x 5 days
   - Continue albuterol as needed
   - Chest X-ray to rule out pneumonia
2. Return if fever or shortness of breath develops. Follow up in 2 weeks.
"""


@pytest.fixture(scope="module")
def note_doc() -> Document:
    doc = shared_pipeline()(NOTE)
    assert_exact(doc, NOTE)
    return doc


def test_fixture_note_medications_and_sigs(note_doc):
    meds = [e for e in note_doc.entities if e.category == "MEDICATION"]
    assert [e.text for e in meds] == ["furosemide", "furosemide", "Furosemide", "Lisinopril", "Metformin", "Carvedilol"]
    assert {e.type for e in meds} == {"GENERIC_NAME"}
    for drug, strength in (("Furosemide", "40 mg"), ("Lisinopril", "10 mg")):
        assert attributes(note_doc, drug) == {"DOSAGE": [strength], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["daily"]}
    assert attributes(note_doc, "Metformin") == {
        "DOSAGE": ["500 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["twice daily"]}
    assert attributes(note_doc, "Carvedilol") == {
        "DOSAGE": ["6.25 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["twice daily"]}
    assert attributes(note_doc, "furosemide")["ROUTE_OR_MODE"] == ["IV"]


def test_fixture_note_labs(note_doc):
    assert attributes(note_doc, "Creatinine") == {"TEST_VALUE": ["1.4", "1.2"], "TEST_UNIT": ["mg/dL", "mg/dL"]}
    assert attributes(note_doc, "BNP") == {"TEST_VALUE": ["1850"], "TEST_UNIT": ["pg/mL"]}
    assert attributes(note_doc, "EF") == {"TEST_VALUE": ["30"], "TEST_UNIT": ["%"]}


def test_fixture_note_traits(note_doc):
    assert "PERTAINS_TO_FAMILY" in traits(note_doc, "breast cancer")
    assert "PERTAINS_TO_FAMILY" in traits(note_doc, "myocardial infarction")
    assert "NEGATION" in traits(note_doc, "chest pain") and "NEGATION" in traits(note_doc, "fever")
    assert "NEGATION" in traits(note_doc, "pneumonia")
    for condition in ("hypertension", "type 2 diabetes mellitus", "acute decompensated heart failure"):
        assert traits(note_doc, condition) == {"DIAGNOSIS"}
    assert traits(note_doc, "Shortness of breath") == {"SYMPTOM"}
    assert not [e for e in note_doc.entities if e.category == "MEDICATION" and e.traits]
    assert [s.name for s in note_doc.sections] == [
        "preamble", "chief_complaint", "history_of_present_illness", "hospital_course", "family_history",
        "medications", "assessment_and_plan"]


def test_fixture_note_output_is_valid_and_numbered(note_doc):
    assert Document.model_validate(note_doc.model_dump()) == note_doc
    ids = [e.id for e in note_doc.entities] + [a.id for e in note_doc.entities for a in e.attributes]
    assert sorted(ids) == list(range(len(ids)))
    assert [e.begin_offset for e in note_doc.entities] == sorted(e.begin_offset for e in note_doc.entities)
    for e in note_doc.entities:
        assert (e.icd10cm_concepts == []) == (e.category == "MEDICAL_CONDITION")
        assert 0 < e.score <= 1


def test_clinic_note(pipeline):
    doc = pipeline(CLINIC_NOTE)
    assert_exact(doc, CLINIC_NOTE)
    assert attributes(doc, "Albuterol") == {
        "DOSAGE": ["2 puffs"], "ROUTE_OR_MODE": ["inhaled"], "FREQUENCY": ["q4-6h prn"]}
    assert attributes(doc, "Prednisone") == {
        "DOSAGE": ["40 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["daily"], "DURATION": ["x 5 days"]}
    assert "FREQUENCY" in attributes(doc, "Omeprazole")
    for symptom in ("hemoptysis", "chest pain"):
        assert "NEGATION" in traits(doc, symptom)
    assert "PERTAINS_TO_FAMILY" in traits(doc, "COPD")
    assert "PAST_HISTORY" in traits(doc, "Hyperlipidemia")
    plan_gerd, plan_asthma = ([e for e in doc.entities if e.text == word][-1] for word in ("GERD", "asthma"))
    assert "LOW_CONFIDENCE" in {t.name for t in plan_gerd.traits}
    assert "LOW_CONFIDENCE" in {t.name for t in plan_asthma.traits}
    assert "HYPOTHETICAL" in traits(doc, "pneumonia")
    assert "HYPOTHETICAL" in traits(doc, "shortness of breath")
    assert entity(doc, "Former smoker").type == "TOBACCO_USE"
    assert "NEGATION" in traits(doc, "illicit drug use")
    assert attributes(doc, "Hgb") == {"TEST_VALUE": ["13.5"], "TEST_UNIT": ["g/dL"]}
    assert attributes(doc, "SpO2") == {"TEST_VALUE": ["97"], "TEST_UNIT": ["%"]}


@dataclass(frozen=True)
class ModelEntity:
    """What the trained model returns (bedside.ner.infer.Entity has these fields)."""

    text: str
    category: str
    begin_offset: int
    end_offset: int
    score: float


def _model(text: str, words: list[tuple[str, str]]) -> list[ModelEntity]:
    out = []
    for word, category in words:
        b = text.index(word)
        out.append(ModelEntity(word, category, b, b + len(word), 0.97))
    return out


def test_radiology_findings_are_conditions(pipeline):
    doc = pipeline("FINDINGS: Calcified granuloma. No focal consolidation, pleural effusion, or pneumothorax. "
                   "Vague opacity at the left lung base.")
    found = {e.text: {t.name for t in e.traits} for e in doc.entities if e.category == "MEDICAL_CONDITION"}
    assert "NEGATION" in found["focal consolidation"] and "NEGATION" in found["pneumothorax"]
    assert "NEGATION" not in found["Calcified granuloma"] and "NEGATION" not in found["opacity"]
    text = "The cardiomediastinal silhouette is normal. No effusions."
    doc = pipeline(text, [{"begin_offset": 4, "end_offset": 21, "category": "MEDICAL_CONDITION"}])
    assert [e.text for e in doc.entities if e.category == "MEDICAL_CONDITION"] == ["effusions"]


def test_model_entities_get_types_attributes_and_traits(pipeline):
    text = "Denies dyspnea. Started Lasix 20 mg IV BID. Sodium 131 mmol/L."
    given = _model(text, [("dyspnea", "MEDICAL_CONDITION"), ("Lasix", "MEDICATION"), ("Sodium", "MEDICATION")])
    doc = pipeline(text, given)
    assert_exact(doc, text)
    lasix = entity(doc, "Lasix")
    assert (lasix.type, lasix.score) == ("BRAND_NAME", 0.97)
    assert attributes(doc, "Lasix") == {"DOSAGE": ["20 mg"], "ROUTE_OR_MODE": ["IV"], "FREQUENCY": ["BID"]}
    assert traits(doc, "dyspnea") == {"NEGATION", "SYMPTOM"}
    # A chemical corpus tags analytes as chemicals: with a lab value after it, "Sodium" is a test.
    sodium = entity(doc, "Sodium")
    assert (sodium.category, sodium.type) == ("TEST_TREATMENT_PROCEDURE", "TEST_NAME")
    assert attributes(doc, "Sodium") == {"TEST_VALUE": ["131"], "TEST_UNIT": ["mmol/L"]}


def test_model_spans_win_over_overlapping_lexicon_spans(pipeline):
    text = "Chronic kidney disease stage 3."
    doc = pipeline(text, [{"begin_offset": 0, "end_offset": 30, "category": "MEDICAL_CONDITION"}])
    conditions = [e for e in doc.entities if e.category == "MEDICAL_CONDITION"]
    assert [c.text for c in conditions] == ["Chronic kidney disease stage 3"]
    assert attributes(doc, "Chronic kidney disease stage 3")["ACUITY"] == ["Chronic"]


def test_psychiatric_review_findings(pipeline):
    doc = pipeline("Denies SI/HI, AH/VH. Occasional panic attacks. Hx of OCD. SI joint pain.")
    assert traits(doc, "SI/HI") == {"NEGATION", "SYMPTOM"} and traits(doc, "AH/VH") == {"NEGATION", "SYMPTOM"}
    assert traits(doc, "panic attacks") == {"SYMPTOM"}
    assert entity(doc, "OCD").category == "MEDICAL_CONDITION"
    # "SI" alone is also the sacroiliac joint: only the paired forms are read as ideation
    assert not any(e.text == "SI" for e in doc.entities)


def test_an_ambiguous_abbreviation_keeps_one_reading_per_note(pipeline):
    text = "34F with MDD and GAD.\nA/P:\n2. GAD - start hydroxyzine 25 mg PO TID PRN."
    b = text.rindex("GAD")
    doc = pipeline(text, [{"begin_offset": b, "end_offset": b + 3, "category": "MEDICATION"}])
    assert [e.category for e in doc.entities if e.text == "GAD"] == ["MEDICAL_CONDITION"] * 2
    # read as a drug twice and as the lexicon's condition once: the drug reading wins, for all three
    text = "CP 50 mg IV then CP 100 mg IV. CP"
    given = [{"begin_offset": k, "end_offset": k + 2, "category": "MEDICATION"} for k in (0, 17)]
    assert [e.category for e in pipeline(text, given).entities if e.text == "CP"] == ["MEDICATION"] * 3


def test_fallback_off_leaves_medications_and_conditions_to_the_model():
    strict = RulePipeline(fallback=False)
    text = "Aspirin 81 mg daily for chest pain. Creatinine 1.1 mg/dL. Smokes 1 ppd."
    doc = strict(text)
    # Without a condition to claim it, "chest" is an ANATOMY entity of its own.
    assert {e.category for e in doc.entities} == {
        "TEST_TREATMENT_PROCEDURE", "BEHAVIORAL_ENVIRONMENTAL_SOCIAL", "ANATOMY"}
    given = [Span.of(text, 0, 7, category="MEDICATION")]
    assert attributes(strict(text, given), "Aspirin") == {"DOSAGE": ["81 mg"], "FREQUENCY": ["daily"]}


def test_bad_external_spans_are_input_errors(pipeline):
    with pytest.raises(InputError, match="outside the text"):
        pipeline("fever", [{"begin_offset": 0, "end_offset": 9, "category": "MEDICAL_CONDITION"}])
    with pytest.raises(InputError, match="integers"):
        pipeline("fever", [{"begin_offset": "0", "end_offset": 5, "category": "MEDICAL_CONDITION"}])
    with pytest.raises(InputError, match="score"):
        pipeline("fever", [{"begin_offset": 0, "end_offset": 5, "category": "MEDICAL_CONDITION", "score": 3}])


def test_json_in_bedside_and_comprehend_field_names(pipeline):
    doc = pipeline("Metformin 500 mg PO BID. Take 2 tablets daily.")
    data = json.loads(doc.to_json())
    med = data["entities"][0]
    assert set(med) == {"id", "text", "category", "type", "begin_offset", "end_offset", "score", "traits",
                        "attributes"}
    assert set(med["attributes"][0]) == {"id", "type", "category", "text", "begin_offset", "end_offset", "score",
                                         "relationship_score", "traits"}
    cm = doc.to_dict(style="comprehend")
    assert set(cm) == {"Entities", "UnmappedAttributes", "Sections"}
    e = cm["Entities"][0]
    assert {"Id", "BeginOffset", "EndOffset", "Attributes", "Traits", "Category", "Type", "Score", "Text"} <= set(e)
    assert "RelationshipScore" in e["Attributes"][0]
    assert cm["UnmappedAttributes"][0]["Type"] == "MEDICATION"
    assert "BeginOffset" in cm["UnmappedAttributes"][0]["Attribute"]
    condition = pipeline("Pneumonia.").to_dict(style="comprehend")["Entities"][0]
    assert condition["ICD10CMConcepts"] == []


def test_empty_and_blank_text(pipeline):
    assert pipeline("").to_dict() == {"entities": [], "unmapped_attributes": [], "sections": []}
    assert pipeline(" \n\t\n").entities == []
    with pytest.raises(InputError, match="decode bytes first"):
        pipeline(b"chest pain")


LATIN1 = "Patient présente une fièvre. Pas de douleur thoracique. Café au lait spots on the left arm.\n" \
         "Créatinine 1,2 mg/dL. Naïve to metformin 500 mg PO BID. Denies chest pain; reports fever."


@pytest.mark.parametrize("text", [
    LATIN1.encode("latin-1").decode("latin-1"),
    "Patient\u00a0denies\u00a0fever.\xadAspirin 81\u00a0mg daily.",  # Latin-1 no-break space and soft hyphen
    LATIN1.replace("\n", "\r\n"),
    "İstanbul: İİİ chest pain and aspirin 81 mg daily. No fever.",  # lower() would shift offsets here
    "Ωmega. 发烧。 Fever and cough.",
    "\x00\x01\x02 \ufffd binary-ish \x7f aspirin 81 mg",
])
def test_offsets_stay_exact_on_unusual_text(pipeline, text):
    doc = pipeline(text)
    assert_exact(doc, text)


def test_turkish_dotted_i_still_matches(pipeline):
    text = "İİ: chest pain and aspirin 81 mg daily. No fever."
    doc = pipeline(text)
    assert attributes(doc, "aspirin") == {"DOSAGE": ["81 mg"], "FREQUENCY": ["daily"]}
    assert "NEGATION" in traits(doc, "fever")


def test_long_note_offsets_and_linear_time(pipeline):
    long_note = "\n".join([NOTE, CLINIC_NOTE] * 100)  # about 300 KB
    start = time.process_time()
    doc = pipeline(long_note)
    elapsed = time.process_time() - start
    assert_exact(doc, long_note)
    assert len([e for e in doc.entities if e.text == "Carvedilol"]) == 100
    assert elapsed < 20, f"{elapsed:.1f}s for {len(long_note)} characters"
    one_line = "no fever and chest pain, aspirin 81 mg daily " * 3000  # one endless sentence
    doc = pipeline(one_line)
    assert_exact(doc, one_line)


def test_throughput_on_short_notes(pipeline):
    notes = [NOTE + NOTE[:1000], CLINIC_NOTE + CLINIC_NOTE[:400]]  # about 2 KB each
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(10):
            for n in notes:
                pipeline(n)
        best = min(best, (time.process_time() - start) / 20)
    rate = 1 / best
    assert rate >= 80, f"{rate:.0f} notes/s on one core"


def test_rule_files_are_small_sourced_and_loadable(tmp_path):
    folder = default_dir()
    files = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    for path in files:
        assert "_about" in json.loads(path.read_text(encoding="utf-8")), path.name
    assert (folder / "NOTICE.md").read_text().count("MIT License") == 1


def test_a_pattern_in_capitals_is_a_config_error(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for path in default_dir().iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    data = json.loads((folder / "time.json").read_text())
    data["patterns"][0]["regex"] = ["\\bYesterday\\b"]
    (folder / "time.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="lower case"):
        RulePipeline(folder)
    with pytest.raises(ConfigError, match="not found"):
        RulePipeline(Path(tmp_path / "missing"))


def test_a_detected_condition_inside_a_longer_listed_term_takes_the_term():
    text = "1. Acute on chronic systolic heart failure. 2. Nausea and vomiting. 3. Benign prostatic hyperplasia."
    dx = "MEDICAL_CONDITION"
    spans = detected(text, ("heart failure", dx), ("Nausea", dx), ("vomiting", dx), ("prostatic hyperplasia", dx))
    doc = shared_pipeline()(text, spans)
    conditions = [e.text for e in doc.entities if e.category == dx]
    # one detector span inside a term grows to it; a term holding two of them stays two entities
    assert conditions == ["systolic heart failure", "Nausea", "vomiting", "Benign prostatic hyperplasia"]
    assert attributes(doc, "systolic heart failure")["ACUITY"] == ["Acute on chronic"]
    assert_exact(doc, text)


def test_imaging_studies_written_with_slashes_are_one_test():
    text = "CT abdomen/pelvis with contrast showed acute appendicitis. CT A/P negative."
    doc = shared_pipeline()(text)
    assert entity(doc, "CT abdomen/pelvis").type == "TEST_NAME" and entity(doc, "CT A/P").type == "TEST_NAME"
    # "pelvis" is the study's, not a site of the appendicitis
    assert "SYSTEM_ORGAN_SITE" not in attributes(doc, "appendicitis")


def test_mixed_case_abbreviations_are_found_in_a_note_typed_in_capitals():
    doc = shared_pipeline()("PT HAS HX OF CHF AND AFIB ON COUMADIN. HGB 9.1, NA 134. PLAN: NA")
    assert entity(doc, "AFIB").category == "MEDICAL_CONDITION"  # listed as "AFib"
    assert attributes(doc, "HGB") == {"TEST_VALUE": ["9.1"]}
    assert attributes(doc, "NA") == {"TEST_VALUE": ["134"]}  # "Na" needs a value: "PLAN: NA" is no lab
    assert [e.text for e in doc.entities if e.text == "NA"] == ["NA"]
