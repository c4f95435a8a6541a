"""The extraction Document as a FHIR R4 (4.0.1) Bundle of type ``collection`` (issue 3).

    to_bundle(doc, text, *, patient_reference=None, document_id=None, threshold=0.5) -> dict
    validate_bundle(bundle) -> None

What becomes what (the tables are data: ``resources/fhir/mappings.json``):
- MEDICAL_CONDITION -> Condition (NEGATION: refuted; LOW_CONFIDENCE: provisional; HYPOTHETICAL: skipped;
  PAST_HISTORY: no clinicalStatus); with PERTAINS_TO_FAMILY -> FamilyMemberHistory, one per relative mention.
- MEDICATION -> MedicationStatement with a Dosage parsed from the sig attributes; one in an allergies section or
  an ALLERGIES phrase -> AllergyIntolerance, with the conditions on its line as its reaction (not Conditions);
  "NKDA" -> AllergyIntolerance coded "no known drug allergy".
- TEST_NAME with a value -> one Observation per value; PROCEDURE_NAME / TREATMENT_NAME -> Procedure;
  TOBACCO_USE -> Observation of smoking status (LOINC 72166-2).
- The note -> a DocumentReference with its size and hashes but never its text (PHI). Every other resource
  points to it (an extension, plus derivedFrom / evidence where the resource has one) and carries a
  ``source-span`` extension (begin, end, text, type, score) for each piece of the note it came from.
Skipped: entities scoring below ``threshold``, ANATOMY, TIME_EXPRESSION, PROTECTED_HEALTH_INFORMATION, social
history other than tobacco and negated allergies, tests named without a value (usually an order or a plan).

Ids are uuid5 of the note's sha256 (and ``document_id``) with the entity id: one note gives one bundle, byte for
byte. The bundle is validated before it is returned; an invalid one is a bedside bug and raises BedsideError.
"""

from bedside.extract.fhir.builder import to_bundle
from bedside.extract.fhir.maps import (
    BASE,
    FHIR_VERSION,
    ICD10CM,
    ICD_CANDIDATE_URL,
    LOINC,
    MAPPINGS,
    NOTE_ID_SYSTEM,
    NOTE_SHA256_SYSTEM,
    SNOMED,
    SOURCE_URL,
    SPAN_URL,
    TAG_SYSTEM,
    TRAIT_URL,
    UCUM,
)
from bedside.extract.fhir.maps import _maps as _maps  # the tests patch the loaded tables through here
from bedside.extract.fhir.validate import validate_bundle

__all__ = [
    "BASE", "FHIR_VERSION", "ICD10CM", "ICD_CANDIDATE_URL", "LOINC", "MAPPINGS", "NOTE_ID_SYSTEM",
    "NOTE_SHA256_SYSTEM", "SNOMED", "SOURCE_URL", "SPAN_URL", "TAG_SYSTEM", "TRAIT_URL", "UCUM", "to_bundle",
    "validate_bundle",
]
