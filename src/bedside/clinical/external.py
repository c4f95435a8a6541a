"""Entity spans from another detector (the trained NER model, an LLM, a user), checked and typed.

Anything with character offsets and a category is accepted: a :class:`Span`, a mapping with
``begin_offset``/``end_offset`` (or ``begin``/``end``) and ``category``, or an object with those
attributes such as ``bedside.ner.infer.Entity``. Offsets must lie inside the text, and a span that
carries its own text must carry exactly ``text[begin:end]``: a mismatch means the detector saw other
text (a different decoding, a normalised copy) and its offsets cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bedside.clinical.spans import Span
from bedside.errors import InputError

# The type an entity gets when its detector names only a category.
DEFAULT_TYPES = {
    "MEDICAL_CONDITION": "DX_NAME",
    "MEDICATION": "GENERIC_NAME",
    "TEST_TREATMENT_PROCEDURE": "TEST_NAME",
    "ANATOMY": "SYSTEM_ORGAN_SITE",
    "TIME_EXPRESSION": "TIME_EXPRESSION",
}


def _field(item: Any, *names: str) -> Any:
    for name in names:
        if isinstance(item, Mapping):
            if name in item:
                return item[name]
        elif hasattr(item, name):
            return getattr(item, name)
    return None


def coerce(text: str, items: Iterable[Any] | None) -> list[Span]:
    """The given entities as spans (``source="external"``), in the order given."""
    out: list[Span] = []
    for n, item in enumerate(items or ()):
        if isinstance(item, Span):
            begin, end, category, type_, score = item.begin, item.end, item.category, item.type, item.score
            given = item.text
        else:
            begin = _field(item, "begin_offset", "begin", "start")
            end = _field(item, "end_offset", "end")
            category = _field(item, "category", "label")
            type_ = _field(item, "type") or ""
            score = _field(item, "score")
            given = _field(item, "text")
        if not isinstance(begin, int) or not isinstance(end, int) or isinstance(begin, bool) or isinstance(end, bool):
            raise InputError(f"entity {n}: begin and end offsets must be integers")
        if not 0 <= begin < end <= len(text):
            raise InputError(f"entity {n}: offsets {begin}-{end} are outside the text (length {len(text)})")
        if not isinstance(category, str) or not category:
            raise InputError(f"entity {n}: a category is required (e.g. MEDICAL_CONDITION)")
        if given is not None and given != text[begin:end]:
            raise InputError(f"entity {n}: its text does not match the input at offsets {begin}-{end}")
        score = 1.0 if score is None else float(score)
        if not 0.0 <= score <= 1.0:
            raise InputError(f"entity {n}: score {score} is not between 0 and 1")
        category = category.upper()
        # flags from the model's memory of its training corpora (bedside.ner.memory): a span they never
        # tagged is kept only if a lexicon knows it; one they nearly always tagged yields to any rule
        meta = {k: True for k in ("untagged", "memory") if _field(item, k) is True}
        out.append(Span.of(text, begin, end, category=category, type=str(type_).upper(), score=score,
                           source="external", meta=meta))
    return out
