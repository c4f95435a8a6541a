"""Where entity spans come from, one class per strategy: the trained model, or an LLM.

A detector turns notes into spans (``begin_offset``, ``end_offset``, ``category``, ``score``) that the
rule layer then types, attributes and traits. Detectors see bounded pieces of a note
(:func:`bedside.extract.chunks.chunks`) and return offsets into the whole note.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Protocol

from bedside.errors import ModelUnavailableError
from bedside.extract.chunks import chunks

# The span model reads one sentence at a time, as it was trained (PubMed sentences): a 128-subword
# window cut in the middle of a long text loses context and split "type 2 diabetes | mellitus" in
# two in 11 of 400 copies of a note. A "sentence" longer than this (no punctuation or line breaks)
# is cut into pieces so that memory stays bounded.
MODEL_PIECE_CHARS = 20_000
SHIPPED_MODEL = "resources/ner/default"

Progress = Callable[[list], object]


class SpanDetector(Protocol):
    name: str

    def spans(self, texts: list[str]) -> list[list[dict]]:
        """For each text, its spans as dicts with begin_offset, end_offset, category, score."""
        ...


def shipped_model_dir() -> Path:
    return Path(str(resources.files("bedside").joinpath(SHIPPED_MODEL)))


class ModelSpans:
    """The ONNX token classifier (``bedside train ner`` output): MEDICAL_CONDITION and MEDICATION spans."""

    name = "model"

    def __init__(self, path: Path | None = None, *, threads: int = 0):
        try:
            from bedside.ner.infer import NerModel
        except ImportError as exc:  # onnxruntime/tokenizers are core dependencies; a broken install
            raise ModelUnavailableError(f"the entity model needs onnxruntime and tokenizers ({exc})") from exc
        from bedside.clinical import SentenceSplitter

        self.path = Path(path) if path is not None else shipped_model_dir()
        self.model = NerModel(self.path, threads=threads)
        self.sentences = SentenceSplitter()

    @property
    def meta(self) -> dict:
        return self.model.meta

    def spans(self, texts: list[str]) -> list[list[dict]]:
        pieces = [
            (i, b + off, piece)
            for i, text in enumerate(texts)
            for b, e in self.sentences(text)
            for off, piece in chunks(text[b:e], MODEL_PIECE_CHARS)
        ]
        found = self.model.predict([p for _, _, p in pieces])
        out: list[list[dict]] = [[] for _ in texts]
        for (i, off, _), ents in zip(pieces, found, strict=True):
            for e in ents:
                out[i].append({
                    "begin_offset": e.begin_offset + off, "end_offset": e.end_offset + off,
                    "category": e.category, "score": e.score, "text": e.text,
                })
        return out
