"""Medication sig attributes ("40 mg PO twice daily for 7 days") and which medication each belongs to.

Candidates come from ``sig.json``: quantities (a number and a unit whose list names the attribute),
phrases (routes, forms, frequencies) and regexes (q6h, durations). Linking follows how sigs are
written: an attribute belongs to the medication whose sig it continues ("Furosemide 40 mg PO daily":
only other attributes and light punctuation between), else to the medication it directly precedes
("IV furosemide"), else to the nearest medication before it in the sentence, with a lower score.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.patterns import compile_all, fill
from bedside.clinical.regex import Rx
from bedside.clinical.spans import Occupied, PhraseMatcher, Span, drop_overlaps

# Between two parts of one sig, once the attributes themselves are cut out; sig.json's release words
# ("ER", "delayed release") are added at load.
_CHAIN_WORDS = ("at|of|for|x|every|each|in|on|with|and|or|to|up|then|by|via|per|take|takes|taking|give|given|inject"
                "|apply|use|sig")
# Between an attribute and the medication right after it: "IV furosemide", "2 tablets of aspirin",
# "a single 200 mg intravenous dose of lorcainide", "190 mg, 175 mg, and 196 mg of methotrexate".
_PREFIX_GAP = re.compile(r"(?:[\s\-,]|\b(?:of|and|or|a|an|single|total|dose|doses|dosage|bolus|course)\b)*", re.I)
# An amount that opens a new item of a list, right before its drug: "ondansetron 4 mg IV, and 1 L NS bolus"
_TIGHT_BEFORE = re.compile(r"[ \t]+(?:of[ \t]+)?")
_NEW_ITEM = re.compile(r"[,;]|\band\b", re.I)
_ALIAS_OPEN = re.compile(r"\s*[(\[]\s*")  # between a medication and its other name: "warfarin (Coumadin)"
_ALIAS_CLOSE = re.compile(r"\s*[)\]]")
_NEAREST_LIMIT = 120  # characters: farther than this, an attribute is not guessed onto a medication
_PREFIX_LIMIT = 40
_NOT_SIG = "NOT_SIG"  # "daily weights": matched so that "daily" inside it is not a frequency
_AMOUNT = "AMOUNT"  # "40 mg": the DOSAGE, or the STRENGTH when the sig also counts units (resolve_amounts)


@dataclass(frozen=True, slots=True)
class Link:
    entity: int  # index into the entity list given to link()
    attribute: Span  # type = DOSAGE, STRENGTH, ...
    relationship_score: float


def _unit_regex(unit: str) -> str:
    parts = [re.escape(p.strip().lower()) for p in unit.split("/")]
    return r"\s*/\s*".join(p.replace(r"\ ", r"\s+") for p in parts)


class Sig:
    def __init__(self, folder: Path | None = None):
        data = resources.load("sig.json", folder)
        ph = dict(data.get("placeholders", {}))
        self._unit_type: dict[str, str] = {}
        for attr, units in resources.require(data, "units", "sig.json").items():
            for u in units:
                self._unit_type[re.sub(r"\s+", "", u.lower())] = attr
        forms = list(data.get("forms", ()))
        for f in forms:
            self._unit_type.setdefault(re.sub(r"\s+", "", f.lower()), "FORM")
        units = sorted(set(u for us in data["units"].values() for u in us) | set(forms), key=len, reverse=True)
        number = fill(data.get("number", r"\d+(?:\.\d+)?"), ph, "sig.json number")
        # An amount per body weight, body surface or time ("mg/kg/day", "g/m2") is still an amount.
        # Tried after the listed units, so a listed "mg/hr" (RATE) or "mg/ml" (STRENGTH) wins.
        per = "|".join(_unit_regex(u) for u in sorted(data.get("amount_per", ()), key=len, reverse=True))
        amounts = "|".join(_unit_regex(u) for u in sorted(data["units"].get(_AMOUNT, ()), key=len, reverse=True))
        per_amount = rf"|(?:{amounts})(?:\s*/\s*(?:{per})){{1,2}}" if per and amounts else ""
        self._quantity = Rx(
            rf"(?<![\w.])(?P<num>{number}(?:\s*(?:-|to)\s*{number})?)(?:\s*|-)"
            rf"(?P<unit>{'|'.join(map(_unit_regex, units))}{per_amount})"
            r"(?![\w/])", "sig.json units")
        self._phrases: PhraseMatcher[str] = PhraseMatcher()
        for attr, field in (("ROUTE_OR_MODE", "routes"), ("FORM", "forms"), ("FREQUENCY", "frequencies"),
                            (_NOT_SIG, "not_sig")):
            for phrase in data.get(field, ()):
                self._phrases.add(phrase, attr)
        release = "|".join(_unit_regex(w) for w in sorted(data.get("release", ()), key=len, reverse=True))
        words = _CHAIN_WORDS + ("|" + release if release else "")
        self._chain_gap = re.compile(rf"(?:[\s,;:()\-–/@]|\b(?:{words})\b)*", re.I)
        self._regexes = [
            (attr, rx) for attr, field in (("FREQUENCY", "frequency_patterns"), ("DURATION", "duration_patterns"))
            for rx in compile_all(data.get(field, []), ph, f"sig.json {field}")
        ]

    def candidates(self, doc: Doc, taken: Sequence[Span], pool: Sequence[Span] | None = None) -> list[Span]:
        """Sig attributes in the note's sentences that overlap none of ``taken`` (entities, lab values);
        ``pool`` is :meth:`every_candidate`'s result when the caller already has it."""
        occupied = Occupied(taken)
        return [c for c in (self.every_candidate(doc) if pool is None else pool) if not occupied.hits(c.begin, c.end)]

    def every_candidate(self, doc: Doc) -> list[Span]:
        """Sig attributes in the note's sentences, whatever else covers them."""
        text, folded = doc.text, doc.folded
        found: list[Span] = []
        for m in self._quantity.finditer(text, folded):
            kind = self._unit_type.get(re.sub(r"\s+", "", m.group("unit").lower()), _AMOUNT)
            if kind == "FORM":
                found.append(Span.of(text, m.start("num"), m.end("num"), type="DOSAGE", source="sig", score=0.9))
                found.append(Span.of(text, m.start("unit"), m.end("unit"), type="FORM", source="sig", score=0.9))
            else:
                found.append(Span.of(text, m.start(), m.end(), type=kind, source="sig", score=0.9))
        for m in self._phrases.finditer(doc.tokens):
            found.append(Span.of(text, m.begin, m.end, type=m.payload, source="sig", score=0.9))
        for kind, rx in self._regexes:
            for m in rx.finditer(text, folded):
                if m.end() > m.start():
                    found.append(Span.of(text, m.start(), m.end(), type=kind, source="sig", score=0.9))
        return [c for c in drop_overlaps(found) if c.type != _NOT_SIG and doc.within_sentence(c.begin, c.end)]

    def link(
        self, doc: Doc, meds: Sequence[Span], attrs: Sequence[Span], barriers: Sequence[Span] = (),
    ) -> tuple[list[Link], list[Span]]:
        """Each attribute linked to one of ``meds`` (by index), or left over.

        ``barriers`` are other entities: an attribute is not guessed onto a medication across one
        ("apixaban 5 mg BID, CKD, dyspnea x 3 days": the duration is the dyspnea's).
        """
        walls = Occupied(barriers)
        med_groups = _by_sentence(doc, meds)
        attr_groups = _by_sentence(doc, attrs)
        links: list[Link] = []
        left: list[Span] = []
        for idxs in med_groups.values():
            idxs.sort(key=lambda i: meds[i].begin)
        for si, idxs in attr_groups.items():
            group = _Sorted(sorted((attrs[i] for i in idxs), key=lambda a: a.begin))
            in_sentence = _Sorted([meds[i] for i in med_groups.get(si, [])])
            for a in group.spans:
                chosen = self._choose(doc.text, a, in_sentence, group, walls) if si >= 0 else None
                if chosen is None:
                    left.append(a)
                else:
                    k, score = chosen
                    links.append(Link(med_groups[si][k], a, score))
        return resolve_amounts(links + _shared_with_aliases(doc.text, meds, links), left)

    def _choose(
        self, text: str, a: Span, meds: _Sorted, attrs: _Sorted, walls: Occupied,
    ) -> tuple[int, float] | None:
        k_before, k_after = meds.around(a)
        if a.type in (_AMOUNT, "DOSAGE") and k_before is not None and k_after is not None \
                and _TIGHT_BEFORE.fullmatch(text, a.end, meds.spans[k_after].begin) \
                and _NEW_ITEM.search(_without(text, meds.spans[k_before].end, a.begin, attrs)):
            return k_after, 0.92
        if k_before is not None:
            m = meds.spans[k_before]
            if a.begin - m.end <= _NEAREST_LIMIT and self._chain_gap.fullmatch(_without(text, m.end, a.begin, attrs)):
                return k_before, 0.95
        if k_after is not None:
            m = meds.spans[k_after]
            if m.begin - a.end <= _PREFIX_LIMIT and _PREFIX_GAP.fullmatch(_without(text, a.end, m.begin, attrs)):
                return k_after, 0.92
        if k_before is not None:
            m = meds.spans[k_before]
            distance = a.begin - m.end
            if distance <= _NEAREST_LIMIT and not walls.hits(m.end, a.begin):
                return k_before, round(max(0.5, 0.85 - 0.003 * distance), 4)
        return None


