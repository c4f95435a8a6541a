"""A model behind an OpenAI-compatible HTTP server: vLLM, llama.cpp's server, Ollama, OpenAI proper.

Catalog entries with ``backend = "openai"`` and ``source.kind = "endpoint"`` land here. The request
shapes differ per server only in how structured output is asked for, so that lives in the pure
function ``request_body`` (unit-tested per server); everything else is plain OpenAI format.

Network policy: this backend only ever contacts the configured ``base_url``. It follows no
redirects and ignores proxy settings from the environment (``HTTP(S)_PROXY``, ``.netrc``), because
prompts may carry patient data and must not be routed anywhere the catalog entry does not name.
A custom CA bundle is still honoured through ``SSL_CERT_FILE``. The API key is read from the
environment variable the entry names (``api_key_env``); keys never live in configuration files.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx

from bedside.errors import BackendError, ConfigError, ContextWindowError
from bedside.runtime.base import Capabilities, Constraint, Generation, GenerationParams, Message
from bedside.runtime.openai_format import (
    error_message,
    parse_chat_response,
    parse_completion_response,
    parse_embeddings_response,
)

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings

log = logging.getLogger(__name__)

Server = Literal["vllm", "llamacpp", "ollama", "openai"]
Endpoint = Literal["chat", "completions"]
PATHS = {"chat": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings"}

# OpenAI's structured outputs need an object at the root, so a choice is wrapped in one.
CHOICE_KEY = "answer"
ERROR_CHARS = 300
# How servers word "the prompt does not fit": vLLM "maximum context length is N tokens", OpenAI
# code "context_length_exceeded", llama.cpp "exceeds the available context size".
_CONTEXT_RE = re.compile(
    r"context[ _](length|size|window)|exceeds?.{0,40}context|maximum context|exceed_context_size",
    re.IGNORECASE,
)


# -- request bodies (pure) -------------------------------------------------------------------------
def structured_fields(server: Server, endpoint: Endpoint, constraint: Constraint) -> dict[str, Any]:
    """The body fields that make ``server`` enforce ``constraint`` on ``endpoint``."""
    if server == "vllm":
        # vLLM >= 0.10.2 takes `structured_outputs`; the older `guided_json` / `guided_choice` were
        # removed in v0.12.0 and are silently ignored there (HTTP 200, unconstrained output). We
        # target current vLLM; the Runtime validates every structured result either way.
        if constraint.choices is not None:
            return {"structured_outputs": {"choice": list(constraint.choices)}}
        return {"structured_outputs": {"json": constraint.schema}}
    if server == "openai":
        if endpoint != "chat":
            raise BackendError("OpenAI's /v1/completions cannot constrain output; use chat (drop --raw)")
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": "output", "schema": openai_schema(constraint), "strict": True,
        }}}
    if endpoint == "completions":
        if server == "llamacpp":
            # llama.cpp's /v1/completions ignores response_format; its native field is json_schema.
            return {"json_schema": constraint.as_json_schema()}
        raise BackendError(f"{server}'s /v1/completions cannot constrain output; use chat (drop --raw)")
    # llama.cpp server and Ollama (>= 0.5) read response_format.json_schema.schema on chat; Ollama
    # ignores the name, llama.cpp enforces the schema with a grammar.
    return {"response_format": {"type": "json_schema", "json_schema": {
        "name": "output", "schema": constraint.as_json_schema(),
    }}}


def openai_schema(constraint: Constraint) -> dict[str, Any]:
    if constraint.choices is None:
        return constraint.schema or {}
    return {
        "type": "object",
        "properties": {CHOICE_KEY: {"type": "string", "enum": list(constraint.choices)}},
        "required": [CHOICE_KEY],
        "additionalProperties": False,
    }


def request_body(
    server: Server,
    endpoint: Endpoint,
    model: str,
    params: GenerationParams,
    constraint: Constraint | None = None,
    *,
    messages: list[Message] | None = None,
    prompt: str | None = None,
) -> dict[str, Any]:
    """The JSON body for a chat or completions request to ``server``."""
    body: dict[str, Any] = {"model": model}
    if endpoint == "chat":
        body["messages"] = [m.as_dict() for m in messages or ()]
    else:
        body["prompt"] = prompt or ""
    # OpenAI deprecated max_tokens on chat (its reasoning models reject it); the others read max_tokens.
    budget_key = "max_completion_tokens" if server == "openai" and endpoint == "chat" else "max_tokens"
    body[budget_key] = params.max_tokens
    body.update(temperature=params.temperature, top_p=params.top_p, seed=params.seed)
    if params.stop:
        body["stop"] = list(params.stop)
    if params.logprobs:
        if endpoint == "chat":
            body["logprobs"] = True
            body["top_logprobs"] = params.logprobs
        else:
            body["logprobs"] = params.logprobs  # legacy completions: an int, the number of alternatives
    if constraint is not None:
        body.update(structured_fields(server, endpoint, constraint))
    return body


def choice_as_json(server: Server, constraint: Constraint | None, text: str) -> str:
    """Return a choice as a JSON string, as llama.cpp gives it, whatever the server's own form."""
    if constraint is None or constraint.choices is None:
        return text
    if server == "vllm":  # structured_outputs.choice yields the bare choice text
        return json.dumps(text)
    if server == "openai":  # unwrap {"answer": "..."}
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(value, dict) and isinstance(value.get(CHOICE_KEY), str):
            return json.dumps(value[CHOICE_KEY])
    return text


