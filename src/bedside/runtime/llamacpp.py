"""llama.cpp in-process through xllamacpp: the embedded default engine.

Why xllamacpp and not llama-cpp-python: it installs as a prebuilt wheel in seconds (llama-cpp-python
compiles for ~24 minutes on 2 cores), it wraps llama.cpp's own C++ server (continuous batching,
thread-safe, prompt cache) instead of a Python re-implementation, and it accepts OpenAI-format
requests with JSON-schema ``response_format`` enforced by LLGuidance in native code.

xllamacpp also opens llama.cpp's HTTP server on a random loopback port. We protect it with a
random API key so that other local users cannot drive the model; ``http_base_url`` and
``http_api_key`` expose it on purpose for the OpenAI-compatible client's tests and for serving.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside.errors import BackendError, ContextWindowError, InputError, ModelUnavailableError
from bedside.runtime.base import Capabilities, Constraint, Generation, GenerationParams, Message
from bedside.runtime.openai_format import parse_chat_response, parse_completion_response
from bedside.textio import check_gguf

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings

class LlamaCppBackend:
    name = "llamacpp"

    def __init__(
        self,
        spec: ModelSpec,
        path: Path | None,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ):
        """``host``/``port``/``api_key`` set llama.cpp's HTTP listener (``bedside engine serve``);
        the defaults keep it on a random loopback port behind a random key."""
        if path is None:
            raise ModelUnavailableError(f"model '{spec.name}': the llamacpp backend needs a local GGUF file")
        self.spec = spec
        self.path = path
        self.settings = settings
        self.embedding = spec.role == "embedder"
        self.capabilities = Capabilities(
            chat=not self.embedding,
            completion=not self.embedding,
            json_schema=not self.embedding,
            choices=not self.embedding,
            logprobs=not self.embedding,
            embeddings=self.embedding,
            streaming=True,
        )
        self.http_api_key = api_key or secrets.token_hex(16)
        self.host = host
        self.port = port
        self._server: Any = None
        self._n_ctx: int | None = None
        self._lock = threading.Lock()

    @property
    def context_length(self) -> int | None:
        return self._n_ctx

    @property
    def http_base_url(self) -> str:
        self.warm_up()
        return str(self._server.listening_address).rstrip("/") + "/v1"

    def warm_up(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            check_gguf(self.path)  # llama.cpp aborts the whole process on some malformed files
            import xllamacpp as xlc

            params = xlc.CommonParams()
            params.model.path = str(self.path)
            n_ctx = min(self.spec.context_length or self.settings.n_ctx, self.settings.n_ctx)
            params.n_ctx = n_ctx
            params.n_batch = min(2048, n_ctx)
            threads = self.settings.threads or os.cpu_count() or 1
            params.cpuparams.n_threads = threads
            params.cpuparams_batch.n_threads = threads
            params.n_gpu_layers = self.settings.gpu_layers
            params.n_parallel = 1
            params.verbosity = -1  # llama.cpp logs prompts at high verbosity: keep PHI out of logs
            params.api_keys = [self.http_api_key]
            params.hostnames = [self.host]
            params.port = self.port
            params.ui = False
            params.warmup = False
            if self.spec.chat_template:
                params.chat_template = self.spec.chat_template
            if self.embedding:
                params.embedding = True
                params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
            try:
                self._server = xlc.Server(params)
            except Exception as exc:
                raise ModelUnavailableError(f"llama.cpp could not load {self.path}: {exc}") from exc
            self._n_ctx = n_ctx

    # -- requests --------------------------------------------------------------------------------
    def _body(self, params: GenerationParams, constraint: Constraint | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            body["stop"] = params.stop
        if params.repetition_penalty != 1.0:
            body["repeat_penalty"] = params.repetition_penalty
        if params.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = params.logprobs
        if constraint is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": constraint.as_json_schema()},
            }
        return body

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        self.warm_up()
        try:
            result = getattr(self._server, method)(body)
        except ValueError as exc:  # raised synchronously for e.g. an unusable JSON schema
            raise InputError(f"llama.cpp rejected the request: {exc}") from exc
        if isinstance(result, dict) and "error" in result:
            err = result["error"]
            message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
                raise ContextWindowError(
                    f"prompt is {err.get('n_prompt_tokens')} tokens but model '{self.spec.name}' runs with a "
                    f"{err.get('n_ctx')}-token context window; shorten the prompt or raise n_ctx"
                )
            raise BackendError(f"llama.cpp error: {message}")
        return result

    def chat(
        self, messages: list[Message], params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        body = self._body(params, constraint)
        body["messages"] = [m.as_dict() for m in messages]
        return parse_chat_response(self._call("handle_chat_completions", body))

    def complete(
        self, prompt: str, params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        body = self._body(params, constraint)
        body["prompt"] = prompt
        if params.logprobs:
            # The native completion endpoint takes n_probs rather than OpenAI's top_logprobs.
            body["n_probs"] = params.logprobs
        if constraint is not None:
            body.pop("response_format")
            body["json_schema"] = constraint.as_json_schema()
        return parse_completion_response(self._call("handle_completions", body))

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not self.embedding:
            raise BackendError(f"model '{self.spec.name}' is not loaded as an embedder (role = embedder)")
        result = self._call("handle_embeddings", {"input": texts})
        rows = sorted(result["data"], key=lambda d: d["index"])
        return [list(map(float, r["embedding"])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._server = None  # xllamacpp frees the model in the destructor