def _shared_with_aliases(text: str, meds: Sequence[Span], links: list[Link]) -> list[Link]:
    """A medication and its other name in brackets right after it share their sig: "warfarin (Coumadin)
    5 mg daily", "methotrexate (MTX) 12 g/m2" (each mention gets the dose; Comprehend Medical repeats
    attributes per entity the same way). An attribute type the other mention already has is not added."""
    order = sorted(range(len(meds)), key=lambda i: meds[i].begin)
    partner: dict[int, int] = {}
    for x, y in zip(order, order[1:], strict=False):
        if _ALIAS_OPEN.fullmatch(text, meds[x].end, meds[y].begin) and _ALIAS_CLOSE.match(text, meds[y].end):
            partner[x], partner[y] = y, x
    if not partner:
        return []
    has = {(link.entity, link.attribute.type) for link in links}
    out = []
    for link in links:
        other = partner.get(link.entity)
        if other is not None and (other, link.attribute.type) not in has:
            out.append(Link(other, link.attribute, link.relationship_score))
    return out


def resolve_amounts(links: list[Link], left: list[Span]) -> tuple[list[Link], list[Span]]:
    """An AMOUNT is the DOSAGE ("aspirin 20 mg po daily", as Comprehend Medical reads it), or the STRENGTH
    when its medication's sig also counts units ("Tylenol 325 mg, 2 tablets": DOSAGE "2", FORM "tablets")."""
    counted = {link.entity for link in links if link.attribute.type == "DOSAGE"}
    resolved = [
        Link(link.entity, link.attribute.with_(type="STRENGTH" if link.entity in counted else "DOSAGE"),
             link.relationship_score) if link.attribute.type == _AMOUNT else link
        for link in links
    ]
    return resolved, [a.with_(type="DOSAGE") if a.type == _AMOUNT else a for a in left]


