"""PHI spans and how the spans of several detectors become one list ("recall first").

Offsets are code-point offsets into the original input, end exclusive: ``text == input[begin:end]``.
Detectors only propose; :func:`resolve` takes the union of every proposal and merges spans that
overlap or touch into one covering span, so that a weaker detector can widen what a stronger one
found but never shrink it. The merged span keeps the type of its best-scoring part.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

# The HIPAA Safe Harbor classes bedside reports. Finer sources map onto these (resources/deid/*.json).
TYPES = (
    "NAME", "LOCATION", "HOSPITAL", "ADDRESS", "ZIP", "DATE", "AGE", "PHONE", "FAX", "EMAIL", "SSN", "MRN",
    "ID", "ACCOUNT", "LICENSE", "DEVICE", "VEHICLE", "URL", "IP", "PROFESSION",
)


@dataclass(frozen=True, slots=True)
class PhiSpan:
    begin: int
    end: int
    type: str
    text: str
    score: float = 1.0
    source: str = "pattern"

    @classmethod
    def of(cls, text: str, begin: int, end: int, type: str, score: float, source: str) -> PhiSpan:
        return cls(begin, end, type, text[begin:end], round(float(score), 4), source)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def trim(text: str, begin: int, end: int) -> tuple[int, int]:
    """The range without surrounding white space and trailing commas/semicolons/colons."""
    while begin < end and text[begin].isspace():
        begin += 1
    while end > begin and (text[end - 1].isspace() or text[end - 1] in ",;:"):
        end -= 1
    return begin, end


# The source name of the trained PHI tagger's spans (deid.detect.NerDetector). When a rule found the
# same span, the rule names its class: rules read context words ("MRN 0456...", "... Hospital") and
# know bedside's fine classes, the tagger knows PhysioNet's six (it called an MRN a PHONE).
TAGGER = "ner"


def resolve(text: str, spans: Iterable[PhiSpan]) -> list[PhiSpan]:
    """One span per overlapping group, in text order; the group's best-scoring member names the type
    (its best-scoring rule member, when the tagger is not alone).

    Spans that only touch (``a.end == b.begin``) are kept apart unless they have the same type, so two
    halves of one name become one span while a date right after a name stays a span of its own.
    """
    out: list[PhiSpan] = []
    group: list[PhiSpan] = []

    def flush() -> None:
        if not group:
            return
        best = max(group, key=lambda s: (s.score, s.end - s.begin))
        rules = [s for s in group if s.source != TAGGER]
        kind = max(rules, key=lambda s: (s.score, s.end - s.begin)).type if rules else best.type
        b, e = min(s.begin for s in group), max(s.end for s in group)
        sources = sorted({s.source for s in group})
        out.append(PhiSpan.of(text, b, e, kind, best.score, "+".join(sources)))
        group.clear()

    end = -1
    for s in sorted((s for s in spans if s.end > s.begin), key=lambda s: (s.begin, -s.end)):
        joins = group and (s.begin < end or (s.begin == end and s.type == group[-1].type))
        if not joins:
            flush()
        group.append(s)
        end = max(end, s.end) if joins else s.end
    flush()
    return out
