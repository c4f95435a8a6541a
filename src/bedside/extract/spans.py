"""Where entity spans come from, one class per strategy: the trained model, or an LLM.

A detector turns notes into spans (``begin_offset``, ``end_offset``, ``category``, ``score``) that the
rule layer then types, attributes and traits. Detectors see bounded pieces of a note
(:func:`bedside.extract.chunks.chunks`) and return offsets into the whole note.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bedside.errors import ModelUnavailableError
from bedside.extract.chunks import chunks

if TYPE_CHECKING:
    from bedside.ner.memory import Tagged

# The span model reads one sentence at a time, as it was trained (PubMed sentences): a 128-subword
# window cut in the middle of a long text loses context and split "type 2 diabetes | mellitus" in
# two in 11 of 400 copies of a note. A "sentence" longer than this (no punctuation or line breaks)
# is cut into pieces so that memory stays bounded.
MODEL_PIECE_CHARS = 20_000
SHIPPED_MODEL = "resources/ner/default"
# Two spans of one category separated by a single space, one of them unsure, are one entity: the
# model tagged "systolic" (0.41) and "heart failure" (0.83) apart in "chronic systolic heart failure".
# Neutral on dev (strict F1 +0.00 NCBI, +0.05 BC5CDR-disease, +0.02 chemical); merging every such
# pair instead cost NCBI 0.4.
MERGE_BELOW = 0.5
# A qualifier alone ("type 2", "stage IV", "grade 3") is never an entity, whatever the model is
# sure of: joined to the condition that directly follows it. The model trained on train+dev tagged
# "type 2" (0.99) and "diabetes mellitus" (0.77) apart; PubMed corpora rarely write the phrase.
QUALIFIER = re.compile(r"(?i)(?:type|stage|grade|class)\s+(?:[0-9]{1,2}[a-c]?|i{1,3}|iv|v|vi)")
# The same "type" qualifier left untagged right before a condition is taken in: "3. Type 2 diabetes
# mellitus" came out as "diabetes mellitus" in a numbered list, which links to E14-like codes
# instead of E11. BC5CDR tags "type II diabetes" as one disease.
TYPE_BEFORE = re.compile(r"(?i)\btype\s+(?:[12]|i{1,2})\s$")

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
        from bedside.clinical.sections import Sectionizer

        self.path = Path(path) if path is not None else shipped_model_dir()
        self.model = NerModel(self.path, threads=threads)
        self.sentences = SentenceSplitter()
        self.sections = Sectionizer()

    @property
    def meta(self) -> dict:
        return self.model.meta

    def spans(self, texts: list[str]) -> list[list[dict]]:
        pieces = [
            (i, b + off, piece)
            for i, text in enumerate(texts)
            for b, e in _without_headings(self.sentences(text), self._headings(text))
            for off, piece in chunks(text[b:e], MODEL_PIECE_CHARS)
        ]
        # All notes' sentences are batched together, sorted by length: 28 notes/s for the model on 2 kB
        # notes, against 20 at best (8 per batch) when each note runs alone. The price: int8 dynamic
        # quantization scales activations over a whole batch, so a sentence's entities can differ with
        # the other sentences batched beside it (dev strict F1 moved by 0.02-0.3 either way between
        # batch sizes 1 and 32). Static activation scales would remove that; not done yet.
        found = self.model.predict([p for _, _, p in pieces])
        out: list[list[dict]] = [[] for _ in texts]
        untagged = self.model.untagged  # spans the rule layer drops unless its lexicon knows them (ner/memory.py)
        tagged = self.model.tagged  # strings the training corpora nearly always tagged (ner/memory.py)
        for (i, off, piece), ents in zip(pieces, found, strict=True):
            merged: list[dict] = []
            for e in ents:
                prev = merged[-1] if merged else None
                if (prev is not None and prev["category"] == e.category
                        and piece[prev["end_offset"]:e.begin_offset] == " "
                        and (min(prev["score"], e.score) < MERGE_BELOW
                             or QUALIFIER.fullmatch(piece[prev["begin_offset"]:prev["end_offset"]]))):
                    prev.update(end_offset=e.end_offset, score=(prev["score"] + e.score) / 2)
                    continue
                merged.append({"begin_offset": e.begin_offset, "end_offset": e.end_offset,
                               "category": e.category, "score": e.score})
            hits = tagged.find(piece) if tagged is not None else []
            if hits:
                merged = _grown(piece, merged, hits, tagged)
            for m in merged:
                b, e = m["begin_offset"], m["end_offset"]
                condition = m["category"] == "MEDICAL_CONDITION"
                qualifier = TYPE_BEFORE.search(piece, max(0, b - 12), b) if condition else None
                if qualifier:
                    b = qualifier.start()
                flag = untagged is not None and untagged.contains(m["category"], piece[b:e])
                out[i].append({**m, "begin_offset": b + off, "end_offset": e + off, "text": piece[b:e],
                               **({"untagged": True} if flag else {})})
            # a remembered string is added only where the model tagged nothing of its category
            taken = [(m["begin_offset"], m["end_offset"], m["category"]) for m in merged]
            out[i].extend(
                {"begin_offset": b + off, "end_offset": e + off, "category": cat, "score": share,
                 "text": piece[b:e], "memory": True}
                for b, e, cat, share in hits
                if not any(b < te and tb < e and tc == cat for tb, te, tc in taken))
        return out

    def _headings(self, text: str) -> list[tuple[int, int]]:
        return [(s.heading_begin, s.heading_end) for s in self.sections(text) if s.heading_end > s.heading_begin]


def _grown(piece: str, merged: list[dict], hits: list[tuple[int, int, str, float]], tagged: Tagged) -> list[dict]:
    """Model spans inside a longer string their training corpora nearly always tagged whole take that string.

    "migraine" of "migraine with aura", "seizure" of "tonic-clonic seizure": the model stops short
    where its corpora did not. A span whose own words are remembered too keeps its boundaries. With a
    train-only model and lists, dev strict F1 through the pipeline rose by +0.25 NCBI, +0.13
    BC5CDR-disease, +0.10 chemical (docs/extraction.md).
    """
    out: list[dict] = []
    for m in merged:
        b, e = m["begin_offset"], m["end_offset"]
        around = next((h for h in hits if h[2] == m["category"] and h[0] <= b and e <= h[1]), None)
        if around is not None and (around[0], around[1]) != (b, e) and not tagged.knows(piece[b:e]):
            m = {**m, "begin_offset": around[0], "end_offset": around[1]}
        prev = out[-1] if out else None
        if prev is not None and prev["category"] == m["category"] and m["begin_offset"] < prev["end_offset"]:
            # two model pieces of one remembered string ("breast", "ovarian cancer")
            prev.update(begin_offset=min(prev["begin_offset"], m["begin_offset"]),
                        end_offset=max(prev["end_offset"], m["end_offset"]), score=(prev["score"] + m["score"]) / 2)
            continue
        out.append(m)
    return out


def _without_headings(sentences: list[tuple[int, int]], headings: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence ranges with section headings cut out.

    The model was trained on PubMed sentences, not "Chief Complaint: ..." lines: with the heading in
    front the train-only model read "Shortness of breath and leg swelling" as one entity, without it
    as two.
    """
    out = []
    for b, e in sentences:
        for hb, he in headings:
            if he <= b or hb >= e:
                continue
            if hb > b:  # an inline heading ("... stable. Plan: discharge")
                out.append((b, hb))
            b = max(b, he)
        if b < e:
            out.append((b, e))
    return out
