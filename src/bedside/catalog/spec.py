"""Catalog entries: what a model is, where its file comes from, and what it must hash to."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["writer", "reviewer", "embedder", "encoder", "base", "teacher"]
BackendName = Literal["llamacpp", "openai", "transformers"]


class PartRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str
    path: str


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["package", "parts", "file", "hub", "endpoint"]
    # package
    package: str | None = None
    path: str | None = None  # package: path inside the distribution; file: local path
    weights: str | None = None  # folder models: the file the sha256 pins
    # parts
    parts: list[PartRef] = Field(default_factory=list)
    filename: str | None = None  # parts: assembled name; hub: file in the repo
    # hub
    repo: str | None = None
    revision: str | None = None
    # endpoint
    base_url: str | None = None
    served_model: str | None = None
    api_key_env: str | None = None
    server: Literal["vllm", "llamacpp", "ollama", "openai"] = "openai"
    timeout_s: float = 120.0
    # Outbound de-identification (bedside.runtime.outbound): an endpoint whose host is not loopback is
    # outside this machine; `external` also marks a loopback one (a tunnel, a test stand-in) as outside.
    # `deid = false` sends prompts to an outside endpoint as given: an explicit, audited opt-out.
    external: bool = False
    deid: bool = True

    @model_validator(mode="after")
    def _required_fields(self) -> Source:
        need = {
            "package": ("package", "path"),
            "parts": ("parts", "filename"),
            "file": ("path",),
            "hub": ("repo", "filename"),
            "endpoint": ("base_url",),
        }[self.kind]
        missing = [f for f in need if not getattr(self, f)]
        if missing:
            raise ValueError(f"source kind '{self.kind}' needs {', '.join(missing)}")
        if self.external and self.kind != "endpoint":
            raise ValueError("external = true applies to source kind 'endpoint' (other models run in-process)")
        return self


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    role: Role = "writer"
    backend: BackendName = "llamacpp"
    format: Literal["gguf", "hf", "remote"] = "gguf"
    parameters: str | None = None
    context_length: int | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    license: str = "unknown"
    provenance: str = ""
    install: str = ""
    chat_template: str | None = None  # override the GGUF's own template (jinja string)
    # Record the sha256 of an unpinned file on first use and refuse a changed file later. Off for
    # ad-hoc paths given on the command line, which are hashed for the audit trail only.
    pin_on_first_use: bool = True
    source: Source
