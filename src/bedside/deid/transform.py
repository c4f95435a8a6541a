"""Turning found spans into de-identified text: ``mask``, ``redact`` or ``surrogate``.

- ``mask`` writes the class: "[NAME]", "[DATE]".
- ``redact`` removes the span (nothing is written in its place).
- ``surrogate`` writes a realistic stand-in (``surrogates``): fake names and places, numbers with the
  same layout, dates shifted by the patient's offset (``dateshift``), ages over 89 as "90+".

The output is built in memory and returned whole; nothing is written until the caller has it all.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from bedside.deid.spans import PhiSpan
from bedside.deid.surrogates import Surrogates


class Mode(StrEnum):
    mask = "mask"
    redact = "redact"
    surrogate = "surrogate"


def replacement(span: PhiSpan, mode: Mode, surrogates: Surrogates | None, offset_days: int) -> str:
    if mode is Mode.mask:
        return f"[{span.type}]"
    if mode is Mode.redact:
        return ""
    assert surrogates is not None, "surrogate mode needs a Surrogates"
    if span.type == "DATE":
        return surrogates.date(span.text, offset_days)
    return surrogates(span.type, span.text)


def apply(text: str, spans: Iterable[PhiSpan], mode: Mode, surrogates: Surrogates | None = None,
          offset_days: int = 0) -> str:
    """``text`` with every span replaced; spans must not overlap (``spans.resolve`` output)."""
    out: list[str] = []
    pos = 0
    for s in sorted(spans, key=lambda s: s.begin):
        if s.begin < pos:
            raise ValueError("overlapping spans; resolve them first")
        out.append(text[pos:s.begin])
        out.append(replacement(s, mode, surrogates, offset_days))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)
