"""Quantities and the medication sig (dose, rate, route, frequency, duration) as FHIR Quantity/Range/Dosage."""

from __future__ import annotations

import re
from typing import Any

from bedside.clinical.schema import Attribute
from bedside.extract.fhir.maps import _HL7, SNOMED, UCUM, _coding, _maps, _norm, _number

_DOTS = re.compile(r"(?<!\d)\.|\.(?!\d)")  # "b.i.d." -> "bid", but "q1.5h" keeps its decimal point


def _quantity(value: int | float, unit: str | None, comparator: str | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if comparator:
        q["comparator"] = comparator
    if unit:
        q["unit"] = unit
        code = _maps().data["units"].get(_norm(unit))
        if code:  # a unit we cannot name in UCUM stays text: a wrong code is worse than none
            q |= {"system": UCUM, "code": code}
    return q


def _amount(text: str, default_unit: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """``("Quantity", {...})`` or ``("Range", {...})`` for "40 mg", "1-2 tablets", "<0.5 mg/dL"; None otherwise.

    ``default_unit`` stands in when the text has none ("1-2" with the FORM "tablets").
    """
    m = _maps().quantity.match(text.strip())
    if not m:
        return None
    low, high = _number(m["low"]), _number(m["high"])
    if low is None or (m["high"] and high is None):
        return None
    unit = m["unit"].strip() if m["unit"] else default_unit
    if high is not None:
        return "Range", {"low": _quantity(low, unit), "high": _quantity(high, unit)}
    return "Quantity", _quantity(low, unit, m["comparator"])


def _frequency(text: str) -> dict[str, Any] | None:
    maps = _maps()
    entry = maps.data["frequencies"].get(text)
    if entry is not None:
        return entry
    for pattern in maps.frequency_patterns:
        m = pattern.match(text)
        if not m:
            continue
        g = m.groupdict()
        unit = maps.data["time_units"].get(g.get("unit") or "")
        freq = _number(g["frequency"]) if g.get("frequency") else 1
        period = _number(g["period"]) if g.get("period") else 1
        if unit is None or not isinstance(freq, int) or freq < 1 or not period:
            continue
        repeat: dict[str, Any] = {"frequency": freq, "period": period, "periodUnit": unit}
        if g.get("period_max"):
            most = _number(g["period_max"])
            if most is None or most < period:
                continue
            repeat["periodMax"] = most
        out: dict[str, Any] = {"repeat": repeat}
        gts = maps.data["gts_codes_by_hours"].get(str(period))
        if unit == "h" and freq == 1 and "periodMax" not in repeat and gts:
            out["code"] = gts
        return out
    return None


def _duration(text: str) -> dict[str, Any] | None:
    """Timing.repeat fields for "x 5 days" (boundsDuration), "for 5-7 days" (boundsRange), "x 3 doses" (count)."""
    maps = _maps()
    m = maps.duration.match(_norm(text))
    if not m:
        return None
    low, high = _number(m["low"]), _number(m["high"])
    if low is None or (m["high"] and high is None):
        return None
    if m["unit"] in maps.data["count_units"]:
        if not isinstance(low, int) or (high is not None and not isinstance(high, int)):
            return None
        return {"count": low, **({"countMax": high} if high is not None else {})}
    unit = maps.data["time_units"].get(m["unit"])
    if unit is None:
        return None

    def span(v: int | float) -> dict[str, Any]:
        return {"value": v, "unit": m["unit"], "system": UCUM, "code": unit}

    if high is not None:
        return {"boundsRange": {"low": span(low), "high": span(high)}}
    return {"boundsDuration": span(low)}


def _timing(frequencies: list[Attribute], durations: list[Attribute]) -> tuple[dict[str, Any] | None, bool]:
    """Dosage.timing from FREQUENCY and DURATION attributes, and whether the sig says "as needed"."""
    maps = _maps()
    repeat: dict[str, Any] = {}
    codes: list[str] = []
    as_needed = False
    for a in frequencies:
        text = _norm(_DOTS.sub("", a.text))
        if maps.as_needed.search(text):
            as_needed = True
            text = _norm(maps.as_needed.sub(" ", text))
        entry = _frequency(text) if text else None
        if entry is None:
            continue
        as_needed = as_needed or bool(entry.get("as_needed"))
        for key, value in entry.get("repeat", {}).items():
            if key == "when":
                repeat["when"] = [*repeat.get("when", []), *(w for w in value if w not in repeat.get("when", []))]
            else:
                repeat.setdefault(key, value)
        if entry.get("code"):
            codes.append(entry["code"])
    for a in durations:
        for key, value in (_duration(a.text) or {}).items():
            repeat.setdefault(key, value)
    timing: dict[str, Any] = {}
    if repeat:
        timing["repeat"] = repeat
    code: dict[str, Any] = {}
    if codes:
        code["coding"] = [_coding(_HL7 + "v3-GTSAbbreviation", codes[0])]
    if frequencies:
        code["text"] = " ".join(a.text for a in frequencies)
    if code:
        timing["code"] = code
    return timing or None, as_needed


def _dosage(attrs: list[Attribute]) -> dict[str, Any] | None:
    if not attrs:
        return None
    by_type: dict[str, list[Attribute]] = {}
    for a in attrs:
        by_type.setdefault(a.type, []).append(a)
    # The sig as written, attribute by attribute: the note's words between them may hold PHI.
    dosage: dict[str, Any] = {"text": " ".join(a.text for a in attrs)}
    timing, as_needed = _timing(by_type.get("FREQUENCY", []), by_type.get("DURATION", []))
    if timing:
        dosage["timing"] = timing
    if as_needed:
        dosage["asNeededBoolean"] = True
    if "ROUTE_OR_MODE" in by_type:
        route = by_type["ROUTE_OR_MODE"][0].text
        known = _maps().data["routes"].get(_norm(route))
        dosage["route"] = {**({"coding": [_coding(SNOMED, *known)]} if known else {}), "text": route}
    dose_and_rate: dict[str, Any] = {}
    form = by_type["FORM"][0].text if "FORM" in by_type else None
    for kind, field in (("DOSAGE", "dose"), ("RATE", "rate")):
        parsed = _amount(by_type[kind][0].text, form if kind == "DOSAGE" else None) if kind in by_type else None
        if parsed:
            dose_and_rate[field + parsed[0]] = parsed[1]
    if dose_and_rate:
        dosage["doseAndRate"] = [dose_and_rate]
    return dosage