# -- the backend ---------------------------------------------------------------------------------
class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: ModelSpec, path: Path | None, settings: Settings):
        source = spec.source
        if source.kind != "endpoint" or not source.base_url:
            raise ConfigError(
                f"model '{spec.name}': the openai backend needs source.kind = \"endpoint\" with a base_url"
            )
        url = urlsplit(source.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"model '{spec.name}': base_url '{source.base_url}' is not an http(s) URL "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        self.spec = spec
        self.settings = settings
        self.base_url = source.base_url.rstrip("/")
        self.server: Server = source.server
        self.served_model = source.served_model or spec.name
        self.api_key_env = source.api_key_env
        self.timeout_s = source.timeout_s
        self._connect_s = min(self.timeout_s, 10.0)  # a dead host should fail fast, a slow model may not
        # The server decides what it really serves; a refusal surfaces as a BackendError.
        self.capabilities = Capabilities(
            chat=True, completion=True, json_schema=True, choices=True, logprobs=True, embeddings=True,
        )
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        if url.scheme == "http" and not is_loopback(url.hostname):
            log.warning("model '%s': %s is plain http to another host; prompts cross the network "
                        "unencrypted", spec.name, self.base_url)

    @property
    def context_length(self) -> int | None:
        return self.spec.context_length  # only what the catalog entry declares; asking costs a request

    def warm_up(self) -> None:
        # Nothing to load locally; opening the connection pool does not touch the network.
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s, connect=self._connect_s),
                    follow_redirects=False,
                    trust_env=False,
                    verify=_tls_context(),
                )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- requests --------------------------------------------------------------------------------
    def chat(
        self, messages: list[Message], params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        body = request_body(self.server, "chat", self.served_model, params, constraint, messages=messages)
        gen = parse_chat_response(self._post("chat", body))
        gen.text = choice_as_json(self.server, constraint, gen.text)
        return gen

    def complete(
        self, prompt: str, params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        body = request_body(self.server, "completions", self.served_model, params, constraint, prompt=prompt)
        gen = parse_completion_response(self._post("completions", body))
        gen.text = choice_as_json(self.server, constraint, gen.text)
        return gen

    def embed(self, texts: list[str]) -> list[list[float]]:
        body = {"model": self.served_model, "input": list(texts), "encoding_format": "float"}
        return parse_embeddings_response(self._post("embeddings", body))

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        self.warm_up()
        assert self._client is not None
        url = self.base_url + PATHS[what]
        try:
            resp = self._client.post(url, json=body, headers=self._headers())
        except httpx.ConnectTimeout as exc:
            raise BackendError(
                f"cannot reach {self.base_url}: no connection within {self._connect_s:g}s"
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"{self.base_url} did not answer within {self.timeout_s:g}s ({type(exc).__name__}); "
                "raise source.timeout_s or check the server"
            ) from exc
        except httpx.TransportError as exc:  # refused, DNS failure, TLS failure, reset...
            reason = _one_line(str(exc)) or type(exc).__name__
            raise BackendError(f"cannot reach {self.base_url}: {reason}") from exc
        if resp.status_code >= 300:
            self._raise_for(resp, what)
        try:
            data = resp.json()
        except ValueError as exc:
            raise BackendError(f"{url} answered HTTP {resp.status_code} with a non-JSON body") from exc
        if not isinstance(data, dict):
            raise BackendError(f"{url} answered with JSON that is not an object")
        return data

    def _raise_for(self, resp: httpx.Response, what: str) -> None:
        status = resp.status_code
        message = _one_line(error_message(resp.text))[:ERROR_CHARS]
        if 300 <= status < 400:
            raise BackendError(
                f"{self.base_url}{PATHS[what]} redirects to {resp.headers.get('location', '?')}; "
                "redirects are not followed: set base_url to the real server"
            )
        if status in (401, 403):
            if not self.api_key_env:
                fix = ("this server needs an API key: put the name of an environment variable holding it "
                       f"in source.api_key_env of model '{self.spec.name}'")
            elif not os.environ.get(self.api_key_env):
                fix = f"set the environment variable {self.api_key_env} to the server's API key"
            else:
                fix = f"the key in {self.api_key_env} was refused; set {self.api_key_env} to a valid key"
            raise BackendError(f"{self.base_url} answered HTTP {status} ({message or 'unauthorized'}); {fix}")
        if status == 400 and mentions_context_window(message):
            raise ContextWindowError(
                f"the prompt does not fit the context window of '{self.served_model}' at {self.base_url}: "
                f"{message}; shorten the prompt or lower max_tokens"
            )
        if what == "embeddings":
            raise BackendError(
                f"{self.base_url} refused embeddings for '{self.served_model}' (HTTP {status}: {message}); "
                "the server must run an embedding model (llama.cpp: --embeddings; vLLM: an embedding model)"
            )
        raise BackendError(
            f"{self.base_url}{PATHS[what]} answered HTTP {status}: {message or resp.reason_phrase}"
        )


def mentions_context_window(message: str) -> bool:
    return _CONTEXT_RE.search(message) is not None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_context() -> ssl.SSLContext | bool:
    # trust_env=False also drops httpx's SSL_CERT_FILE support; hospitals often need their own CA.
    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    return True