class _Sorted:
    """A sentence's medications in text order, with the nearest one before and after a position."""

    def __init__(self, spans: list[Span]):
        self.spans = spans  # in text order
        self.begins = [s.begin for s in spans]

    def around(self, a: Span) -> tuple[int | None, int | None]:
        i = bisect_left(self.begins, a.end)
        after = i if i < len(self.spans) else None
        j = i - 1
        while j >= 0 and self.spans[j].end > a.begin:
            j -= 1  # overlaps the attribute: neither before nor after it
        return (j if j >= 0 else None), after


def _by_sentence(doc: Doc, spans: Sequence[Span]) -> dict[int, list[int]]:
    """Span indices per sentence index (-1: in no sentence), keeping the given order."""
    out: dict[int, list[int]] = {}
    for i, s in enumerate(spans):
        si = doc.sentence(s.begin)
        out.setdefault(-1 if si is None else si, []).append(i)
    return out


def _without(text: str, begin: int, end: int, attrs: _Sorted) -> str:
    """``text[begin:end]`` with the attribute spans inside it cut out."""
    parts: list[str] = []
    pos = begin
    for k in range(bisect_left(attrs.begins, begin), len(attrs.spans)):
        a = attrs.spans[k]
        if a.begin >= end:
            break
        if a.end <= end:
            parts.append(text[pos:a.begin])
            pos = a.end
    parts.append(text[pos:end])
    return "".join(parts)
