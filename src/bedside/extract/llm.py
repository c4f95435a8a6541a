"""``--strategy llm``: a generative model proposes entity mentions under a JSON Schema.

The model only names mentions and categories; bedside finds them in the note. A mention the note does
not contain verbatim (case-insensitive) is dropped and counted, never invented, so offsets are exact
by construction. Repeated mentions take successive occurrences. Long notes go in pieces that fit the
context window; every call is audited by the Runtime like any other generation.
"""

from __future__ import annotations

import logging
import re

from bedside.config import Settings
from bedside.extract.chunks import chunks
from bedside.runtime import GenerationParams, Runtime
from bedside.runtime.service import prompt_template

log = logging.getLogger("bedside.extract")

CATEGORIES = ("MEDICAL_CONDITION", "MEDICATION", "TEST_TREATMENT_PROCEDURE")
# ~4 characters per token: a 2,000-character piece plus prompt and answer fits a 4,096-token window.
PIECE_CHARS = 2_000
LLM_SCORE = 0.7  # a fixed score: generation gives no calibrated per-span confidence

SCHEMA = {
    "type": "object",
    "properties": {
        "entities": {
            "type": "array",
            "maxItems": 40,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 2, "maxLength": 80},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                },
                "required": ["text", "category"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["entities"],
    "additionalProperties": False,
}


def locate(text: str, mentions: list[dict], offset: int = 0) -> tuple[list[dict], int]:
    """Spans for the mentions found in ``text`` (word-bounded, case-insensitive); and how many were not."""
    used: set[tuple[int, int]] = set()
    out, dropped = [], 0
    for m in mentions:
        words = str(m.get("text", "")).strip()
        category = m.get("category")
        if len(words) < 2 or category not in CATEGORIES:
            dropped += 1
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(words) + r"(?!\w)", re.IGNORECASE)
        hit = next((x for x in pattern.finditer(text) if (x.start(), x.end()) not in used), None)
        if hit is None:
            dropped += 1
            continue
        used.add((hit.start(), hit.end()))
        out.append({"begin_offset": hit.start() + offset, "end_offset": hit.end() + offset,
                    "category": category, "score": LLM_SCORE})
    return out, dropped


class LlmSpans:
    """Spans from any Runtime model that supports JSON Schema output (llama.cpp, vLLM, ...)."""

    name = "llm"

    def __init__(self, settings: Settings, *, model: str | None = None, runtime: Runtime | None = None):
        self.runtime = runtime or Runtime(settings, progress=False)
        self._owns_runtime = runtime is None
        self.loaded = self.runtime.load(model)
        self.model_name = self.loaded.spec.name
        self.template = prompt_template("extract_entities")
        self.dropped = 0

    def close(self) -> None:
        if self._owns_runtime:
            self.runtime.close()

    def spans(self, texts: list[str]) -> list[list[dict]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[dict]:
        found: list[dict] = []
        dropped_here = 0
        for off, piece in chunks(text, PIECE_CHARS):
            if not piece.strip():
                continue
            result = self.runtime.generate(
                self.template.format(note=piece), model=self.model_name, schema=SCHEMA,
                params=GenerationParams(max_tokens=768, temperature=0.0), task="extract", caller="extract",
            )
            spans, dropped = locate(piece, list((result.value or {}).get("entities", [])), off)
            dropped_here += dropped
            found += spans
        self.dropped += dropped_here
        if dropped_here:
            log.info("%d mention(s) proposed by %s were not in the note and were dropped", dropped_here,
                     self.model_name)
        # Overlapping proposals: the rule layer keeps external spans as given, so resolve here.
        found.sort(key=lambda s: (s["begin_offset"], -(s["end_offset"] - s["begin_offset"])))
        kept: list[dict] = []
        for s in found:
            if not kept or s["begin_offset"] >= kept[-1]["end_offset"]:
                kept.append(s)
        return kept
