"""Detectors and how they are combined.

A detector is any callable ``text -> list[PhiSpan]`` with a ``name`` (the spans' ``source``). The
default detector runs patterns, names and places over the text; a trained sequence-labelling model
(``bedside train ner`` on PhysioNet-style data) plugs in as :class:`NerDetector`. :class:`Combined`
takes the union of all of them, spreads well-evidenced names and places to their other mentions in
the note (``propagate``) and resolves overlaps (``spans.resolve``): recall first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from bedside.deid.spans import TYPES, PhiSpan, resolve, trim
from bedside.errors import InputError


class Detector(Protocol):
    name: str

    def __call__(self, text: str) -> list[PhiSpan]: ...


class Combined:
    name = "combined"

    def __init__(self, detectors: Sequence[Detector], *, min_score: float = 0.0,
                 propagate: Callable[[str, list[PhiSpan]], list[PhiSpan]] | None = None):
        self.detectors = list(detectors)
        self.min_score = min_score
        self.propagate = propagate

    def __call__(self, text: str) -> list[PhiSpan]:
        if not isinstance(text, str):
            raise InputError(f"text must be a str, not {type(text).__name__} (decode bytes first)")
        found: list[PhiSpan] = []
        for detector in self.detectors:
            for s in detector(text):
                b, e = trim(text, s.begin, s.end)
                if e > b and s.score >= self.min_score:
                    found.append(s if (b, e) == (s.begin, s.end) else PhiSpan.of(text, b, e, s.type, s.score, s.source))
        if self.propagate is not None:
            found += self.propagate(text, found)
        return resolve(text, found)


class NerDetector:
    """Spans from an exported bedside NER artifact whose categories are PHI types (NAME, DATE, ...)."""

    name = "ner"

    def __init__(self, path: Path, *, threads: int = 0, type_map: dict[str, str] | None = None,
                 min_score: float = 0.0):
        from bedside.ner.infer import NerModel

        self.model = NerModel(path, threads=threads)
        self.type_map = type_map or {}
        self.min_score = min_score

    def __call__(self, text: str) -> list[PhiSpan]:
        return self.spans([text])[0]

    def spans(self, texts: list[str]) -> list[list[PhiSpan]]:
        out = []
        for text, ents in zip(texts, self.model.predict(texts), strict=True):
            out.append([
                PhiSpan.of(text, e.begin_offset, e.end_offset, self._type(e.category), e.score, self.name)
                for e in ents if e.score >= self.min_score
            ])
        return out

    def _type(self, category: str) -> str:
        t = self.type_map.get(category, category.upper())
        return t if t in TYPES else "ID"


# Tagger spans below this score are dropped when the tagger runs beside the rules: on held-out
# PhysioNet patients (benchmarks/results/deid_ner.md) rules + tagger gave recall 0.971 / precision
# 0.841 with every span and 0.971 / 0.892 with spans scoring >= 0.8 (the rules already find what
# the tagger is unsure of).
NER_MIN_SCORE = 0.8


def default_detector(*, ner_model: Path | None = None, cache_dir: Path | None = None,
                     gazetteer: Path | None = None, extra: Iterable[Detector] = (),
                     ner_min_score: float | None = None) -> Combined:
    """Patterns + names + places (+ a site gazetteer and the NER model when given)."""
    from bedside.deid import vocab
    from bedside.deid.names import NameDetector
    from bedside.deid.patterns import PatternDetector
    from bedside.deid.places import PlaceDetector
    from bedside.deid.propagate import Propagator
    from bedside.deid.words import Lexicon

    v = vocab.load(cache_dir)
    detectors: list[Detector] = [PatternDetector(), NameDetector(v), PlaceDetector(v)]
    if gazetteer is not None:
        from bedside.deid.gazetteer import Gazetteer

        detectors.append(Gazetteer.load(gazetteer))
    if ner_model is not None:
        detectors.append(NerDetector(ner_model, min_score=NER_MIN_SCORE if ner_min_score is None else ner_min_score))
    return Combined(detectors + list(extra), propagate=Propagator(Lexicon(v)))
