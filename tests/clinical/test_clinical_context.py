"""ConText traits: trigger scope, terminators, sections, and the trait names of issue 3.

Each case gives a sentence and the traits expected on each condition in it; the conditions are passed
as entity spans, as the trained model would pass them, so the test measures the trait layer alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clinical_helpers import shared_pipeline

from bedside.clinical import ConText, RulePipeline
from bedside.clinical.resources import default_dir
from bedside.errors import ConfigError, InputError


@pytest.fixture
def pipeline() -> RulePipeline:
    return shared_pipeline()

CONTEXT = {"NEGATION", "PAST_HISTORY", "HYPOTHETICAL", "PERTAINS_TO_FAMILY", "LOW_CONFIDENCE"}


def context_traits(pipeline: RulePipeline, text: str, terms: list[str], category="MEDICAL_CONDITION"):
    spans, pos = [], 0
    for term in terms:
        begin = text.index(term, pos)
        spans.append({"begin_offset": begin, "end_offset": begin + len(term), "category": category, "text": term})
        pos = begin + len(term)
    return [{t.name for t in ts} & CONTEXT for ts in pipeline.traits_for(text, spans)]


CASES = [
    # negation scope and terminators
    ("No chest pain but has fever.", ["chest pain", "fever"], [{"NEGATION"}, set()]),
    ("He denies chest pain or fever.", ["chest pain", "fever"], [{"NEGATION"}, {"NEGATION"}]),
    ("Denies fever, chills, night sweats, or weight loss.", ["fever", "chills", "night sweats", "weight loss"],
     [{"NEGATION"}] * 4),
    ("No fever. Has cough.", ["fever", "cough"], [{"NEGATION"}, set()]),
    ("Negative for fever, positive for cough.", ["fever", "cough"], [{"NEGATION"}, set()]),
    ("Patient reports chest pain, no dyspnea.", ["chest pain", "dyspnea"], [set(), {"NEGATION"}]),
    ("Without evidence of pneumonia.", ["pneumonia"], [{"NEGATION"}]),
    ("Pulmonary embolism was ruled out.", ["Pulmonary embolism"], [{"NEGATION"}]),
    ("Myocardial infarction has been ruled out; stroke is unlikely.", ["Myocardial infarction", "stroke"],
     [{"NEGATION"}, {"NEGATION"}]),
    ("Pain free since surgery.", ["Pain"], [{"NEGATION"}]),
    ("DVT prophylaxis with heparin.", ["DVT"], [{"NEGATION"}]),
    ("No change in edema.", ["edema"], [set()]),  # pseudo-trigger
    ("Gram negative rods in blood; sepsis.", ["sepsis"], [set()]),
    ("Fever has resolved.", ["Fever"], [{"NEGATION"}]),
    ("Not taking aspirin.", ["aspirin"], [{"NEGATION"}]),
    ("No evidence of pneumonia on chest X-ray.", ["pneumonia", "chest X-ray"], [{"NEGATION"}, set()]),
    ("Extremities: No edema.", ["edema"], [{"NEGATION"}]),
    ("Fever: no. Cough: yes.", ["Fever", "Cough"], [{"NEGATION"}, set()]),
    # history
    ("History of hypertension and diabetes.", ["hypertension", "diabetes"], [{"PAST_HISTORY"}, {"PAST_HISTORY"}]),
    ("Status post appendectomy.", ["appendectomy"], [{"PAST_HISTORY"}]),
    ("H/o stroke, now presents with chest pain.", ["stroke", "chest pain"], [{"PAST_HISTORY"}, set()]),
    ("No history of stroke.", ["stroke"], [{"NEGATION"}]),
    ("CAD s/p CABG 2015, HFrEF.", ["CAD", "CABG", "HFrEF"], [set(), {"PAST_HISTORY"}, set()]),
    ("A 2-day history of fever.", ["fever"], [set()]),  # a duration, not past history
    # hypothetical
    ("Return if chest pain or shortness of breath develops.", ["chest pain", "shortness of breath"],
     [{"HYPOTHETICAL"}, {"HYPOTHETICAL"}]),
    ("Rule out pulmonary embolism.", ["pulmonary embolism"], [{"HYPOTHETICAL"}]),
    ("CT to evaluate for appendicitis.", ["appendicitis"], [{"HYPOTHETICAL"}]),
    ("Oxycodone 5 mg q4h prn pain.", ["pain"], [{"HYPOTHETICAL"}]),
    ("At risk for falls.", ["falls"], [{"HYPOTHETICAL"}]),
    # family
    ("Mother with breast cancer.", ["breast cancer"], [{"PERTAINS_TO_FAMILY"}]),
    ("Mother has diabetes; father had a stroke.", ["diabetes", "stroke"],
     [{"PERTAINS_TO_FAMILY"}, {"PERTAINS_TO_FAMILY"}]),
    ("Family history of colon cancer.", ["colon cancer"], [{"PERTAINS_TO_FAMILY"}]),
    ("No family history of stroke.", ["stroke"], [{"NEGATION", "PERTAINS_TO_FAMILY"}]),
    ("His daughter reports that he has had fever.", ["fever"], [set()]),
    # the relative is who brought the patient or told the story, not who has the condition
    ("4 yo M brought in by mother with 2 days of fever and cough.", ["fever", "cough"], [set(), set()]),
    ("Per his father, he has had diarrhea since Monday.", ["diarrhea"], [set()]),
    ("Lives with her parents; history of asthma.", ["asthma"], [{"PAST_HISTORY"}]),
    ("Brought in by mother. Mother has asthma.", ["asthma"], [{"PERTAINS_TO_FAMILY"}]),
    # uncertainty
    ("Possible pneumonia.", ["pneumonia"], [{"LOW_CONFIDENCE"}]),
    ("Likely viral syndrome.", ["viral syndrome"], [{"LOW_CONFIDENCE"}]),
    ("Findings concerning for malignancy.", ["malignancy"], [{"LOW_CONFIDENCE"}]),
    ("Pneumonia vs atelectasis.", ["Pneumonia", "atelectasis"], [{"LOW_CONFIDENCE"}, {"LOW_CONFIDENCE"}]),
    ("Appendicitis cannot be excluded.", ["Appendicitis"], [{"LOW_CONFIDENCE"}]),
    ("Pneumonia?", ["Pneumonia"], [{"LOW_CONFIDENCE"}]),
    # scope ends at the sentence
    ("No fever\nCough for 3 days", ["fever", "Cough"], [{"NEGATION"}, set()]),
    ("Denies chest pain.\n1. Hypertension", ["chest pain", "Hypertension"], [{"NEGATION"}, set()]),
    # plain mention
    ("Chest pain radiating to the left arm.", ["Chest pain"], [set()]),
    # a trigger that overlaps the entity's first word ("no acute" + "acute pulmonary disease")
    ("No acute pulmonary disease.", ["acute pulmonary disease"], [{"NEGATION"}]),
    # a trigger word inside the entity is not a trigger for it
    ("No-reflow phenomenon after stenting.", ["No-reflow phenomenon"], [set()]),
    # not taking a drug ("on" ends a negation elsewhere: "no fever, started on antibiotics")
    ("Pt is not on anticoagulation; not taking aspirin.", ["anticoagulation", "aspirin"],
     [{"NEGATION"}, {"NEGATION"}]),
    ("No fever, started on antibiotics.", ["fever", "antibiotics"], [{"NEGATION"}, set()]),
    # "non-" before an exam finding, not inside a condition's name
    ("Abdomen soft, non-tender, non-distended.", ["tender", "distended"], [{"NEGATION"}, {"NEGATION"}]),
    ("Non-small cell lung cancer.", ["Non-small cell lung cancer"], [set()]),
    # what a condition resolved with is not negated
    ("Headache resolved with acetaminophen.", ["Headache", "acetaminophen"], [{"NEGATION"}, set()]),
    # a finding affirmed in its own clause leaves the negated list ("present" ends the scope at the comma)
    ("No fever, cough present.", ["fever", "cough"], [{"NEGATION"}, set()]),
    ("No edema, rash or murmur present.", ["edema", "rash", "murmur"], [{"NEGATION"}] * 3),
    ("No cough present.", ["cough"], [{"NEGATION"}]),
    # phrases that start with a negation word but negate nothing after them (CodiEsp case reports)
    ("A 33-year-old male, with no known medical history, was admitted with ischemic stroke.",
     ["ischemic stroke"], [set()]),
    ("A 92-year-old woman, without known drug allergies, with a history of hypertension.",
     ["hypertension"], [{"PAST_HISTORY"}]),
    ("Treatment with no disappearance of the episodes and side effects (mainly insomnia).", ["insomnia"], [set()]),
    ("Due to the lack of response to treatment, an ultrasound showed bladder lesions.", ["bladder lesions"], [set()]),
    ("Tissue without epithelium and a postsurgical diagnosis of aneurysmal bone cyst.",
     ["epithelium", "aneurysmal bone cyst"], [{"NEGATION"}, set()]),
    ("No history of asthma.", ["asthma"], [{"NEGATION"}]),
    ("A woman with no previous neurological history, asthma and treated with oral contraceptives.",
     ["asthma"], [set()]),
    ("Abdominal ultrasound: no sign of thrombosis.", ["ultrasound", "thrombosis"], [set(), {"NEGATION"}]),
    ("There were no complications, and the drain was removed 13 days after surgery.",
     ["complications", "surgery"], [{"NEGATION"}, set()]),
    ("No treatment was performed and the patient was admitted to hospice.", ["treatment", "hospice"],
     [{"NEGATION"}, set()]),
    ("No fever, chills, and sweats.", ["fever", "chills", "sweats"], [{"NEGATION"}] * 3),
    ("She had no fever, was found to have pneumonia.", ["fever", "pneumonia"], [{"NEGATION"}, set()]),
    # "no effect" judges a treatment; it negates nothing after it (an ICU nursing note)
    ("Carotid massage was done with no effect followed by a seizure.", ["seizure"], [set()]),
    # "DVT prophylaxis": the condition right before it is prevented, not present; nothing further back
    ("Heparin for DVT prophylaxis.", ["DVT"], [{"NEGATION"}]),
]


@pytest.mark.parametrize(("text", "terms", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_trait_scope(pipeline, text, terms, expected):
    assert context_traits(pipeline, text, terms) == expected


def test_a_tests_result_after_its_colon_does_not_negate_the_test(pipeline):
    text = "Chest x-ray: No focal consolidation. Urine culture: negative. Fever: no."
    spans = [{"begin_offset": text.index(t), "end_offset": text.index(t) + len(t), "category": c}
             for t, c in [("Chest x-ray", "TEST_TREATMENT_PROCEDURE"), ("focal consolidation", "MEDICAL_CONDITION"),
                          ("Urine culture", "TEST_TREATMENT_PROCEDURE"), ("Fever", "MEDICAL_CONDITION")]]
    got = [{t.name for t in ts} & CONTEXT for ts in pipeline.traits_for(text, spans)]
    assert got == [set(), {"NEGATION"}, set(), {"NEGATION"}]


def test_family_history_section_marks_every_condition(pipeline):
    text = "Family History: Mother with breast cancer. Father died of myocardial infarction at 60.\nPlan: aspirin"
    assert context_traits(pipeline, text, ["breast cancer", "myocardial infarction"]) == [
        {"PERTAINS_TO_FAMILY"}, {"PERTAINS_TO_FAMILY"}]


def test_the_family_history_section_ends_at_the_next_exam_or_soap_heading(pipeline):
    # "MSE:" (a psychiatric note's mental status exam) had not ended "FH:", so "No psychosis" was the family's
    text = "FH: Mother with bipolar disorder.\nMSE: Alert. No psychosis.\nO: Crackles at the base."
    assert context_traits(pipeline, text, ["bipolar disorder", "psychosis", "Crackles"]) == [
        {"PERTAINS_TO_FAMILY"}, {"NEGATION"}, set()]


def test_past_medical_history_section_marks_past_history(pipeline):
    text = "Past Medical History:\n1. Hypertension\n2. Type 2 diabetes mellitus\nHPI: cough"
    assert context_traits(pipeline, text, ["Hypertension", "Type 2 diabetes mellitus", "cough"]) == [
        {"PAST_HISTORY"}, {"PAST_HISTORY"}, set()]


def test_heading_words_are_not_triggers(pipeline):
    # "History" in the heading must not make the HPI's conditions historical.
    text = "History of Present Illness: cough and fever for two days."
    assert context_traits(pipeline, text, ["cough", "fever"]) == [set(), set()]


def test_traits_apply_only_to_their_categories(pipeline):
    text = "Mother takes aspirin."  # family is about conditions, not the patient's medications
    assert context_traits(pipeline, text, ["aspirin"], category="MEDICATION") == [set()]
    assert context_traits(pipeline, "No aspirin.", ["aspirin"], category="MEDICATION") == [{"NEGATION"}]
    assert context_traits(pipeline, "Patient denies alcohol.", ["alcohol"],
                          category="BEHAVIORAL_ENVIRONMENTAL_SOCIAL") == [{"NEGATION"}]


def test_scores_fall_with_distance_and_stay_in_range(pipeline):
    text = "Denies fever, chills, nausea, vomiting, diarrhea, constipation, dysuria, hematuria or rash."
    spans = [{"begin_offset": text.index(w), "end_offset": text.index(w) + len(w), "category": "MEDICAL_CONDITION"}
             for w in ("fever", "rash")]
    near, far = (next(t.score for t in ts if t.name == "NEGATION") for ts in pipeline.traits_for(text, spans))
    assert 0.5 <= far < near <= 1.0


def test_condition_kinds_from_the_lexicon_and_the_section(pipeline):
    text = "Chief Complaint: chest pain and wheezing.\nExam: crackles.\nAssessment: heart failure; frobnitz syndrome."
    terms = ["chest pain", "crackles", "heart failure", "frobnitz syndrome"]
    spans = [{"begin_offset": text.index(t), "end_offset": text.index(t) + len(t), "category": "MEDICAL_CONDITION"}
             for t in terms]
    kinds = [{t.name for t in ts} & {"SYMPTOM", "SIGN", "DIAGNOSIS"} for ts in pipeline.traits_for(text, spans)]
    assert kinds == [{"SYMPTOM"}, {"SIGN"}, {"DIAGNOSIS"}, {"DIAGNOSIS"}]  # the last one by its section


def test_traits_for_checks_its_input(pipeline):
    with pytest.raises(InputError, match="offsets"):
        pipeline.traits_for("short", [{"begin_offset": 2, "end_offset": 40, "category": "MEDICAL_CONDITION"}])
    with pytest.raises(InputError, match="does not match"):
        pipeline.traits_for("chest pain", [{"begin": 0, "end": 5, "category": "MEDICAL_CONDITION", "text": "CHEST"}])
    with pytest.raises(InputError, match="category"):
        pipeline.traits_for("chest pain", [{"begin": 0, "end": 5}])
    with pytest.raises(InputError, match="str"):
        pipeline.traits_for(b"chest pain", [])


def _copy_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(default_dir(), folder)
    return folder


def test_a_trigger_listed_twice_is_a_config_error(tmp_path):
    folder = _copy_rules(tmp_path)
    path = folder / "context_rules.json"
    data = json.loads(path.read_text())
    data["rules"][0]["phrases"].append("denies")
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="'denies' is listed twice"):
        ConText(folder)


def test_rules_are_data_a_site_can_extend(tmp_path):
    folder = _copy_rules(tmp_path)
    path = folder / "context_rules.json"
    data = json.loads(path.read_text())
    data["rules"].append({"category": "NEGATED_EXISTENCE", "direction": "FORWARD", "phrases": ["nie"]})
    path.write_text(json.dumps(data))
    custom = RulePipeline(folder)
    assert context_traits(custom, "nie pneumonia.", ["pneumonia"]) == [{"NEGATION"}]


def test_prophylaxis_negates_only_the_condition_right_before_it(pipeline):
    doc = pipeline("There was a history of allergy to contrast agents and prophylaxis with steroids was given.")
    allergy = [e for e in doc.entities if e.type == "ALLERGIES"]
    assert allergy and "NEGATION" not in {t.name for t in allergy[0].traits}
