"""The runtime: the only way bedside code calls a model.

It resolves a catalog name to a verified file, keeps one loaded backend per model, validates the
request, runs it, validates structured output, and appends one audit record per call (also for
calls the engine refused, so the trail shows every attempt). Input that is rejected before the
engine sees it (empty prompt, invalid schema, unknown model) leaves the audit store untouched.
A model endpoint outside this machine only ever receives de-identified text (``outbound``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from bedside.audit import AuditStore, CallRecord
from bedside.catalog import Catalog, ModelSpec, Resolver
from bedside.config import Settings
from bedside.errors import BackendError, BedsideError, InputError, StructuredOutputError
from bedside.runtime import outbound
from bedside.runtime.base import Backend, Constraint, Generation, GenerationParams, Message
from bedside.runtime.registry import backend_factory
from bedside.runtime.structured import bounded_schema, check_schema, validate_output

MAX_PROMPT_CHARS = 2_000_000  # beyond any context window we serve; refuse before tokenizing
# A grammar keeps the output well-formed but not finite: a small model can repeat itself inside
# the JSON until the budget runs out. One retry with this penalty breaks such loops (measured on
# SmolLM2-135M: a looping extraction finished in 45 tokens with it); both attempts are audited.
RETRY_REPETITION_PENALTY = 1.3


@dataclass
class LoadedModel:
    spec: ModelSpec
    backend: Backend
    sha256: str | None
    deid: str | None = None  # outside this machine: the de-identification mode applied, or "off"


@dataclass
class Result:
    text: str
    value: Any = None  # parsed JSON (schema) or the chosen string (choices)
    generation: Generation | None = None
    model: str = ""
    model_sha256: str | None = None
    duration_ms: float = 0.0
    audit_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runtime:
    def __init__(self, settings: Settings, *, audit: AuditStore | None = None, progress: bool = True):
        self.settings = settings
        self.catalog = Catalog.load(settings.models)
        self.resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
        self._audit = audit
        self._models: dict[str, LoadedModel] = {}
        self.progress = progress

    @property
    def audit(self) -> AuditStore:
        if self._audit is None:
            self._audit = AuditStore(self.settings.audit_path, store_text=self.settings.audit_store_text)
        return self._audit

    def close(self) -> None:
        for loaded in self._models.values():
            loaded.backend.close()
        self._models.clear()
        if self._audit is not None:
            self._audit.close()
            self._audit = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, name: str | None = None) -> LoadedModel:
        name = name or self.settings.default_model
        spec = self.catalog.get(name)
        if spec.name in self._models:
            return self._models[spec.name]
        path = None
        sha = None
        if spec.source.kind != "endpoint":
            path = self.resolver.resolve(spec, progress=self.progress)
            sha = self.resolver.verify(spec, path, progress=self.progress)
        backend = backend_factory(spec.backend)(spec, path, self.settings)
        # The one place outbound de-identification is decided: every request to this model goes through it.
        backend, deid = outbound.wrap(spec, backend, self.settings)
        backend.warm_up()  # a model that cannot load is a setup error, not an audited call
        loaded = LoadedModel(spec, backend, sha, deid)
        self._models[spec.name] = loaded
        return loaded

    # -- calls -----------------------------------------------------------------------------------
    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        system: str | None = None,
        schema: dict[str, Any] | None = None,
        choices: tuple[str, ...] | list[str] | None = None,
        params: GenerationParams | None = None,
        task: str = "generate",
        caller: str = "api",
        raw: bool = False,
        schema_hint: bool = True,
    ) -> Result:
        """One prompt in, one result out. ``raw`` skips the chat template (base models).

        With a schema and no system message, ``schema_hint`` adds a system message that shows the
        model the schema (resources/prompts/json_schema_system.txt): the grammar alone keeps small
        models syntactically valid but not on task.
        """
        if not prompt or not prompt.strip():
            raise InputError("prompt is empty")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
        if schema is not None and choices is not None:
            raise InputError("give either a schema or choices, not both")
        constraint = None
        if schema is not None:
            check_schema(schema)
            constraint = Constraint(schema=bounded_schema(schema))
            if system is None and schema_hint:
                system = prompt_template("json_schema_system").format(schema=json.dumps(schema))
        elif choices is not None:
            constraint = Constraint(choices=tuple(choices))
        params = params or GenerationParams(max_tokens=self.settings.max_tokens)
        if params.max_tokens < 1:
            raise InputError("max_tokens must be at least 1")
        loaded = self.load(model)
        caps = loaded.backend.capabilities
        if constraint is not None and not (caps.json_schema if schema is not None else caps.choices):
            raise InputError(f"model '{loaded.spec.name}' does not support {constraint.kind} output")
        full_prompt = prompt if system is None else f"{system}\n\n{prompt}"
        messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]

        def run(p: GenerationParams) -> Generation:
            if raw or not caps.chat:
                return loaded.backend.complete(full_prompt, p, constraint)
            return loaded.backend.chat(messages, p, constraint)

        try:
            return self._audited(loaded, full_prompt, params, constraint, task, caller, lambda: run(params))
        except StructuredOutputError:
            if constraint is None or params.repetition_penalty != 1.0:
                raise
            retry = replace(params, repetition_penalty=RETRY_REPETITION_PENALTY)
            return self._audited(loaded, full_prompt, retry, constraint, task, caller, lambda: run(retry))

    def chat(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        schema: dict[str, Any] | None = None,
        params: GenerationParams | None = None,
        task: str = "chat",
        caller: str = "api",
    ) -> Result:
        if not messages or not any(m.content.strip() for m in messages):
            raise InputError("no message has content")
        constraint = None
        if schema is not None:
            check_schema(schema)
            constraint = Constraint(schema=schema)
        params = params or GenerationParams(max_tokens=self.settings.max_tokens)
        loaded = self.load(model)
        transcript = "\n".join(f"{m.role}: {m.content}" for m in messages)
        return self._audited(loaded, transcript, params, constraint, task, caller,
                             lambda: loaded.backend.chat(messages, params, constraint))

    def embed(self, texts: list[str], *, model: str, task: str = "embed", caller: str = "api") -> list[list[float]]:
        if not texts:
            raise InputError("nothing to embed")
        loaded = self.load(model)
        t0 = time.perf_counter()
        status, error, vectors = "ok", None, []
        try:
            vectors = loaded.backend.embed(texts)
            return vectors
        except BedsideError as exc:
            status, error = "error", self._error_text(exc)
            raise
        finally:
            self.audit.append(CallRecord(
                task=task, caller=caller, model_name=loaded.spec.name, model_sha256=loaded.sha256,
                backend=loaded.backend.name, params=_deid_param(loaded, {"n_texts": len(texts)}),
                prompt="\n".join(texts),
                output=None if error else f"{len(vectors)} vectors",
                duration_ms=(time.perf_counter() - t0) * 1000, status=status, error=error,
            ))

    def _audited(self, loaded, prompt, params, constraint, task, caller, run) -> Result:
        record_params: dict[str, Any] = _deid_param(loaded, params.as_dict())
        if constraint is not None:
            record_params["constraint"] = constraint.kind
            record_params["constraint_sha256"] = _sha_json(constraint.as_json_schema())
        t0 = time.perf_counter()
        gen: Generation | None = None
        value: Any = None
        try:
            gen = run()
            if constraint is not None:
                value = validate_output(gen, constraint, params.max_tokens)
        except BedsideError as exc:
            self._record(loaded, prompt, record_params, gen, t0, task, caller, self._error_text(exc))
            raise
        except Exception as exc:  # an engine crash must still leave a trace, then surface clearly
            self._record(loaded, prompt, record_params, gen, t0, task, caller, self._error_text(exc))
            raise BackendError(f"model '{loaded.spec.name}' failed: {type(exc).__name__}: {exc}") from exc
        audit_id = self._record(loaded, prompt, record_params, gen, t0, task, caller, None)
        return Result(
            text=gen.text, value=value, generation=gen, model=loaded.spec.name, model_sha256=loaded.sha256,
            duration_ms=(time.perf_counter() - t0) * 1000, audit_id=audit_id,
        )

    def _error_text(self, exc: Exception) -> str:
        # Engine messages can echo the input; without the text opt-in only the error class is kept.
        if self.settings.audit_store_text:
            return f"{type(exc).__name__}: {exc}"
        return type(exc).__name__

    def _record(self, loaded, prompt, params, gen, t0, task, caller, error) -> int:
        return self.audit.append(CallRecord(
            task=task, caller=caller, model_name=loaded.spec.name, model_sha256=loaded.sha256,
            backend=loaded.backend.name, params=params, prompt=prompt,
            output=gen.text if gen is not None else None,
            prompt_tokens=gen.prompt_tokens if gen else None,
            completion_tokens=gen.completion_tokens if gen else None,
            duration_ms=(time.perf_counter() - t0) * 1000,
            status="error" if error else "ok", error=error,
        ))


def _deid_param(loaded: LoadedModel, params: dict[str, Any]) -> dict[str, Any]:
    # Audited with the call: the text went outside de-identified (the mode) or as given ("off").
    return {**params, "deid": loaded.deid} if loaded.deid is not None else params


@cache
def prompt_template(name: str) -> str:
    return resources.files("bedside").joinpath(f"resources/prompts/{name}.txt").read_text(encoding="utf-8")


def _sha_json(value: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
