"""Lab and vital-sign values: TEST_VALUE and TEST_UNIT after a test name ("Creatinine 1.4 mg/dL").

Values are searched for only right after a test: a number or a qualitative result ("negative"),
after optional filler ("level of", "was"), then an optional unit from ``tests.json``. Further values
with the same unit before the next test in the sentence belong to the same test ("Creatinine 1.4 mg/dL
on admission, 1.2 mg/dL at discharge").

A word no list knows is a test too when a concentration follows it ("Alpha-fetoprotein: 2.07 ng/ml",
"HCG 1.74 U/l"): a unit of amount per volume or per cell count says "lab result" whatever the analyte.
Rates ("125 mL/hr") and bare units ("2 cm") do not.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.regex import Rx
from bedside.clinical.spans import Span

# a value, a ratio ("120/80") or a range written without spaces ("1.9-2.4"; "Cr 1.4 - 2 days ago" is no range)
_NUMBER = r"(?:[<>≤≥]=?\s*)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?|-\d+(?:\.\d+)?(?![\d/-]))?"
_MORE_GAP = 60  # characters from one value to the next of the same test
# "cc/hr", "mL/min", "beats/min": an infusion or a vital rate, not what a lab reports per volume
_RATE = re.compile(r"/\s*(?:hr?|min)\b", re.I)


@dataclass(frozen=True, slots=True)
class LabLink:
    entity: int
    attribute: Span  # type TEST_VALUE or TEST_UNIT
    relationship_score: float


def _unit_regex(units: Sequence[str]) -> str:
    alts = sorted({u.strip().lower() for u in units if u.strip()}, key=len, reverse=True)
    return "|".join(re.escape(u).replace(r"\ ", r"\s*") for u in alts)


class LabValues:
    def __init__(self, folder: Path | None = None):
        values = resources.require(resources.load("tests.json", folder), "values", "tests.json")
        units = _unit_regex(values["units"])
        # "Plt 98 K" (thousands per microlitre), but in "Na 140 K 4.0" K is the next test, potassium
        alone = _unit_regex(values.get("units_not_before_a_number", ()))
        if alone:
            units = rf"{units}|(?:{alone})(?!\s*\d|\.\d)"
        qualitative = "|".join(re.escape(q.lower()) for q in sorted(values["qualitative"], key=len, reverse=True))
        # A unit must end the token: "mg" is not the start of "mgmt", "%" stands alone.
        unit_tail = r"(?![\w/^])"
        self._first = Rx(
            rf"{values['filler']}(?:(?P<value>{_NUMBER})(?:\s*(?P<unit>{units}){unit_tail})?|(?P<qual>{qualitative})\b)",
            "tests.json values")
        self._more = Rx(rf"(?<![\w.,/])(?P<value>{_NUMBER})\s*(?P<unit>{units}){unit_tail}", "tests.json units")
        concentration = _unit_regex([u for u in values["units"] if "/" in u and not _RATE.search(u)])
        self._not_names = frozenset(w.lower() for w in values.get("not_test_names", ()))
        self._unnamed = Rx(
            rf"(?<![\w-])(?P<name>[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\s+[a-z](?![\w-]))?)(?:\s+(?:level|levels|concentration|titer|titre|trough))?"
            rf"\s*(?:[:=]\s*|\s+(?:of\s+|was\s+|is\s+)?)(?P<value>{_NUMBER})\s*(?:{concentration}){unit_tail}",
            "tests.json units")
        # "70% neutrophils", "13.7 g/dl hemoglobin": a value written before its test, only with a percent
        # or a concentration (a bare number before a test counts tests: "2 blood cultures")
        self._before_rx = re.compile(
            rf"(?<![\w.,/])(?P<value>{_NUMBER})\s*(?P<unit>%|{concentration}){unit_tail}\s*(?:of\s+)?$", re.I)
        # "Creatinine increased from 1.0 to 1.8 mg/dL": the value it went to, right after the first
        self._then = Rx(rf"\s*(?:to|->|and then|then)\s*(?P<value>{_NUMBER})(?:\s*(?P<unit>{units}){unit_tail})?",
                        "tests.json units")

    def unnamed(self, doc: Doc) -> list[Span]:
        """Words right before a value with a concentration unit, as TEST_NAME spans (``requires_value``)."""
        out = []
        for m in self._unnamed.finditer(doc.text, doc.folded):
            b, e = m.span("name")
            # "Chromogranin A 150 ng/mL": a one-letter word may end the name, never be it
            if doc.text[b:e].split()[0].lower() in self._not_names or not doc.within_sentence(b, m.end()):
                continue
            out.append(Span.of(doc.text, b, e, category="TEST_TREATMENT_PROCEDURE", type="TEST_NAME", score=0.7,
                               source="lab", meta={"requires_value": True}))
        return out

    def _before(self, doc: Doc, i: int, test: Span, consumed: int) -> list[LabLink]:
        si = doc.sentence(test.begin)
        lo = max(doc.sentences[si][0], consumed, test.begin - 40) if si is not None else test.begin
        m = self._before_rx.search(doc.text[lo:test.begin])
        if m is None:
            return []
        return [LabLink(i, _span(doc.text, lo + m.start(g), lo + m.end(g), kind), 0.85)
                for g, kind in (("value", "TEST_VALUE"), ("unit", "TEST_UNIT"))]

    def attach(self, doc: Doc, tests: Sequence[Span]) -> list[LabLink]:
        """Values of each test (``tests`` in text order; the index in links refers to it)."""
        text = doc.text
        links: list[LabLink] = []
        consumed = 0  # end of the last value taken: a "test" inside a unit ("K" of "K/uL") is none
        begins = [t.begin for t in tests]
        for i, test in enumerate(tests):
            si = doc.sentence(test.begin)
            if si is None or test.begin < consumed:
                continue
            end = doc.sentences[si][1]
            m = self._first.match(text, doc.folded, test.end, end)
            if m is None:
                links += self._before(doc, i, test, consumed)
                continue
            group = "value" if m.group("value") else "qual"
            pair = _paired_values(text, tests, i, m) if group == "value" else None
            if pair is not None:  # "BUN/Cr 20/1.1": one value for each test of the pair
                first, second = pair
                links.append(LabLink(i - 1, first, 0.9))
                links.append(LabLink(i, second, 0.9))
            else:
                links.append(LabLink(i, _value(text, m, group, "TEST_VALUE"), 0.95))
            consumed = m.end()
            if not m.group("unit"):
                then = self._then.match(text, doc.folded, m.end(), end) if group == "value" and pair is None else None
                if then is not None:
                    links.append(LabLink(i, _value(text, then, "value", "TEST_VALUE"), 0.9))
                    if then.group("unit"):
                        links.append(LabLink(i, _value(text, then, "unit", "TEST_UNIT"), 0.9))
                    consumed = then.end()
                continue
            unit = m.group("unit")
            links.append(LabLink(i, _value(text, m, "unit", "TEST_UNIT"), 0.95))
            k = bisect_left(begins, m.end())
            limit = min(end, begins[k]) if k < len(begins) else end
            pos = m.end()
            while pos < limit:
                more = self._more.search(text, doc.folded, pos, min(limit, pos + _MORE_GAP))
                if more is None or more.group("unit").lower() != unit.lower():
                    break
                links.append(LabLink(i, _value(text, more, "value", "TEST_VALUE"), 0.8))
                links.append(LabLink(i, _value(text, more, "unit", "TEST_UNIT"), 0.8))
                pos = consumed = more.end()
        return links


def _paired_values(text: str, tests: Sequence[Span], i: int, m: re.Match[str]) -> tuple[Span, Span] | None:
    """For "BUN/Cr 20/1.1" (two tests joined by a slash, then two values joined by one), the two values."""
    if i == 0 or text[tests[i - 1].end:tests[i].begin].strip() != "/":
        return None
    b, e = m.span("value")
    parts = re.fullmatch(r"([^/]*?)\s*/\s*(.+)", text[b:e])
    if parts is None:
        return None
    return (_span(text, b + parts.start(1), b + parts.end(1), "TEST_VALUE"),
            _span(text, b + parts.start(2), b + parts.end(2), "TEST_VALUE"))


def _value(text: str, m: re.Match[str], group: str, type_: str) -> Span:
    return _span(text, *m.span(group), type_)


def _span(text: str, begin: int, end: int, type_: str) -> Span:
    return Span.of(text, begin, end, type=type_, source="lab", score=0.9)
