"""to_bundle and its _Builder: the Document's entities as FHIR resources, each with its source-span provenance."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Any

from bedside.clinical.schema import Attribute, Document, Entity
from bedside.errors import BedsideError, InputError
from bedside.extract.fhir.allergies import _Allergies
from bedside.extract.fhir.conditions import _Conditions
from bedside.extract.fhir.dosage import _amount, _dosage, _quantity
from bedside.extract.fhir.maps import (
    _HL7,
    BASE,
    ICD10CM,
    ICD_CANDIDATE_URL,
    LOINC,
    NOTE_ID_SYSTEM,
    NOTE_SHA256_SYSTEM,
    SNOMED,
    SOURCE_URL,
    TAG_SYSTEM,
    _coding,
    _maps,
    _norm,
    _number,
    _span,
    _trait,
)
from bedside.extract.fhir.validate import validate_bundle

# Every bedside FHIR id is uuid5(this namespace, "<note seed>|<key>").
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)
_REFERENCE = re.compile(r"^(?:Patient/[A-Za-z0-9\-.]{1,64}|urn:uuid:[0-9a-fA-F-]{36}|https?://\S+/Patient/[A-Za-z0-9\-.]{1,64})$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def to_bundle(doc: Document, text: str, *, patient_reference: str | None = None, document_id: str | None = None,
              threshold: float = 0.5) -> dict[str, Any]:
    """The FHIR R4 Bundle (type collection) for ``doc``, the extraction result of ``text``, as a JSON-ready dict.

    ``patient_reference`` ("Patient/123") is the subject of every resource; without it the bundle holds a
    placeholder Patient. ``document_id`` (the caller's name for the note) goes into the DocumentReference and
    the ids. Entities, traits, attributes and ICD-10-CM concepts scoring below ``threshold`` are not used.
    """
    if not isinstance(doc, Document):
        raise InputError(f"to_bundle needs a bedside Document, not {type(doc).__name__}")
    if not isinstance(text, str) or not text.strip():
        raise InputError("to_bundle needs the note's text (the one the Document was extracted from); it is empty")
    if patient_reference is not None and not _REFERENCE.match(patient_reference):
        raise InputError("the patient reference must look like Patient/<id> (letters, digits, '-', '.'), "
                         "a urn:uuid: or an absolute URL ending in Patient/<id>")
    if document_id is not None and (not isinstance(document_id, str) or not document_id.strip()):
        raise InputError("document_id must be a non-empty string")
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be between 0 and 1, got {threshold}")
    doc.check_offsets(text)
    bundle = _Builder(text, patient_reference, document_id, threshold).bundle(doc)
    try:
        validate_bundle(bundle)
    except BedsideError as exc:
        raise BedsideError(f"bedside built an invalid FHIR bundle (a bug; please report it): {exc.message}") from None
    return bundle


# -- the builder ----------------------------------------------------------------------------------------


class _Builder(_Conditions, _Allergies):
    def __init__(self, text: str, patient: str | None, document_id: str | None, threshold: float):
        self.text = text
        self.threshold = threshold
        self.maps = _maps()
        data = text.encode("utf-8")
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.seed = self.sha256 if document_id is None else f"{self.sha256}|{document_id}"
        self.entries: list[dict[str, Any]] = []
        self.families: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._sentences: list[tuple[int, int]] | None = None  # split only when a family condition needs them
        self._sentence_starts: list[int] = []
        self.condition_ends: list[int] = []
        if patient is None:
            pid = self.id("patient")
            self.subject = f"urn:uuid:{pid}"
            self.entries.append({"resourceType": "Patient", "id": pid, "meta": {"tag": [_coding(
                TAG_SYSTEM, "placeholder-patient", "Placeholder for the note's patient; match it to a real one")]}})
        else:
            self.subject = patient
        doc_id = self.id("document")
        self.document = f"urn:uuid:{doc_id}"
        self.entries.append({
            "resourceType": "DocumentReference", "id": doc_id,
            "masterIdentifier": {"system": NOTE_SHA256_SYSTEM, "value": self.sha256},
            **({"identifier": [{"system": NOTE_ID_SYSTEM, "value": document_id}]} if document_id else {}),
            "status": "current", "subject": {"reference": self.subject},
            # Attachment.hash is SHA-1 in base64 (FHIR R4); size is in bytes. The text itself stays out (PHI).
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "size": len(data),
                                        "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")}}],
        })

    def id(self, key: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.seed}|{key}"))

    def bundle(self, doc: Document) -> dict[str, Any]:
        self.condition_ends = sorted(e.end_offset for e in doc.entities if e.category == "MEDICAL_CONDITION")
        self.plan_allergies(doc)
        for e in doc.entities:
            if e.score < self.threshold:
                continue
            traits = {t.name for t in e.traits if t.score >= self.threshold}
            if e.category == "MEDICAL_CONDITION":
                if e.id not in self.reaction_ids:  # a reaction belongs to its AllergyIntolerance
                    self.condition(e, traits)
            elif e.category == "MEDICATION" and e.id not in self.not_substances:
                self.allergy(e, traits) if e.id in self.allergens else self.medication(e, traits)
            elif e.category == "BEHAVIORAL_ENVIRONMENTAL_SOCIAL" and e.type == "ALLERGIES":
                self.no_known_allergy(e, traits)
            elif e.category == "TEST_TREATMENT_PROCEDURE":
                self.observations(e, traits) if e.type == "TEST_NAME" else self.procedure(e, traits)
            elif e.category == "BEHAVIORAL_ENVIRONMENTAL_SOCIAL" and e.type == "TOBACCO_USE":
                self.smoking(e, traits)
        return {"resourceType": "Bundle", "id": self.id("bundle"), "type": "collection",
                "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in self.entries]}

    # -- helpers ---

    def attrs(self, e: Entity, *types: str) -> list[Attribute]:
        return [a for a in e.attributes if (not types or a.type in types)
                and a.score >= self.threshold and a.relationship_score >= self.threshold]

    def provenance(self, e: Entity, attrs: Iterable[Attribute] = ()) -> list[dict[str, Any]]:
        return [{"url": SOURCE_URL, "valueReference": {"reference": self.document}}, _span(e, e.type),
                *(_span(a, a.type) for a in attrs), *(_trait(t) for t in e.traits)]

    def add(self, resource_type: str, key: str, e: Entity, attrs: Iterable[Attribute], **fields: Any) -> None:
        self.entries.append({"resourceType": resource_type, "id": self.id(key),
                             "extension": self.provenance(e, attrs), **fields})

    def code(self, e: Entity) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """CodeableConcept of a condition (best ICD-10-CM concept as coding) and every candidate as an extension."""
        concepts = sorted(e.icd10cm_concepts or [], key=lambda c: -c.score)
        code: dict[str, Any] = {"text": e.text}
        if concepts and concepts[0].score >= self.threshold:
            # Only the best: a CodeableConcept's codings must mean the same thing, and candidates do not.
            code = {"coding": [_coding(ICD10CM, concepts[0].code, concepts[0].description)], **code}
        candidates = [{"url": ICD_CANDIDATE_URL, "extension": [
            {"url": "code", "valueCoding": _coding(ICD10CM, c.code, c.description)},
            {"url": "score", "valueDecimal": c.score}]} for c in concepts]
        return code, candidates

    # -- medications, tests, procedures, smoking ---

    def medication(self, e: Entity, traits: set[str]) -> None:
        if "PERTAINS_TO_FAMILY" in traits:
            return
        rules = self.maps.data["medication_status"]
        attrs = self.attrs(e)
        dosage = _dosage(attrs)
        self.add("MedicationStatement", f"entity:{e.id}", e, attrs,
                 status=next((s for t, s in rules["traits"] if t in traits), rules["default"]),
                 medicationCodeableConcept={"text": e.text}, subject={"reference": self.subject},
                 derivedFrom=[{"reference": self.document}], **({"dosage": [dosage]} if dosage else {}))

    def observations(self, e: Entity, traits: set[str]) -> None:
        rules = self.maps.data["observation"]
        if traits & set(rules["skip_traits"]):
            return
        name = _norm(e.text)
        category = []
        if name in rules["vital_signs"]:
            category = [{"coding": [_coding(_HL7 + "observation-category", "vital-signs", "Vital Signs")]}]
        for i, (value, unit) in enumerate(self.values(e)):
            used = [value, *([unit] if unit else [])]
            fields: dict[str, Any] = {"status": "final", **({"category": category} if category else {}),
                                      "code": {"text": e.text}, "subject": {"reference": self.subject},
                                      "derivedFrom": [{"reference": self.document}]}
            fields |= self.result(e.text, value.text, unit.text if unit else None)
            self.add("Observation", f"entity:{e.id}:value:{i}", e, used, **fields)

    def values(self, e: Entity) -> list[tuple[Attribute, Attribute | None]]:
        """Each TEST_VALUE with the TEST_UNIT that follows it before the next value ("1.4 mg/dL ..., 1.2 mg/dL")."""
        attrs = sorted(self.attrs(e, "TEST_VALUE", "TEST_UNIT"), key=lambda a: a.begin_offset)
        pairs: list[tuple[Attribute, Attribute | None]] = []
        for a in attrs:
            if a.type == "TEST_VALUE":
                pairs.append((a, None))
            elif pairs and pairs[-1][1] is None:
                pairs[-1] = (pairs[-1][0], a)
        return pairs

    def result(self, name: str, value: str, unit: str | None) -> dict[str, Any]:
        """Observation.value[x] (or a blood pressure's components) for one TEST_VALUE and its unit."""
        bp = self.maps.data["observation"]["blood_pressure"]
        ratio = _RATIO.match(value)
        if ratio and _norm(name) in bp["names"]:
            return {"code": {"coding": [_coding(LOINC, *bp["panel"])], "text": name}, "component": [
                {"code": {"coding": [_coding(LOINC, *bp[part])]}, "valueQuantity": _quantity(_number(v), unit)}
                for part, v in (("systolic", ratio[1]), ("diastolic", ratio[2]))]}
        parsed = _amount(value)
        if parsed and parsed[0] == "Quantity" and "unit" not in parsed[1]:
            return {"valueQuantity": _quantity(parsed[1]["value"], unit, parsed[1].get("comparator"))}
        if parsed and parsed[0] == "Quantity" and unit is None:  # the unit was part of the value ("97%")
            return {"valueQuantity": parsed[1]}
        if parsed and parsed[0] == "Range" and "unit" not in parsed[1]["low"]:  # "creatinine 1.9-2.4 mg/dL"
            return {"valueRange": {k: _quantity(q["value"], unit) for k, q in parsed[1].items()}}
        return {"valueString": f"{value} {unit}" if unit else value}

    def procedure(self, e: Entity, traits: set[str]) -> None:
        rules = self.maps.data["procedure_status"]
        if "PERTAINS_TO_FAMILY" in traits or traits & set(rules["skip_traits"]):
            return
        self.add("Procedure", f"entity:{e.id}", e, (),
                 status=next((s for t, s in rules["traits"] if t in traits), rules["default"]),
                 code={"text": e.text}, subject={"reference": self.subject})

    def smoking(self, e: Entity, traits: set[str]) -> None:
        rules = self.maps.data["smoking_status"]
        if traits & {"PERTAINS_TO_FAMILY", "HYPOTHETICAL"} or any(p.search(e.text) for p in self.maps.smoking_skip):
            return
        mention = _norm(e.text)
        finding = next((f for f in rules["findings"] if f[0] in mention), None)
        negated = "NEGATION" in traits and not (finding and finding[0] in rules["self_negating"])
        # "Denies smoking": the mention alone ("smoking") would read as the opposite of what the note says.
        value: dict[str, Any] = {"text": f"{e.text} (negated in the note)" if negated else e.text}
        if finding and not negated:
            value = {"coding": [_coding(SNOMED, finding[1], finding[2])], **value}
        self.add("Observation", f"entity:{e.id}", e, (), status="final",
                 category=[{"coding": [_coding(_HL7 + "observation-category", "social-history", "Social History")]}],
                 code={"coding": [_coding(LOINC, *rules["code"])], "text": rules["code"][1]},
                 subject={"reference": self.subject}, derivedFrom=[{"reference": self.document}],
                 valueCodeableConcept=value)
