"""AllergyIntolerance resources: a drug named as an allergy is no medication the patient takes.

"Allergies: Penicillin (rash)" had given an active MedicationStatement for penicillin and a confirmed
Condition "rash". A MEDICATION entity in an allergies section, or inside an ALLERGIES entity ("allergic to
penicillin"), becomes an AllergyIntolerance; a condition on the same line of the allergies section, or in
brackets right after the allergen, is its reaction ("Penicillin (rash)", "sulfa drugs - hives") and no
Condition of its own. "NKDA" / "no known allergies" becomes an AllergyIntolerance whose code says so
(SNOMED CT, as the International Patient Summary records it). Rules and codes: mappings.json ``allergy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bedside.clinical.schema import Document, Entity
from bedside.extract.fhir.maps import _HL7, SNOMED, _coding, _Maps, _span

_BRACKET_AFTER = re.compile(r"\s*[(\[]")


@dataclass
class _Allergen:
    entity: Entity
    phrase: Entity | None = None  # the ALLERGIES phrase around it: its traits speak for the allergy
    reactions: list[Entity] = field(default_factory=list)


class _Allergies:
    """Mixed into _Builder (which holds the note's state); ``plan_allergies`` runs before the entities."""

    text: str
    maps: _Maps
    subject: str
    document: str
    entries: list[dict[str, Any]]
    threshold: float

    if TYPE_CHECKING:
        def add(self, resource_type: str, key: str, e: Entity, attrs: Any, **fields: Any) -> None: ...

    def plan_allergies(self, doc: Document) -> None:
        """Which medications are allergens and which conditions their reactions, before any resource is made."""
        rules = self.maps.data["allergy"]
        bodies = [(s.heading_end_offset, s.end_offset) for s in doc.sections if s.name in rules["sections"]]
        phrases = [e for e in doc.entities if e.type == "ALLERGIES" and e.score >= self.threshold]
        used = [e for e in doc.entities if e.score >= self.threshold]
        self.allergens: dict[str, _Allergen] = {}
        self.not_substances: set[str] = set()  # "Allergies: NA": neither an allergen nor a drug taken
        for e in used:
            if e.category != "MEDICATION":
                continue
            phrase = next((p for p in phrases if p.begin_offset <= e.begin_offset <= e.end_offset <= p.end_offset),
                          None)
            if phrase is not None or any(b <= e.begin_offset and e.end_offset <= end for b, end in bodies):
                if e.text.lower() in rules["not_substances"]:
                    self.not_substances.add(e.id)
                else:
                    self.allergens[e.id] = _Allergen(e, phrase)
        self.reaction_ids: set[str] = set()
        for c in used:
            if c.category != "MEDICAL_CONDITION":
                continue
            owner = self._owner(c, bodies)
            if owner is not None:
                owner.reactions.append(c)
                self.reaction_ids.add(c.id)

    def _owner(self, c: Entity, bodies: list[tuple[int, int]]) -> _Allergen | None:
        """The allergen whose reaction the condition ``c`` is, if any."""
        line_b = self.text.rfind("\n", 0, c.begin_offset) + 1
        line_e = self.text.find("\n", c.end_offset)
        line_e = len(self.text) if line_e < 0 else line_e
        in_section = any(b <= c.begin_offset and c.end_offset <= end for b, end in bodies)
        before = [a for a in self.allergens.values()
                  if line_b <= a.entity.begin_offset and a.entity.end_offset <= c.begin_offset]
        if in_section:
            after = [a for a in self.allergens.values() if c.end_offset <= a.entity.begin_offset < line_e]
            if before:
                return max(before, key=lambda a: a.entity.begin_offset)
            return min(after, key=lambda a: a.entity.begin_offset) if after else None
        # outside the section only a bracket right after the allergen: "allergic to penicillin (hives)"
        for a in before:
            gap = self.text[a.entity.end_offset:c.begin_offset]
            if _BRACKET_AFTER.match(gap) and ")" not in gap and "]" not in gap and "\n" not in gap:
                return a
        return None

    def allergy(self, e: Entity, traits: set[str]) -> None:
        """The AllergyIntolerance for an allergen (a MEDICATION entity the plan marked)."""
        allergen = self.allergens[e.id]
        if allergen.phrase is not None:  # "Mother is allergic to aspirin", "not allergic to penicillin"
            traits = traits | {t.name for t in allergen.phrase.traits if t.score >= self.threshold}
        if "PERTAINS_TO_FAMILY" in traits:
            return
        rules = self.maps.data["allergy"]
        verification = "refuted" if "NEGATION" in traits else "confirmed"
        fields: dict[str, Any] = {
            "clinicalStatus": {"coding": [_coding(_HL7 + "allergyintolerance-clinical", "active")]},
            "verificationStatus": {"coding": [_coding(_HL7 + "allergyintolerance-verification", verification)]},
            "category": [rules["category"]], "code": {"text": e.text}, "patient": {"reference": self.subject}}
        if allergen.reactions:
            fields["reaction"] = [{"manifestation": [{"text": r.text} for r in allergen.reactions]}]
        self.add("AllergyIntolerance", f"entity:{e.id}", e, (), **fields)
        for r in allergen.reactions:
            self.entries[-1]["extension"].append(_span(r, "REACTION"))

    def no_known_allergy(self, e: Entity, traits: set[str]) -> None:
        """"NKDA", "no known allergies": an AllergyIntolerance whose code is the negative statement."""
        if "NEGATION" not in traits or any(a.phrase is e for a in self.allergens.values()):
            return  # "not allergic to penicillin" is said by the refuted penicillin allergy
        rules = self.maps.data["allergy"]
        drug = any(w in e.text.lower() for w in rules["drug_words"])
        code, display = rules["no_known_drug"] if drug else rules["no_known"]
        self.add("AllergyIntolerance", f"entity:{e.id}", e, (),
                 clinicalStatus={"coding": [_coding(_HL7 + "allergyintolerance-clinical", "active")]},
                 verificationStatus={"coding": [_coding(_HL7 + "allergyintolerance-verification", "confirmed")]},
                 code={"coding": [_coding(SNOMED, code, display)], "text": e.text},
                 patient={"reference": self.subject})
