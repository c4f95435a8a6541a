"""Requests to a model outside this machine carry de-identified text.

An endpoint is outside when the host of its ``base_url`` is not loopback, or when its catalog entry
says ``source.external = true`` (a loopback port that tunnels elsewhere, a test stand-in). Runtime.load
wraps such a backend once (:func:`wrap`), so every chat message, completion prompt and embedding input
passes through ``bedside.deid.guard`` before the backend sees it; if de-identification fails, the
request is not sent. ``source.deid = false`` opts one endpoint out; the audit record of every call
says which applied (``params_json`` ``"deid"``: the mode, or ``"off"``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bedside.runtime.base import Backend, Constraint, Generation, GenerationParams, Message

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings
    from bedside.deid.guard import Guard

log = logging.getLogger(__name__)
OFF = "off"


def is_outside(spec: ModelSpec) -> bool:
    source = spec.source
    if source.kind != "endpoint":
        return False  # in-process engines (llama.cpp's own listener is loopback and ours)
    if source.external:
        return True
    from bedside.runtime.openai_http import is_loopback

    return not is_loopback(urlsplit(source.base_url or "").hostname or "")


def wrap(spec: ModelSpec, backend: Backend, settings: Settings) -> tuple[Backend, str | None]:
    """The backend to use and what the audit should say: None (local), the de-id mode, or "off"."""
    if not is_outside(spec):
        return backend, None
    if not spec.source.deid:
        log.warning("model '%s' is outside this machine and has deid = false: prompts are sent as given",
                    spec.name)
        return backend, OFF
    from bedside.deid.guard import guard

    g = guard(settings)  # builds the de-identifier now: a bad key file fails the load, not a call
    return DeidentifyingBackend(backend, g), g.mode


class DeidentifyingBackend:
    """Any backend, with every text de-identified before it reaches the inner backend.

    Only the Backend protocol is exposed (no attribute passthrough): an engine-specific method that
    sends text would otherwise bypass the guard.
    """

    def __init__(self, inner: Backend, guard: Guard):
        self.inner = inner
        self.guard = guard
        self.name = inner.name
        self.capabilities = inner.capabilities

    @property
    def context_length(self) -> int | None:
        return self.inner.context_length

    def warm_up(self) -> None:
        self.inner.warm_up()

    def close(self) -> None:
        self.inner.close()

    def chat(self, messages: list[Message], params: GenerationParams,
             constraint: Constraint | None = None) -> Generation:
        return self.inner.chat(self.guard.messages(messages), params, constraint)

    def complete(self, prompt: str, params: GenerationParams, constraint: Constraint | None = None) -> Generation:
        return self.inner.complete(self.guard.text(prompt), params, constraint)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed(self.guard.texts(texts))
