"""The contract every Backend implementation must meet.

A backend's integration test subclasses ``BackendConformance`` and provides a ``backend`` fixture
(warmed, on a real tiny model) — one contract, the same tests for llama.cpp, the OpenAI-compatible
client and transformers. Capability-dependent tests skip when the backend does not declare it.
"""

from __future__ import annotations

import json
import math

import jsonschema
import pytest

from bedside.errors import BackendError, ContextWindowError
from bedside.runtime.base import Backend, Capabilities, Constraint, GenerationParams, Message

SCHEMA = {
    "type": "object",
    "properties": {
        "condition": {"type": "string"},
        "severity": {"type": "string", "enum": ["mild", "moderate", "severe"]},
        "negated": {"type": "boolean"},
    },
    "required": ["condition", "severity", "negated"],
    "additionalProperties": False,
}
PROMPT = "Patient reports fever and productive cough for three days. Extract the main condition."


class BackendConformance:
    # None: follow the declared capability. A remote endpoint declares embeddings but its server
    # may not serve them; its test says so here and then expects the clear refusal.
    serves_embeddings: bool | None = None
    def _skip_unless(self, backend: Backend, capability: str) -> None:
        if not getattr(backend.capabilities, capability):
            pytest.skip(f"{backend.name} does not declare {capability}")

    def test_is_a_backend(self, backend: Backend):
        assert isinstance(backend, Backend)
        assert isinstance(backend.capabilities, Capabilities)
        assert backend.name

    def test_chat_returns_a_generation(self, backend: Backend):
        self._skip_unless(backend, "chat")
        # Short on purpose: the tiny test models have a 64-token context.
        gen = backend.chat([Message("user", "Fever, cough.")], GenerationParams(max_tokens=16))
        assert isinstance(gen.text, str) and gen.text
        assert gen.finish_reason in ("stop", "length")
        assert gen.completion_tokens is not None and 0 < gen.completion_tokens <= 16
        assert gen.prompt_tokens is not None and gen.prompt_tokens > 0

    def test_budget_is_respected(self, backend: Backend):
        self._skip_unless(backend, "completion")
        gen = backend.complete("Admitted with", GenerationParams(max_tokens=3))
        assert gen.completion_tokens is not None and gen.completion_tokens <= 3
        assert gen.finish_reason == "length"

    def test_greedy_is_deterministic(self, backend: Backend):
        self._skip_unless(backend, "completion")
        params = GenerationParams(max_tokens=12, temperature=0.0)
        a = backend.complete("Aspirin treats", params)
        b = backend.complete("Aspirin treats", params)
        assert a.text == b.text

    def test_schema_output_is_valid(self, backend: Backend):
        self._skip_unless(backend, "json_schema")
        gen = backend.chat([Message("user", PROMPT + " Answer in JSON.")], GenerationParams(max_tokens=200),
                           Constraint(schema=SCHEMA))
        jsonschema.validate(json.loads(gen.text), SCHEMA)

    def test_choices_output_is_one_choice(self, backend: Backend):
        self._skip_unless(backend, "choices")
        choices = ("yes", "no", "maybe")
        gen = backend.chat([Message("user", "Is flu viral?")],
                           GenerationParams(max_tokens=8), Constraint(choices=choices))
        assert json.loads(gen.text) in choices

    def test_logprobs(self, backend: Backend):
        self._skip_unless(backend, "logprobs")
        gen = backend.complete("Metformin", GenerationParams(max_tokens=4, logprobs=3))
        assert gen.logprobs, "logprobs requested but none returned"
        for tok in gen.logprobs:
            assert tok.logprob <= 1e-6 and math.isfinite(tok.logprob)
            tops = [lp for _, lp in tok.top]
            assert tops == sorted(tops, reverse=True)

    def test_embeddings_or_clear_refusal(self, backend: Backend):
        serves = backend.capabilities.embeddings if self.serves_embeddings is None else self.serves_embeddings
        if serves:
            vecs = backend.embed(["chest pain", "myocardial infarction"])
            assert len(vecs) == 2 and len(vecs[0]) == len(vecs[1]) > 0
        else:
            with pytest.raises(BackendError):
                backend.embed(["chest pain"])

    def test_context_overflow_is_a_clear_error(self, backend: Backend):
        self._skip_unless(backend, "completion")
        n_ctx = backend.context_length or 2048
        with pytest.raises(ContextWindowError, match="context"):
            backend.complete("fever " * (n_ctx * 2), GenerationParams(max_tokens=4))
