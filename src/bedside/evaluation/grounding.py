"""Generated text checked against its source: groundedness and hallucination rate (radiology impressions).

- parser ``text``: the answer is text: a JSON string (constrained decoding), a one-field JSON object's
  string, or the output itself (free decoding) without a leading "Impression:" label, up to the first
  blank line. Empty output is unparsed.
- metrics ``groundedness`` and ``hallucination_rate`` (= 1 − groundedness): of all clinical findings
  stated in the generated texts, the share the item's ``{findings}`` field supports, pooled over the
  corpus (an output stating more findings weighs more). A cell whose outputs state no finding at all
  has neither (None). Unparsed outputs state nothing.

A finding is a MEDICAL_CONDITION entity that bedside's extractor (the shipped model plus the rule
layer, ``bedside.extract.Extractor``) finds in the generated text, with ConText's NEGATION trait. Its
normalised form is the set of its word stems as the ICD-10 linker normalises them
(``bedside.coding.text.Vocabulary``: abbreviations expanded, inflection and synonyms folded, so
"pleural effusions" = "effusion, pleural"). The findings text *affirms* it when

- the extractor finds an affirmed (non-negated) condition in the findings whose normalised form
  contains it ("effusion" is affirmed by "left pleural effusion"), or one that it contains, its
  other words standing in the same findings sentence ("right lower lobe pneumonia" is affirmed by
  "opacity in the right lower lobe consistent with pneumonia", not by "left lower lobe pneumonia"),
  or
- its words occur verbatim in the findings (case aside, whole words) where ConText does not mark
  them negated.

An affirmed finding of the output is supported when the findings affirm it. A negated one ("no
pneumothorax", "no acute cardiopulmonary disease") is a statement of absence: it is supported unless
the findings affirm that very finding, since a summary's pertinent negatives need not be spelled out
in the findings, but one that denies what the findings report is a hallucination.

ConText ignores a trigger that overlaps the entity, and the extractor's span can swallow a trigger's
last word ("No acute" + "acute pulmonary disease"): an entity ConText leaves affirmed is checked again
without its first one or two words, and counts as negated when that shorter span is.

Limits: equivalence beyond stems and synonyms is not seen ("enlarged heart" does not support
"cardiomegaly"), and a negated summary term is not checked against the specific findings it
subsumes ("no acute disease" beside an affirmed "pneumonia" counts as supported).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bedside.evaluation.metrics import Metric, register_metric
from bedside.evaluation.parsers import register_parser

GROUNDED_CATEGORIES = frozenset({"MEDICAL_CONDITION"})
SOURCE_FIELD = "findings"
_LABEL = re.compile(r"^\W*impression\W*:\s*", re.IGNORECASE)


# -- parser --------------------------------------------------------------------------------------
@register_parser("text")
def parse_text(text: str, choices: Sequence[str]) -> str | None:
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, str):
        out = value
    else:
        out = re.split(r"\n\s*\n", _LABEL.sub("", stripped), maxsplit=1)[0]
    out = out.strip()
    return out or None


# -- claims --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    text: str
    key: frozenset[str]  # normalised form: canonical word stems
    negated: bool
    sentence: frozenset[str] = frozenset()  # the normalised words of the sentence it stands in


class Grounder:
    """Finds the claims of a text and checks them against a source text; caches per text."""

    def __init__(self, extractor: Any = None):
        from bedside.coding.text import Vocabulary

        self._extractor = extractor
        self.vocabulary = Vocabulary.load()
        self.claims = lru_cache(maxsize=20_000)(self._claims)

    @property
    def extractor(self) -> Any:
        if self._extractor is None:
            from bedside.extract import Extractor

            self._extractor = Extractor("default", link_icd10=False)
        return self._extractor

    def key(self, text: str) -> frozenset[str]:
        synonyms = self.vocabulary.synonyms
        return frozenset(min(synonyms.get(t.stem, {t.stem})) for t in self.vocabulary.terms(text, mention=True))

    def _claims(self, text: str) -> tuple[Claim, ...]:
        if not text.strip():
            return ()
        document = self.extractor.extract(text)
        sentences = self.extractor.rules.analyze(text).sentences
        out = []
        for e in document.entities:
            if e.category not in GROUNDED_CATEGORIES:
                continue
            b, x = next(((b, x) for b, x in sentences if b <= e.begin_offset < x), (e.begin_offset, e.end_offset))
            negated = any(t.name == "NEGATION" for t in e.traits) or self._negated_head(text, e)
            out.append(Claim(e.text, self.key(e.text), negated, self.key(text[b:max(x, e.end_offset)])))
        return tuple(out)

    def _negated_head(self, text: str, entity: Any) -> bool:
        """Whether the entity without its first one or two words is negated (see the module notes)."""
        words = [m.start() for m in re.finditer(r"\S+", entity.text)][1:3]
        spans = [{"begin_offset": entity.begin_offset + w, "end_offset": entity.end_offset,
                  "category": entity.category} for w in words]
        if not spans:
            return False
        return any(t.name == "NEGATION" for found in self.extractor.rules.traits_for(text, spans) for t in found)

    def affirmed_in(self, claim: Claim, source: str) -> bool:
        """Whether ``source`` states ``claim``'s finding as present."""
        if not claim.key:
            return False
        for found in self.claims(source):
            if found.negated or not found.key:
                continue
            if claim.key <= found.key or found.key <= claim.key <= found.sentence:
                return True
        pattern = re.compile(r"(?<!\w)" + re.escape(claim.text) + r"(?!\w)", re.IGNORECASE)
        spans = [{"begin_offset": m.start(), "end_offset": m.end(), "category": "MEDICAL_CONDITION"}
                 for m in pattern.finditer(source)]
        if not spans:
            return False
        traits = self.extractor.rules.traits_for(source, spans)
        return any(all(t.name != "NEGATION" for t in found) for found in traits)

    def counts(self, text: str, source: str) -> tuple[int, int]:
        """(supported claims, claims) of ``text`` against ``source``."""
        claims = self.claims(text)
        supported = sum(self.affirmed_in(c, source) != c.negated for c in claims)
        return supported, len(claims)


