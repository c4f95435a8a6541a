"""FHIR R4 output: the real rule pipeline's Documents converted, then re-parsed with fhir.resources."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from bedside.clinical import Concept, Document, RulePipeline
from bedside.errors import BedsideError, InputError
from bedside.extract import fhir
from bedside.extract.fhir import SPAN_URL, to_bundle, validate_bundle
from bedside.extract.fhir.validate import _walk as walk  # the validator's own tree walk

NOTE = resources.files("bedside").joinpath("resources/examples/discharge_note.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pipeline() -> RulePipeline:
    return RulePipeline()


def convert(pipeline: RulePipeline, text: str, **kwargs: Any) -> dict[str, Any]:
    bundle = to_bundle(pipeline(text), text, **kwargs)
    # Re-parse from JSON text, as a receiver would: the library must accept every entry.
    parsed = Bundle.model_validate_json(json.dumps(bundle))
    assert len(parsed.entry or []) == len(bundle["entry"])
    return bundle


def resources_of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_text(bundle: dict[str, Any], kind: str, text: str) -> list[dict[str, Any]]:
    field = {"MedicationStatement": "medicationCodeableConcept"}.get(kind, "code")
    return [r for r in resources_of(bundle, kind) if r[field]["text"] == text]


def codes(concept: dict[str, Any]) -> set[str]:
    return {c["code"] for c in concept.get("coding", [])}


def source_spans(node: Any) -> list[dict[str, Any]]:
    out = []
    for d in walk(node):
        for ext in d.get("extension") or ():
            if ext.get("url") == SPAN_URL:
                out.append({sub["url"]: next(v for k, v in sub.items() if k.startswith("value"))
                            for sub in ext["extension"]})
    return out


# -- the fixture note ---------------------------------------------------------------------------------------


def test_discharge_note_bundle_is_valid_and_holds_each_kind(pipeline):
    bundle = convert(pipeline, NOTE)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[:2] == ["Patient", "DocumentReference"]
    assert {"Condition", "FamilyMemberHistory", "MedicationStatement", "Observation"} <= set(kinds)
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    # Every urn:uuid reference points at an entry of the bundle.
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = [d["reference"] for d in walk(bundle) if isinstance(d.get("reference"), str)]
    assert refs and set(refs) <= urls


def test_every_resource_points_to_its_words_in_the_note(pipeline):
    bundle = convert(pipeline, NOTE)
    document = f"urn:uuid:{resources_of(bundle, 'DocumentReference')[0]['id']}"
    for entry in bundle["entry"][2:]:
        resource = entry["resource"]
        spans = source_spans(resource)
        assert spans, resource["resourceType"]
        for s in spans:
            assert NOTE[s["begin"]:s["end"]] == s["text"]
        assert {"url": fhir.SOURCE_URL, "valueReference": {"reference": document}} in resource["extension"]


def test_the_note_text_stays_out_of_the_bundle(pipeline):
    bundle = convert(pipeline, NOTE)
    strings = [v for d in walk(bundle) for v in d.values() if isinstance(v, str)]
    lines = [line.strip() for line in NOTE.splitlines() if len(line.strip()) > 30]
    assert lines
    for line in lines:
        assert not any(line in s for s in strings), line
    [doc] = resources_of(bundle, "DocumentReference")
    data = NOTE.encode("utf-8")
    attachment = doc["content"][0]["attachment"]
    assert "data" not in attachment and "url" not in attachment
    # FHIR R4 Attachment.hash is the SHA-1 of the data, base64-encoded; size is in bytes.
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert attachment["size"] == len(data)
    assert doc["masterIdentifier"]["value"] == hashlib.sha256(data).hexdigest()


def test_same_note_same_bundle_and_ids_depend_on_note_and_document_id(pipeline):
    first = json.dumps(convert(pipeline, NOTE), sort_keys=True)
    assert json.dumps(convert(pipeline, NOTE), sort_keys=True) == first
    other_id = convert(pipeline, NOTE, document_id="note-2")
    ids = {e["resource"]["id"] for e in json.loads(first)["entry"]}
    assert not ids & {e["resource"]["id"] for e in other_id["entry"]}
    assert resources_of(other_id, "DocumentReference")[0]["identifier"][0]["value"] == "note-2"
    changed = convert(pipeline, NOTE.replace("Lisinopril 10 mg", "Lisinopril 20 mg"))
    assert json.dumps(changed, sort_keys=True) != first


def test_family_history_becomes_family_member_history_not_patient_conditions(pipeline):
    bundle = convert(pipeline, NOTE)
    assert not by_text(bundle, "Condition", "breast cancer")
    assert not by_text(bundle, "Condition", "myocardial infarction")
    family = {r["relationship"]["coding"][0]["code"]: [c["code"]["text"] for c in r["condition"]]
              for r in resources_of(bundle, "FamilyMemberHistory")}
    assert family == {"MTH": ["breast cancer"], "FTH": ["myocardial infarction"]}
    for r in resources_of(bundle, "FamilyMemberHistory"):
        assert r["status"] == "partial"
        assert r["relationship"]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def test_lab_values_become_one_observation_each(pipeline):
    bundle = convert(pipeline, NOTE)
    values = [o["valueQuantity"] for o in by_text(bundle, "Observation", "Creatinine")]
    assert [(v["value"], v["unit"], v["code"]) for v in values] == [(1.4, "mg/dL", "mg/dL"), (1.2, "mg/dL", "mg/dL")]
    assert all(v["system"] == "http://unitsofmeasure.org" for v in values)
    # A test named without a value ("check basic metabolic panel in 3 days") is a plan, not a result.
    assert not by_text(bundle, "Observation", "basic metabolic panel")


# -- small notes --------------------------------------------------------------------------------------------


def test_negated_condition_is_refuted_and_the_affirmed_one_is_not(pipeline):
    bundle = convert(pipeline, "No chest pain but has fever.")
    [pain] = by_text(bundle, "Condition", "chest pain")
    [fever] = by_text(bundle, "Condition", "fever")
    assert codes(pain["verificationStatus"]) == {"refuted"}
    assert "clinicalStatus" not in pain  # a refuted condition has no clinical status to report
    assert pain["bodySite"] == [{"text": "chest"}]
    assert codes(fever["verificationStatus"]) == {"confirmed"}
    assert codes(fever["clinicalStatus"]) == {"active"}


def test_hedged_past_and_hypothetical_conditions(pipeline):
    text = "PMH: hypertension.\nAssessment: possible pneumonia. Return if fever develops."
    bundle = convert(pipeline, text)
    [htn] = by_text(bundle, "Condition", "hypertension")
    assert "clinicalStatus" not in htn and "past history" in htn["note"][0]["text"]
    [pna] = by_text(bundle, "Condition", "pneumonia")
    assert codes(pna["verificationStatus"]) == {"provisional"}
    assert not by_text(bundle, "Condition", "fever")


def test_medication_sig_becomes_a_structured_dosage(pipeline):
    bundle = convert(pipeline, "Metformin 500 mg PO BID.")
    [med] = by_text(bundle, "MedicationStatement", "Metformin")
    assert med["status"] == "active"
    [dosage] = med["dosage"]
    assert dosage["text"] == "500 mg PO BID"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 500, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert dosage["route"]["text"] == "PO" and codes(dosage["route"]) == {"26643006"}
    assert codes(dosage["timing"]["code"]) == {"BID"}
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


def test_doses_written_with_thousands_separators(pipeline):
    bundle = convert(pipeline, "Heparin 5,000 units SC TID.")
    [dosage] = by_text(bundle, "MedicationStatement", "Heparin")[0]["dosage"]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 5000  # had been 5 of ",000 units"


def test_prn_ranges_meal_timing_and_durations(pipeline):
    text = ("Medications:\n- Albuterol 2 puffs inhaled q4-6h prn wheezing\n"
            "- Omeprazole 20 mg PO daily before breakfast\n- Prednisone 40 mg PO daily x 5 days\n")
    bundle = convert(pipeline, text)
    [albuterol] = by_text(bundle, "MedicationStatement", "Albuterol")[0]["dosage"]
    assert albuterol["asNeededBoolean"] is True
    assert albuterol["timing"]["repeat"] == {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}
    assert albuterol["doseAndRate"][0]["doseQuantity"]["code"] == "{puff}"
    [omeprazole] = by_text(bundle, "MedicationStatement", "Omeprazole")[0]["dosage"]
    assert omeprazole["timing"]["repeat"]["when"] == ["ACM"]
    [prednisone] = by_text(bundle, "MedicationStatement", "Prednisone")[0]["dosage"]
    assert prednisone["timing"]["repeat"]["boundsDuration"] == {
        "value": 5, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


def test_negated_medication_is_not_taken(pipeline):
    bundle = convert(pipeline, "She is not taking aspirin.")
    [aspirin] = by_text(bundle, "MedicationStatement", "aspirin")
    assert aspirin["status"] == "not-taken"


def test_a_drug_named_as_an_allergy_is_an_allergy_not_a_medication_taken(pipeline):
    text = ("Allergies: Penicillin (rash), sulfa drugs - hives.\n"
            "Medications: lisinopril 10 mg daily.\n"
            "She is allergic to codeine (nausea). Not allergic to aspirin. Mother is allergic to morphine.\n")
    bundle = convert(pipeline, text)
    allergies = {r["code"]["text"]: r for r in resources_of(bundle, "AllergyIntolerance")}
    assert set(allergies) == {"Penicillin", "sulfa drugs", "codeine", "aspirin"}  # the mother's allergy is hers
    assert [m["text"] for m in allergies["Penicillin"]["reaction"][0]["manifestation"]] == ["rash"]
    assert [m["text"] for m in allergies["sulfa drugs"]["reaction"][0]["manifestation"]] == ["hives"]
    assert [m["text"] for m in allergies["codeine"]["reaction"][0]["manifestation"]] == ["nausea"]
    status = {k: r["verificationStatus"]["coding"][0]["code"] for k, r in allergies.items()}
    assert status == {"Penicillin": "confirmed", "sulfa drugs": "confirmed", "codeine": "confirmed",
                      "aspirin": "refuted"}
    assert all(r["category"] == ["medication"] for r in allergies.values()) and "reaction" not in allergies["aspirin"]
    # only the drug the patient takes is a MedicationStatement; reactions are no Conditions of their own
    taken = resources_of(bundle, "MedicationStatement")
    assert [r["medicationCodeableConcept"]["text"] for r in taken] == ["lisinopril"]
    assert not {r["code"]["text"] for r in resources_of(bundle, "Condition")} & {"rash", "hives", "nausea"}
    assert {"Penicillin", "rash"} <= {s["text"] for s in source_spans(allergies["Penicillin"])}


def test_no_known_allergies_are_coded_as_such(pipeline):
    bundle = convert(pipeline, "Allergies: NKDA.\nNo known allergies.")
    coded = {r["code"]["text"]: codes(r["code"]) for r in resources_of(bundle, "AllergyIntolerance")}
    assert coded == {"NKDA": {"409137002"}, "No known allergies": {"716186003"}}
    # a bare "NA" on an allergies line (the entity model reads it as sodium) is no allergen
    text = "ALLERGIES: NA"
    doc = pipeline(text, [{"begin_offset": 11, "end_offset": 13, "category": "MEDICATION"}])
    bundle = to_bundle(doc, text)
    assert not resources_of(bundle, "AllergyIntolerance") and not resources_of(bundle, "MedicationStatement")


def test_lab_value_with_ucum_unit(pipeline):
    bundle = convert(pipeline, "Creatinine 1.4 mg/dL.")
    [obs] = by_text(bundle, "Observation", "Creatinine")
    assert obs["status"] == "final"
    assert obs["valueQuantity"] == {"value": 1.4, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                                    "code": "mg/dL"}


def test_a_range_of_values_and_counts_in_thousands(pipeline):
    bundle = convert(pipeline, "Creatinine of 1.9-2.4 mg % last year. Plt 98 K.")
    [cr] = by_text(bundle, "Observation", "Creatinine")
    ucum = {"system": "http://unitsofmeasure.org", "code": "mg/dL", "unit": "mg %"}
    assert cr["valueRange"] == {"low": {"value": 1.9, **ucum}, "high": {"value": 2.4, **ucum}}
    [plt] = by_text(bundle, "Observation", "Plt")
    assert plt["valueQuantity"]["code"] == "10*3/uL"


def test_vital_signs_and_blood_pressure_components(pipeline):
    bundle = convert(pipeline, "Exam: T 37.2 C, HR 84, BP 128/76 mmHg, SpO2 97% on room air.")
    [temp] = by_text(bundle, "Observation", "T")
    assert temp["valueQuantity"]["code"] == "Cel"
    assert codes(temp["category"][0]) == {"vital-signs"}
    [bp] = by_text(bundle, "Observation", "BP")
    assert codes(bp["code"]) == {"85354-9"} and "valueQuantity" not in bp
    assert [(codes(c["code"]), c["valueQuantity"]["value"], c["valueQuantity"]["code"]) for c in bp["component"]] == [
        ({"8480-6"}, 128, "mm[Hg]"), ({"8462-4"}, 76, "mm[Hg]")]


def test_relatives_in_a_family_history_sentence(pipeline):
    text = ("Family History: Mother and sister with diabetes. Father with COPD, mother with asthma. "
            "Diabetes in her brother.")
    bundle = convert(pipeline, text)
    assert not resources_of(bundle, "Condition")
    pairs = sorted((r["relationship"]["coding"][0]["code"], c["code"]["text"])
                   for r in resources_of(bundle, "FamilyMemberHistory") for c in r["condition"])
    assert pairs == [("BRO", "Diabetes"), ("FTH", "COPD"), ("MTH", "asthma"), ("MTH", "diabetes"), ("SIS", "diabetes")]
    for r in resources_of(bundle, "FamilyMemberHistory"):
        for s in source_spans(r):
            assert text[s["begin"]:s["end"]] == s["text"]


def test_negated_family_history_says_so_for_an_unnamed_relative(pipeline):
    bundle = convert(pipeline, "Family History: No family history of cancer.")
    [fmh] = resources_of(bundle, "FamilyMemberHistory")
    assert codes(fmh["relationship"]) == {"FAMMEMB"}
    [condition] = fmh["condition"]
    assert condition["code"]["text"] == "cancer" and "Negated" in condition["note"][0]["text"]


def test_procedures_and_smoking_status(pipeline):
    text = "s/p appendectomy. No colonoscopy was done.\nSocial History: Former smoker, 15 pack-year history."
    bundle = convert(pipeline, text)
    assert by_text(bundle, "Procedure", "appendectomy")[0]["status"] == "completed"
    assert by_text(bundle, "Procedure", "colonoscopy")[0]["status"] == "not-done"
    [smoking] = [o for o in resources_of(bundle, "Observation") if codes(o["code"]) == {"72166-2"}]
    assert codes(smoking["valueCodeableConcept"]) == {"8517006"}
    assert smoking["valueCodeableConcept"]["text"] == "Former smoker"  # the pack-years are not a status


def test_icd10cm_concepts_code_the_condition_and_low_scores_stay_candidates(pipeline):
    text = "History of type 2 diabetes mellitus."
    doc = pipeline(text)
    entities = [e.model_copy(update={"icd10cm_concepts": [
        Concept(code="E11.8", description="Type 2 diabetes mellitus with unspecified complications", score=0.3),
        Concept(code="E11.9", description="Type 2 diabetes mellitus without complications", score=0.8),
    ]}) if e.category == "MEDICAL_CONDITION" else e for e in doc.entities]
    bundle = to_bundle(doc.model_copy(update={"entities": entities}), text)
    [dm] = by_text(bundle, "Condition", "type 2 diabetes mellitus")
    assert dm["code"]["coding"] == [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9",
                                     "display": "Type 2 diabetes mellitus without complications"}]
    candidates = [e for e in dm["extension"] if e["url"] == fhir.ICD_CANDIDATE_URL]
    assert [c["extension"][0]["valueCoding"]["code"] for c in candidates] == ["E11.9", "E11.8"]
    # At 0.85 the condition (scored 0.85) stays but no concept is good enough to code it.
    [strict] = by_text(to_bundle(doc.model_copy(update={"entities": entities}), text, threshold=0.85),
                       "Condition", "type 2 diabetes mellitus")
    assert "coding" not in strict["code"]
    assert len([e for e in strict["extension"] if e["url"] == fhir.ICD_CANDIDATE_URL]) == 2


def test_patient_reference_threshold_and_empty_document(pipeline):
    bundle = convert(pipeline, NOTE, patient_reference="Patient/123")
    assert not resources_of(bundle, "Patient")
    subjects = {(r.get("subject") or r["patient"])["reference"] for r in (e["resource"] for e in bundle["entry"])}
    assert subjects == {"Patient/123"}
    # Rule entities score 0.8-0.9: above 0.95 nothing is left but the note and its patient.
    assert [e["resource"]["resourceType"] for e in convert(pipeline, NOTE, threshold=0.95)["entry"]] == [
        "Patient", "DocumentReference"]
    empty = to_bundle(Document(), "Nothing clinical here.")
    validate_bundle(empty)
    assert len(empty["entry"]) == 2


def test_bad_input_is_refused_with_a_clear_error(pipeline):
    doc = pipeline(NOTE)
    with pytest.raises(InputError, match="empty"):
        to_bundle(doc, "  ")
    with pytest.raises(InputError, match="does not match"):
        to_bundle(doc, NOTE.upper())
    with pytest.raises(InputError, match="Patient/<id>"):
        to_bundle(doc, NOTE, patient_reference="John Smith")
    with pytest.raises(InputError, match="threshold"):
        to_bundle(doc, NOTE, threshold=1.5)
    with pytest.raises(InputError, match="Document"):
        to_bundle(doc.to_dict(), NOTE)  # type: ignore[arg-type]


def test_validate_bundle_catches_structure_and_reference_errors(pipeline):
    good = convert(pipeline, "Metformin 500 mg PO BID.")
    validate_bundle(good)
    missing_subject = json.loads(json.dumps(good))
    del missing_subject["entry"][2]["resource"]["subject"]
    with pytest.raises(BedsideError, match="subject"):
        validate_bundle(missing_subject)
    dangling = json.loads(json.dumps(good))
    dangling["entry"] = [e for e in dangling["entry"] if e["resource"]["resourceType"] != "DocumentReference"]
    with pytest.raises(BedsideError, match="not in the bundle"):
        validate_bundle(dangling)
    duplicate = json.loads(json.dumps(good))
    duplicate["entry"].append(duplicate["entry"][-1])
    with pytest.raises(BedsideError, match="bdl-7"):
        validate_bundle(duplicate)


def test_an_invalid_mapping_never_yields_a_bundle(pipeline, monkeypatch):
    # A broken data file (an empty status code) must stop the conversion, not produce an invalid bundle.
    monkeypatch.setitem(fhir._maps().data["medication_status"], "default", "")
    with pytest.raises(BedsideError, match="invalid FHIR bundle"):
        to_bundle(pipeline("Metformin 500 mg PO BID."), "Metformin 500 mg PO BID.")
