"""The model catalog: bundled entries (resources/models.toml) plus the user's own."""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bedside.catalog.spec import ModelSpec
from bedside.errors import ConfigError, UnknownModelError


def bundled_entries() -> list[dict[str, Any]]:
    text = resources.files("bedside").joinpath("resources/models.toml").read_text(encoding="utf-8")
    return list(tomllib.loads(text)["models"])


class Catalog:
    def __init__(self, entries: list[dict[str, Any]]):
        self.specs: dict[str, ModelSpec] = {}
        for raw in entries:
            try:
                spec = ModelSpec.model_validate(raw)
            except ValidationError as exc:
                name = raw.get("name", "?")
                err = exc.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise ConfigError(f"catalog entry '{name}': {loc}: {err['msg']}") from exc
            # Later entries (user config) replace bundled ones of the same name.
            self.specs[spec.name] = spec
        self.aliases = {a: s.name for s in self.specs.values() for a in s.aliases}

    @classmethod
    def load(cls, extra: list[dict[str, Any]] | None = None) -> Catalog:
        return cls(bundled_entries() + list(extra or []))

    def __iter__(self):
        return iter(self.specs.values())

    def get(self, name: str) -> ModelSpec:
        key = self.aliases.get(name, name)
        if key in self.specs:
            return self.specs[key]
        path = Path(name).expanduser()
        if path.suffix == ".gguf" or path.exists():
            # An ad-hoc local file: usable without a catalog entry; its sha256 is recorded on first use.
            if not path.exists():
                raise UnknownModelError(f"model file not found: {path}")
            return ModelSpec(
                name=str(path.resolve()), description="local file", format="gguf" if path.is_file() else "hf",
                backend="llamacpp" if path.is_file() else "transformers",
                provenance=f"local path {path.resolve()}", pin_on_first_use=False,
                source={"kind": "file", "path": str(path.resolve())},
            )
        known = sorted(self.specs) + sorted(self.aliases)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownModelError(
            f"unknown model '{name}'{hint}; `bedside models list` shows the catalog, or pass a path to a .gguf file"
        )
