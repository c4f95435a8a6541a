"""Condition and FamilyMemberHistory resources, a part of the bundle builder kept in a module of its own."""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bedside.clinical.schema import Attribute, Entity
from bedside.extract.fhir.maps import _HL7, SNOMED, SOURCE_URL, SPAN_URL, _coding, _Maps, _norm, _span, _trait

_CLAUSE = re.compile(r"[,;:]")


class _Conditions:
    """Mixed into _Builder, which holds the note's state and the helpers used here (declared below for readers)."""

    text: str
    maps: _Maps
    subject: str
    document: str
    entries: list[dict[str, Any]]
    families: dict[tuple[Any, ...], dict[str, Any]]
    condition_ends: list[int]
    _sentences: list[tuple[int, int]] | None
    _sentence_starts: list[int]

    if TYPE_CHECKING:
        def id(self, key: str) -> str: ...
        def attrs(self, e: Entity, *types: str) -> list[Attribute]: ...
        def add(self, resource_type: str, key: str, e: Entity, attrs: Iterable[Attribute], **fields: Any) -> None: ...
        def code(self, e: Entity) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...

    def condition(self, e: Entity, traits: set[str]) -> None:
        rules = self.maps.data["condition"]
        if traits & set(rules["skip_traits"]):
            return
        if "PERTAINS_TO_FAMILY" in traits:
            self.family(e, traits)
            return
        attrs = self.attrs(e, "SYSTEM_ORGAN_SITE", "ACUITY", "DIRECTION")
        code, candidates = self.code(e)
        verification = next((s for t, s in rules["verification"] if t in traits), rules["verification_default"])
        fields: dict[str, Any] = {}
        if not traits & set(rules["no_clinical_status_traits"]):
            fields["clinicalStatus"] = {"coding": [_coding(_HL7 + "condition-clinical",
                                                           rules["clinical_status_default"])]}
        fields["verificationStatus"] = {"coding": [_coding(_HL7 + "condition-ver-status", verification)]}
        category = [{"coding": [_coding(_HL7 + "condition-category", rules["category"])]}]
        kinds = [(t.score, rules["kinds"][t.name]) for t in e.traits if t.name in rules["kinds"] and t.name in traits]
        if kinds:
            category.append({"text": max(kinds)[1]})
        fields["category"] = category
        severity = [a for a in attrs if a.type == "ACUITY" and _norm(a.text) in rules["severity"]]
        if severity:  # "acute"/"chronic" are not severities: they stay in the ACUITY source-span only
            fields["severity"] = {"coding": [_coding(SNOMED, *rules["severity"][_norm(severity[0].text)])],
                                  "text": severity[0].text}
        fields["code"] = code
        sites = [a for a in attrs if a.type == "SYSTEM_ORGAN_SITE"]
        directions = [a for a in attrs if a.type == "DIRECTION"]
        if sites:
            side = f" ({directions[0].text})" if len(sites) == 1 and directions else ""
            fields["bodySite"] = [{"text": s.text + side} for s in sites]
        fields["subject"] = {"reference": self.subject}
        fields["evidence"] = [{"detail": [{"reference": self.document}]}]
        if "PAST_HISTORY" in traits and "NEGATION" not in traits:
            fields["note"] = [{"text": "Mentioned as past history; the note does not say whether it is still active."}]
        self.add("Condition", f"entity:{e.id}", e, attrs, **fields)
        self.entries[-1]["extension"] += candidates

    def family(self, e: Entity, traits: set[str]) -> None:
        """The condition under each relative it is said of ("Mother and sister with diabetes": two resources)."""
        code, candidates = self.code(e)
        condition: dict[str, Any] = {"extension": [_span(e, e.type), *(_trait(t) for t in e.traits), *candidates],
                                     "code": code}
        if "NEGATION" in traits:
            # R4 has no "absent" flag on a family member's condition: say it in words, keep the NEGATION trait.
            condition["note"] = [{"text": "Negated in the note: this relative is said not to have this condition."}]
        for relative in self.relatives(e) or [None]:
            self.family_member(e, relative)["condition"].append(copy.deepcopy(condition))

    def family_member(self, e: Entity, relative: re.Match[str] | None) -> dict[str, Any]:
        key = ("relative", relative.start(), relative.end()) if relative else ("entity", e.id)
        resource = self.families.get(key)
        if resource is None:
            if relative:
                code, display = self.maps.data["relatives"][_norm(relative.group())]
                relationship = {"coding": [_coding(_HL7 + "v3-RoleCode", code, display)], "text": relative.group()}
                span = [{"url": SPAN_URL, "extension": [
                    {"url": "begin", "valueInteger": relative.start()}, {"url": "end", "valueInteger": relative.end()},
                    {"url": "text", "valueString": relative.group()}, {"url": "type", "valueCode": "RELATIVE"}]}]
            else:
                code, display = self.maps.data["relative_default"]
                relationship = {"coding": [_coding(_HL7 + "v3-RoleCode", code, display)], "text": display}
                span = []
            resource = {"resourceType": "FamilyMemberHistory", "id": self.id("family:" + ":".join(map(str, key))),
                        "extension": [{"url": SOURCE_URL, "valueReference": {"reference": self.document}}, *span],
                        "status": "partial", "patient": {"reference": self.subject}, "relationship": relationship,
                        "condition": []}
            self.families[key] = resource
            self.entries.append(resource)
        return resource

    def relatives(self, e: Entity) -> list[re.Match[str]]:
        """The relative words a family condition is said of, found in its sentence.

        First every relative in its clause between the previous condition and it ("Mother and sister with
        diabetes"; "Mother with cancer and father with MI" gives MI to the father only), then the nearest
        after it in the clause ("diabetes in her mother"), then the nearest before or after in the sentence.
        """
        if self._sentences is None:
            from bedside.clinical.sentences import SentenceSplitter

            self._sentences = SentenceSplitter()(self.text)
            self._sentence_starts = [b for b, _ in self._sentences]
        i = bisect_right(self._sentence_starts, e.begin_offset) - 1
        begin, end = self._sentences[i] if i >= 0 else (0, len(self.text))
        end = max(end, e.end_offset)
        cuts = [m.end() for m in _CLAUSE.finditer(self.text, begin, end)]
        start = max([c for c in cuts if c <= e.begin_offset] + [c for c in self.condition_ends if c <= e.begin_offset],
                    default=begin)
        start = max(start, begin)
        clause_end = min([c - 1 for c in cuts if c - 1 >= e.end_offset], default=end)
        found = [m for m in self.maps.relatives.finditer(self.text, begin, end)
                 if m.end() <= e.begin_offset or m.start() >= e.end_offset]
        before = [m for m in found if m.end() <= e.begin_offset]
        after = [m for m in found if m.start() >= e.end_offset]
        for group in ([m for m in before if m.start() >= start], [m for m in after if m.end() <= clause_end][:1],
                      before[-1:], after[:1]):
            if group:
                return group
        return []
