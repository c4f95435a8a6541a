"""bedside's own extraction pipeline as a "model" of the eval grid, beside the LLMs.

``--model bedside-ner`` runs ``bedside.extract.Extractor`` with strategy ``default`` (the shipped ONNX
token classifier, then the rule layer, then ICD-10-CM linking); ``--model bedside-rules`` runs the
rule layer and lexicons alone. They are models rather than strategies so that one grid can put them
in the same tables as the LLMs; their cells carry strategy ``pipeline`` (no prompt, no shots, no
decoding), which ``--strategy pipeline`` also selects (with ``bedside-ner`` by default).

A task says how the pipeline answers it in its ``pipeline:`` section: the item field it reads and a
registered adapter that turns the Extractor's Document into the answer form the task's parser gives
for a generative model (a list of mention strings, a ranked list of ICD-10 codes). Both kinds of
model are then scored by the same metrics. A task without that section has no pipeline cell.
Pipeline calls are not model generations, so they leave no audit records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bedside.config import Settings
from bedside.errors import InputError

PIPELINE_STRATEGY = "pipeline"
DEFAULT_PIPELINE_MODEL = "bedside-ner"
# Model name -> Extractor strategy. ("llm" is left out: it is an LLM, which the grid runs directly.)
PIPELINE_MODELS = {"bedside-ner": "default", "bedside-rules": "rules"}


@dataclass(frozen=True)
class Adapter:
    name: str
    run: Callable[[Any, str, dict[str, Any]], Any]  # (Document, input text, options) -> the task's answer
    link_icd10: bool = False  # whether the Document needs its ICD-10-CM concepts (slower)
    description: str = ""


_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(adapter: Adapter) -> Adapter:
    _ADAPTERS[adapter.name] = adapter
    return adapter


def adapter_names() -> list[str]:
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> Adapter:
    return _ADAPTERS[name]


def is_pipeline_model(name: str | None) -> bool:
    return name in PIPELINE_MODELS


def pipeline_model_names() -> list[str]:
    return sorted(PIPELINE_MODELS)


class PipelineSystem:
    """One pipeline model set up for one task: answers items like a model answers prompts."""

    backend = "bedside.extract"

    def __init__(self, model: str, spec: Any, settings: Settings):
        if spec.pipeline is None:
            raise InputError(f"task '{spec.name}' has no pipeline answer (no `pipeline:` section); "
                             f"run it with a generative model")
        from bedside.extract import Extractor

        self.name = model
        self.spec = spec.pipeline
        self.adapter = get_adapter(self.spec.adapter)
        self.extractor = Extractor(PIPELINE_MODELS[model], settings=settings, link_icd10=self.adapter.link_icd10)
        if self.extractor.linker is not None:
            self.extractor.linker.warm_up()  # the index loads (or builds) here, not in the first item's latency
        info = self.extractor.provenance
        model_info = info.get("model")
        self.sha256 = model_info.get("sha256") if isinstance(model_info, dict) else None
        self.provenance = {**info, "adapter": self.spec.adapter, "input": self.spec.input,
                           "options": dict(self.spec.options), "link_icd10": self.adapter.link_icd10}

    def close(self) -> None:
        self.extractor.close()

    def input_text(self, item: Any) -> str:
        return item.fields.get(self.spec.input, "")

    def request_sha256(self, item: Any) -> str:
        """What the pipeline is asked, hashed: the prompt hash of a pipeline record (for resuming)."""
        payload = {"adapter": self.spec.adapter, "options": self.spec.options, "input": self.input_text(item),
                   "model": self.name}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def answer(self, item: Any) -> Any:
        """The task's answer for one item; InputError for an input the Extractor refuses (empty, too long)."""
        text = self.input_text(item)
        document = self.extractor.extract(text)
        return self.adapter.run(document, text, dict(self.spec.options))
