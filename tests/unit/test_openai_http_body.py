"""Request bodies per OpenAI-compatible server, and response helpers. No network, no model."""

from __future__ import annotations

import json

import pytest

from bedside.catalog import ModelSpec
from bedside.config import Settings
from bedside.errors import BackendError, ConfigError
from bedside.runtime.base import Constraint, GenerationParams, Message
from bedside.runtime.openai_format import error_message, parse_embeddings_response
from bedside.runtime.openai_http import (
    OpenAIBackend,
    choice_as_json,
    mentions_context_window,
    request_body,
)

SCHEMA = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
JSON = Constraint(schema=SCHEMA)
CHOICES = Constraint(choices=("yes", "no"))
MSGS = [Message("user", "hi")]
SERVERS = ("vllm", "llamacpp", "ollama", "openai")
STRUCTURED_KEYS = {"structured_outputs", "response_format", "json_schema", "guided_json", "guided_choice"}


def chat(server, constraint=None, **params):
    return request_body(server, "chat", "m", GenerationParams(**params), constraint, messages=MSGS)


def complete(server, constraint=None, **params):
    return request_body(server, "completions", "m", GenerationParams(**params), constraint, prompt="p")


@pytest.mark.parametrize("server", SERVERS)
def test_plain_bodies_are_openai_format(server):
    body = chat(server, max_tokens=7, stop=["\n"], seed=3)
    assert body["model"] == "m" and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0
    assert body["seed"] == 3 and body["stop"] == ["\n"]
    assert not STRUCTURED_KEYS & body.keys() and "logprobs" not in body
    assert complete(server)["prompt"] == "p" and complete(server)["max_tokens"] == 256


def test_openai_chat_uses_max_completion_tokens():
    assert chat("openai", max_tokens=9)["max_completion_tokens"] == 9 and "max_tokens" not in chat("openai")
    assert chat("vllm", max_tokens=9)["max_tokens"] == 9


@pytest.mark.parametrize("server", SERVERS)
def test_logprobs(server):
    body = chat(server, logprobs=3)
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert complete(server, logprobs=3)["logprobs"] == 3  # legacy completions take the count


def test_vllm_uses_structured_outputs_not_guided_fields():
    assert chat("vllm", JSON)["structured_outputs"] == {"json": SCHEMA}
    assert chat("vllm", CHOICES)["structured_outputs"] == {"choice": ["yes", "no"]}
    assert complete("vllm", JSON)["structured_outputs"] == {"json": SCHEMA}
    assert not {"guided_json", "guided_choice", "response_format"} & chat("vllm", JSON).keys()


@pytest.mark.parametrize("server", ["llamacpp", "ollama"])
def test_llamacpp_and_ollama_chat_use_response_format(server):
    fmt = chat(server, JSON)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA
    enum = chat(server, CHOICES)["response_format"]["json_schema"]["schema"]
    assert enum == {"type": "string", "enum": ["yes", "no"]}


def test_llamacpp_completions_use_native_json_schema():
    body = complete("llamacpp", CHOICES)
    assert body["json_schema"] == {"type": "string", "enum": ["yes", "no"]} and "response_format" not in body


def test_openai_strict_schema_and_choices_wrapped_in_an_object():
    fmt = chat("openai", JSON)["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"] == {"name": "output", "schema": SCHEMA, "strict": True}
    wrapped = chat("openai", CHOICES)["response_format"]["json_schema"]["schema"]
    assert wrapped["type"] == "object" and wrapped["additionalProperties"] is False
    assert wrapped["properties"]["answer"] == {"type": "string", "enum": ["yes", "no"]}


@pytest.mark.parametrize("server", ["ollama", "openai"])
def test_constrained_completions_refused_where_the_server_cannot(server):
    with pytest.raises(BackendError, match="use chat"):
        complete(server, JSON)


def test_choice_output_normalised_to_a_json_string():
    assert choice_as_json("vllm", CHOICES, "yes") == '"yes"'
    assert choice_as_json("openai", CHOICES, '{"answer": "no"}') == '"no"'
    assert choice_as_json("llamacpp", CHOICES, '"no"') == '"no"'
    assert choice_as_json("vllm", JSON, '{"age": 3}') == '{"age": 3}'
    assert choice_as_json("openai", CHOICES, "not json") == "not json"  # left for validation to reject


def test_context_window_messages_recognised():
    assert mentions_context_window("This model's maximum context length is 4096 tokens. However, you ...")
    assert mentions_context_window("request (2031 tokens) exceeds the available context size (512 tokens)")
    assert mentions_context_window("context_length_exceeded")
    assert not mentions_context_window("Invalid API Key")
    assert not mentions_context_window("JSON schema error at #: unrecognized type bogus")


def test_error_message_shapes():
    assert error_message(json.dumps({"error": {"message": "bad key", "type": "x"}})) == "bad key"
    assert error_message(json.dumps({"object": "error", "message": "vllm says"})) == "vllm says"
    assert error_message(json.dumps({"error": "ollama says"})) == "ollama says"
    assert error_message(json.dumps({"detail": "fastapi says"})) == "fastapi says"
    assert error_message("<html>502</html>") == "<html>502</html>"


def test_embeddings_sorted_by_index():
    data = {"data": [{"index": 1, "embedding": [2, 3]}, {"index": 0, "embedding": [0.5]}]}
    assert parse_embeddings_response(data) == [[0.5], [2.0, 3.0]]
    with pytest.raises(BackendError):
        parse_embeddings_response({"error": "nope"})


def _spec(**source):
    return ModelSpec(name="remote", backend="openai", format="remote", context_length=2048,
                     source={"kind": "endpoint", **source})


def test_backend_config(tmp_path):
    settings = Settings(data_dir=tmp_path, cache_dir=tmp_path)
    b = OpenAIBackend(_spec(base_url="http://127.0.0.1:1/v1/", server="vllm"), None, settings)
    assert b.base_url == "http://127.0.0.1:1/v1" and b.served_model == "remote" and b.context_length == 2048
    assert b.capabilities.embeddings and b.capabilities.json_schema and b.capabilities.choices
    with pytest.raises(ConfigError, match="not an http"):
        OpenAIBackend(_spec(base_url="127.0.0.1:8000/v1"), None, settings)
    local = ModelSpec(name="x", source={"kind": "file", "path": "/x.gguf"})
    with pytest.raises(ConfigError, match="endpoint"):
        OpenAIBackend(local, None, settings)