@lru_cache(maxsize=1)
def grounder() -> Grounder:
    return Grounder()


# -- metrics -------------------------------------------------------------------------------------
def grounding_counts(pred: Any, fields: dict[str, str] | None) -> tuple[int, int]:
    if not isinstance(pred, str) or not pred.strip():
        return 0, 0
    return grounder().counts(pred, (fields or {}).get(SOURCE_FIELD, ""))


def _share(counts: Sequence[tuple[int, int]], invert: bool) -> float | None:
    supported = sum(s for s, _ in counts)
    total = sum(n for _, n in counts)
    if total == 0:
        return None
    share = supported / total
    return 1 - share if invert else share


def _metric(name: str, invert: bool, description: str) -> Metric:
    def corpus(preds: Sequence[Any], golds: Sequence[Any], inputs: Sequence[dict[str, str]]) -> float | None:
        return _share([grounding_counts(p, f) for p, f in zip(preds, inputs, strict=True)], invert)

    def resampler(preds: Sequence[Any], golds: Sequence[Any], inputs: Sequence[dict[str, str]]):
        counts = [grounding_counts(p, f) for p, f in zip(preds, inputs, strict=True)]
        return lambda idx: _share([counts[i] for i in idx], invert)

    return Metric(name, not invert, description, corpus=corpus, resampler=resampler, uses_inputs=True)


register_metric(_metric("groundedness", False,
                        "share of the findings stated in the outputs that the source text supports"))
register_metric(_metric("hallucination_rate", True,
                        "share of the findings stated in the outputs that the source text does not support"))
