"""Runtime orchestration with a scripted backend: what is validated, retried and audited.

The fake stands in for an engine only to drive the orchestration paths; engines themselves are
tested on real models in tests/integration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bedside.runtime.service as service
from bedside.config import Settings
from bedside.errors import BackendError, InputError, StructuredOutputError
from bedside.runtime import Capabilities, Generation, Runtime


class ScriptedBackend:
    name = "scripted"
    capabilities = Capabilities(json_schema=True, choices=True)
    context_length = 1024

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.calls = []

    def warm_up(self):
        pass

    def chat(self, messages, params, constraint=None):
        self.calls.append((messages, params, constraint))
        out = self.outputs.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    def complete(self, prompt, params, constraint=None):
        return self.chat(prompt, params, constraint)

    def embed(self, texts):
        raise BackendError("no embeddings")

    def close(self):
        pass


@pytest.fixture
def make_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def make(outputs, **settings):
        backend = ScriptedBackend(outputs)
        monkeypatch.setattr(service, "backend_factory", lambda name: lambda spec, path, s: backend)
        entry = {"name": "fake", "backend": "openai", "format": "remote",
                 "source": {"kind": "endpoint", "base_url": "http://127.0.0.1:1/v1"}}
        s = Settings(data_dir=tmp_path, cache_dir=tmp_path, audit_db=tmp_path / "a.db", models=[entry], **settings)
        return Runtime(s, progress=False), backend

    return make


SCHEMA = {"type": "object", "properties": {"dx": {"type": "string"}}, "required": ["dx"]}


def rows(rt: Runtime):
    return list(rt.audit.rows())


def test_rejected_input_writes_no_audit_record(make_runtime, tmp_path):
    rt, backend = make_runtime([])
    for kwargs in ({"prompt": ""}, {"prompt": "x", "schema": {"type": "nope"}},
                   {"prompt": "x", "schema": SCHEMA, "choices": ["a", "b"]}):
        with pytest.raises(InputError):
            rt.generate(model="fake", **kwargs)
    assert backend.calls == []
    assert not (tmp_path / "a.db").exists()


def test_schema_gets_bounds_and_a_system_hint(make_runtime):
    rt, backend = make_runtime([Generation('{"dx": "flu"}', "stop", 10, 5)])
    res = rt.generate("fever", model="fake", schema=SCHEMA)
    assert res.value == {"dx": "flu"}
    messages, _, constraint = backend.calls[0]
    assert messages[0].role == "system" and json.dumps(SCHEMA) in messages[0].content
    assert constraint.schema["properties"]["dx"]["maxLength"] == 256
    assert SCHEMA["properties"]["dx"] == {"type": "string"}  # the caller's schema is not mutated
    (r,) = rows(rt)
    assert r["status"] == "ok" and json.loads(r["params_json"])["constraint"] == "json_schema"


def test_truncated_json_is_retried_once_with_a_penalty_and_both_are_audited(make_runtime):
    rt, backend = make_runtime([Generation('{"dx": "1.1.1.1', "length"), Generation('{"dx": "flu"}', "stop")])
    res = rt.generate("fever", model="fake", schema=SCHEMA)
    assert res.value == {"dx": "flu"}
    assert [c[1].repetition_penalty for c in backend.calls] == [1.0, service.RETRY_REPETITION_PENALTY]
    assert [r["status"] for r in rows(rt)] == ["error", "ok"]
    assert rows(rt)[0]["error"] == "StructuredOutputError"


def test_second_failure_surfaces(make_runtime):
    rt, _ = make_runtime([Generation('{"dx": "1.1', "length"), Generation('{"dx": "1.1', "length")])
    with pytest.raises(StructuredOutputError, match="max_tokens"):
        rt.generate("fever", model="fake", schema=SCHEMA)
    assert [r["status"] for r in rows(rt)] == ["error", "error"]
    assert rt.audit.verify().ok


def test_engine_crash_is_audited_then_wrapped(make_runtime):
    rt, _ = make_runtime([RuntimeError("segfault-ish: patient John Smith")])
    with pytest.raises(BackendError, match="model 'fake' failed"):
        rt.generate("hello", model="fake")
    (r,) = rows(rt)
    assert r["status"] == "error" and r["error"] == "RuntimeError"  # no echoed input without opt-in


def test_error_text_kept_when_text_storage_is_on(make_runtime):
    rt, _ = make_runtime([RuntimeError("boom")], audit_store_text=True)
    with pytest.raises(BackendError):
        rt.generate("hello", model="fake")
    assert rows(rt)[0]["error"] == "RuntimeError: boom"
    assert rows(rt)[0]["prompt_text"] == "hello"


def test_choice_result(make_runtime):
    rt, backend = make_runtime([Generation('"no"', "stop")])
    res = rt.generate("Is it viral?", model="fake", choices=("yes", "no"))
    assert res.value == "no"
    assert backend.calls[0][2].as_json_schema()["enum"] == ["yes", "no"]
