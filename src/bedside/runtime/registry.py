"""Backend registry: a name -> factory taking (spec, model path or None, settings).

Built-in backends register here; third-party ones register under the ``bedside.backends`` entry
point group with the same signature, so a new engine is one module plus one registration.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module, metadata
from pathlib import Path
from typing import TYPE_CHECKING

from bedside.errors import ConfigError

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings
    from bedside.runtime.base import Backend

Factory = Callable[["ModelSpec", "Path | None", "Settings"], "Backend"]

# Imported lazily so that `bedside models list` does not load llama.cpp or torch.
_BUILTIN = {
    "llamacpp": "bedside.runtime.llamacpp:LlamaCppBackend",
    "openai": "bedside.runtime.openai_http:OpenAIBackend",
    "transformers": "bedside.runtime.hf:TransformersBackend",
}


def backend_factory(name: str) -> Factory:
    target = _BUILTIN.get(name)
    if target is None:
        for ep in metadata.entry_points(group="bedside.backends"):
            if ep.name == name:
                return ep.load()
        known = sorted(_BUILTIN) + sorted(ep.name for ep in metadata.entry_points(group="bedside.backends"))
        raise ConfigError(f"unknown backend '{name}'; known: {', '.join(known)}")
    module, _, attr = target.partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        extra = {"transformers": "train"}.get(name, "")
        hint = f"; install it with pip install 'bedside[{extra}]'" if extra else ""
        raise ConfigError(f"backend '{name}' is not installed ({exc.name} missing){hint}") from exc


def backend_names() -> list[str]:
    return sorted(set(_BUILTIN) | {ep.name for ep in metadata.entry_points(group="bedside.backends")})
