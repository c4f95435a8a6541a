"""PROTECTED_HEALTH_INFORMATION / PHONE_OR_FAX spans from resources/clinical/phi.json: exactly the number.

The area code's parentheses belong to the span only as a pair: "(617) 555-1234" whole, wherever it
stands, and never a lone "(" or ")" (the old pattern took "(" of "(410-555-1234)" into the span).
"""

from __future__ import annotations

import pytest
from clinical_helpers import assert_exact, shared_pipeline


def phones(text: str) -> list[str]:
    doc = shared_pipeline()(text)
    assert_exact(doc, text)
    return [e.text for e in doc.entities
            if e.category == "PROTECTED_HEALTH_INFORMATION" and e.type == "PHONE_OR_FAX"]


@pytest.mark.parametrize("text", [
    "(617) 555-1234",
    "Call (617) 555-1234 today.",
    "Phone: (617) 555-1234.",
    "Tel:(617) 555-1234",
    "home(617) 555-1234",
    "ext-(617) 555-1234",
    "Dr. Ames (617) 555-1234 (cell)",
    "BP 120/80, call (617) 555-1234 if worse",
])
def test_parenthesised_area_code_is_the_whole_span(text):
    assert phones(text) == ["(617) 555-1234"]


@pytest.mark.parametrize(("text", "expected"), [
    ("His wife (410-555-1234) visited.", ["410-555-1234"]),  # parentheses around the number stay outside
    ("Contact (617 555-1234) after 5pm.", ["617 555-1234"]),
    ("call (617)555-1234 now", ["(617)555-1234"]),
    ("call 555-123-4567 or write", ["555-123-4567"]),
    ("+1 (617) 555-1234", ["+1 (617) 555-1234"]),
    ("1-800-555-1234", ["1-800-555-1234"]),
    ("(617) 555-1234\n(508) 555-9876", ["(617) 555-1234", "(508) 555-9876"]),
])
def test_phone_spans(text, expected):
    assert phones(text) == expected


@pytest.mark.parametrize("text", ["seen 2023-03-15", "MRN 12345678901", "BP 140/90 x 555-1234"])
def test_not_phones(text):
    assert phones(text) == []


def test_no_span_has_an_unpaired_parenthesis():
    text = "Numbers: (617) 555-1234, (410-555-1234), 617) 555-9876 and (508 555-4321)."
    for span in phones(text):
        assert span.count("(") == span.count(")"), span
