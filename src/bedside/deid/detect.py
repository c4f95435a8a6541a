"""Detectors and how they are combined.

A detector is any callable ``text -> list[PhiSpan]`` with a ``name`` (the spans' ``source``). The
default detector runs patterns, names and places over the text, and beside them a trained
sequence-labelling model (``bedside train ner`` on PhysioNet-style data; one ships in the package)
as :class:`NerDetector`, whose spans the rules' tests vet first (``deid.vet``). :class:`Combined`
takes the union of all of them, spreads well-evidenced names and places to their other mentions in
the note (``propagate``) and resolves overlaps (``spans.resolve``): recall first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from bedside.deid.spans import TAGGER, TYPES, PhiSpan, resolve, trim
from bedside.errors import InputError

log = logging.getLogger("bedside.deid")


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

    name = TAGGER

    def __init__(self, path: Path, *, threads: int = 0, type_map: dict[str, str] | None = None,
                 min_score: float = 0.0, vet: Callable[[str, PhiSpan], bool] | None = None,
                 max_chars: int | None = None):
        from bedside.ner.infer import NerModel

        self.model = NerModel(path, threads=threads)
        self.type_map = type_map or {}
        self.min_score = min_score
        self.vet = vet  # deid.vet.Vetter beside the rules: drops look-alikes the rules know
        self.max_chars = max_chars

    def __call__(self, text: str) -> list[PhiSpan]:
        return self.spans([text])[0]

    def spans(self, texts: list[str]) -> list[list[PhiSpan]]:
        out = []
        if self.max_chars is not None and any(len(t) > self.max_chars for t in texts):
            log.warning("PHI tagger skipped for a text of more than %d characters (rules only there); "
                        "de-identify long records note by note for the tagger's recall", self.max_chars)
            texts = [t if len(t) <= self.max_chars else "" for t in texts]
        for text, ents in zip(texts, self.model.predict(texts), strict=True):
            spans = []
            for e in ents:
                b, end = trim(text, e.begin_offset, e.end_offset)  # ". Nicholson": word pieces carry punctuation
                if e.score >= self.min_score and end > b:
                    spans.append(PhiSpan.of(text, b, end, self._type(e.category), e.score, self.name))
            out.append([s for s in spans if self.vet(text, s)] if self.vet is not None else spans)
        return out

    def _type(self, category: str) -> str:
        t = self.type_map.get(category, category.upper())
        return t if t in TYPES else "ID"


# Tagger spans below this score are dropped when the tagger runs beside the rules: on held-out
# PhysioNet patients (benchmarks/results/deid_ner.md) rules + tagger gave recall 0.971 / precision
# 0.841 with every span and 0.971 / 0.892 with spans scoring >= 0.8 (the rules already find what
# the tagger is unsure of). With deid.vet in front (2026-12-03): 0.993 / 0.952 at 0.8, 0.993 / 0.930
# at 0.5; the rules alone 0.986 / 0.967.
NER_MIN_SCORE = 0.8
# The PHI tagger that ships in the package (recipe deid_physionet_synth on all PhysioNet notes plus
# synthetic ones; scripts/ship_ner_model.py --to deid). It runs beside the rules unless turned off.
SHIPPED_TAGGER = "resources/deid/tagger"
# Beside the rules the tagger reads texts up to this size. It reads about 30,000 characters a second
# on 2 CPU cores (the rules ~400,000), so a 5 MB dump of many notes would take minutes; past the
# limit the rules alone run and a warning says so (a clinical note is 2-20 kB).
TAGGER_MAX_CHARS = 1_000_000


def shipped_tagger() -> Path | None:
    """The packaged PHI tagger's folder, or None in a checkout or build without it."""
    from importlib import resources

    from bedside.ner.infer import MODEL_FILE

    folder = Path(str(resources.files("bedside").joinpath(SHIPPED_TAGGER)))
    return folder if (folder / MODEL_FILE).is_file() else None


def default_detector(*, ner_model: Path | None = None, cache_dir: Path | None = None,
                     gazetteer: Path | None = None, extra: Iterable[Detector] = (),
                     ner_min_score: float | None = None, tagger: bool = True) -> Combined:
    """Patterns + names + places + the PHI tagger (``ner_model``, else the shipped one; none with
    ``tagger=False``), and a site gazetteer when given."""
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
    lexicon = Lexicon(v)
    if ner_model is None and tagger:
        ner_model = shipped_tagger()
    if ner_model is not None:
        from bedside.deid.vet import Vetter

        detectors.append(NerDetector(ner_model, min_score=NER_MIN_SCORE if ner_min_score is None else ner_min_score,
                                     vet=Vetter(lexicon), max_chars=TAGGER_MAX_CHARS))
    return Combined(detectors + list(extra), propagate=Propagator(lexicon))
