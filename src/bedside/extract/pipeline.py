"""The extraction pipeline behind ``bedside extract``.

    note -> spans (trained model | LLM | none) -> RulePipeline (sections, sentences, rule entities,
            attributes, traits) -> ICD-10-CM linking -> Document

Strategies:
- ``default``: the shipped token classifier finds MEDICAL_CONDITION and MEDICATION spans; rules add
  what the public corpora do not annotate (tests and lab values, sig attributes, time, social
  history, anatomy, PHI) and the lexicons add conditions/medications the model missed.
- ``rules``: rules and lexicons alone (no model file needed; fastest).
- ``llm``: a generative model under a JSON Schema proposes spans (``bedside.extract.llm``); only
  spans found verbatim in the note are kept.

Every returned Document has been checked: each entity's ``text`` equals ``note[begin:end]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedside.clinical import Document, RulePipeline
from bedside.config import Settings
from bedside.errors import InputError
from bedside.extract.language import language_warning
from bedside.extract.phi import PhiSpans
from bedside.extract.phi import merge as merge_phi
from bedside.extract.spans import ModelSpans, SpanDetector

log = logging.getLogger("bedside.extract")

STRATEGIES = ("default", "rules", "llm")
# Notes per span-model call: windows of many short notes batch together (throughput), while a
# group stays small enough that a failing note costs little to retry alone.
GROUP = 32


@dataclass
class Outcome:
    """One note's result in a batch: a document, or the error that stopped it (never both)."""

    document: Document | None = None
    error: Exception | None = None
    warnings: list[str] = field(default_factory=list)


class Extractor:
    """Entities, attributes, traits and ICD-10-CM codes for clinical notes."""

    def __init__(
        self,
        strategy: str = "default",
        *,
        settings: Settings | None = None,
        ner_model: Path | None = None,
        detector: SpanDetector | None = None,
        rules: RulePipeline | None = None,
        link_icd10: bool = True,
        llm_model: str | None = None,
        phi: bool = True,
    ):
        if strategy not in STRATEGIES:
            raise InputError(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.settings = settings or Settings()
        self.max_chars = self.settings.max_note_bytes
        if detector is not None:
            self.detector: SpanDetector | None = detector
        elif strategy == "default":
            self.detector = ModelSpans(ner_model or self.settings.ner_model, threads=self.settings.threads)
        elif strategy == "llm":
            from bedside.extract.llm import LlmSpans

            self.detector = LlmSpans(self.settings, model=llm_model)
        else:
            self.detector = None
        # The lexicons stand in for the model's categories only when no detector covers them.
        self.rules = rules or RulePipeline(fallback=True)
        # NAME, ID and ADDRESS entities from the de-identifier's precise rules (extract/phi.py)
        self.phi = PhiSpans(self.settings.cache_dir) if phi else None
        self.linker = None
        if link_icd10:
            from bedside.coding import default_linker

            self.linker = default_linker(self.settings)

    def close(self) -> None:
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------------------------

    def extract(self, text: str) -> Document:
        """The document for one note; raises InputError for an empty or oversized note."""
        self.check(text)
        return self._finish(text, self._detect([text])[0])

    def extract_many(self, texts: Iterable[str]) -> Iterator[Outcome]:
        """One Outcome per note, in order; a bad note yields its error and the batch goes on."""
        group: list[str] = []
        for text in texts:
            group.append(text)
            if len(group) == GROUP:
                yield from self._group(group)
                group = []
        if group:
            yield from self._group(group)

    def check(self, text: Any) -> None:
        if not isinstance(text, str):
            raise InputError(f"a note must be text, not {type(text).__name__}")
        if not text.strip():
            raise InputError("the note is empty")
        size = len(text.encode("utf-8"))
        if size > self.max_chars:
            raise InputError(
                f"the note is {size:,} bytes; the limit is {self.max_chars:,} (setting max_note_bytes)"
            )

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced the output: strategy, span model and its training metadata digest."""
        out: dict[str, Any] = {"strategy": self.strategy}
        meta = getattr(self.detector, "meta", None)
        if meta:
            out["model"] = {
                "format": meta.get("format"), "base": (meta.get("base_model") or {}).get("name"),
                "sha256": (meta.get("artifact") or {}).get("model_sha256"), "created": meta.get("created"),
                "dev_strict_f1": (meta.get("dev_strict_f1") or {}).get("onnx"),
            }
        elif self.detector is not None:
            out["model"] = getattr(self.detector, "model_name", self.detector.name)
        return out

    # -- internals ------------------------------------------------------------------------------

    def _detect(self, texts: list[str]) -> list[list[dict]]:
        if self.detector is None:
            return [[] for _ in texts]
        return self.detector.spans(texts)

    def _finish(self, text: str, spans: list[dict]) -> Document:
        if self.phi is not None:
            spans = merge_phi(spans, self.phi.spans(text))
        doc = self.rules(text, spans)
        if self.linker is not None:
            from bedside.coding import link_document

            doc = link_document(doc, text, self.linker)
        doc.check_offsets(text)
        return doc

    def _group(self, texts: list[str]) -> Iterator[Outcome]:
        ok: list[int] = []
        outcomes = [Outcome() for _ in texts]
        for i, text in enumerate(texts):
            try:
                self.check(text)
                ok.append(i)
                warning = language_warning(text)
                if warning:
                    outcomes[i].warnings.append(warning)
            except InputError as exc:
                outcomes[i].error = exc
        try:
            spans = self._detect([texts[i] for i in ok])
        except Exception as exc:  # one bad note must not sink the group: retry each alone
            # The class only: a traceback's message can quote the note (a KeyError on a word, say).
            log.debug("span detection failed for a group (%s); retrying notes one by one", type(exc).__name__)
            spans = None
        for n, i in enumerate(ok):
            try:
                found = spans[n] if spans is not None else self._detect([texts[i]])[0]
                outcomes[i].document = self._finish(texts[i], found)
            except Exception as exc:  # noqa: BLE001 — recorded per note, the batch goes on
                outcomes[i].error = exc
        yield from outcomes
