"""One settings object for the whole stack.

Precedence, lowest to highest: built-in defaults < config file (TOML) < environment variables
(``BEDSIDE_*``) < CLI flags. The config file is ``--config FILE``, else ``$BEDSIDE_CONFIG``, else
``<user config dir>/bedside/config.toml`` when it exists. docs/configuration.md lists every field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bedside.errors import ConfigError

APP = "bedside"


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def _data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def _cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEDSIDE_", extra="forbid", validate_default=True)

    data_dir: Path = Field(default_factory=_data_dir, description="Where bedside keeps its state.")
    cache_dir: Path = Field(
        default_factory=_cache_dir, description="Assembled and downloaded model files."
    )
    audit_db: Path | None = Field(
        default=None, description="Audit SQLite file; default <data_dir>/audit.sqlite3."
    )
    audit_store_text: bool = Field(
        default=False,
        description="Store raw prompt/output text in the audit trail (off: only sha256 hashes).",
    )
    allow_network: bool = Field(
        default=False,
        description="Allow downloading model files from a hub. Off by default: nothing leaves the machine.",
    )
    default_model: str = Field(default="smollm2", description="Model used when --model is not given.")
    threads: int = Field(default=0, ge=0, description="CPU threads for the local engine (0: all cores).")
    n_ctx: int = Field(
        default=4096, ge=256, description="Upper bound on the local engine's context window (tokens)."
    )
    gpu_layers: int = Field(
        default=0, description="Layers to offload to a GPU in the local engine (-1: all; 0: CPU only)."
    )
    max_tokens: int = Field(default=256, ge=1, description="Default generation budget (tokens).")
    ner_model: Path | None = Field(
        default=None,
        description="Entity-span model folder for `bedside extract` (default: the one shipped in the package).",
    )
    max_note_bytes: int = Field(
        default=10_000_000, ge=1, description="Largest note `bedside extract` accepts (bytes, UTF-8)."
    )
    outbound_deid_mode: Literal["mask", "redact", "surrogate"] = Field(
        default="mask",
        description="How text is de-identified before it goes to a model endpoint outside this machine.",
    )
    deid_key_file: Path | None = Field(
        default=None,
        description="Secret key file for surrogate de-identification (none: a random key per process).",
    )
    models: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra catalog entries ([[models]] tables, same fields as the bundled catalog).",
    )

    # Set from __init__ so that it is not itself read from the environment.
    config_file: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @property
    def audit_path(self) -> Path:
        return self.audit_db if self.audit_db is not None else self.data_dir / "audit.sqlite3"

    @property
    def model_lock_path(self) -> Path:
        """sha256 of files that were downloaded or added without a pinned hash (trust on first use)."""
        return self.data_dir / "models.lock.json"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are CLI flags (None values are ignored)."""
    path: Path | None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
    elif os.environ.get("BEDSIDE_CONFIG"):
        path = Path(os.environ["BEDSIDE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from BEDSIDE_CONFIG)")
    else:
        path = default_config_file()
        path = path if path.is_file() else None
    # A subclass bound to this file keeps Settings itself free of hidden global state.
    cls = Settings
    if path is not None:
        cls = type("FileSettings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}})
    try:
        settings = cls(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic ValidationError or TOML decode error
        where = f" in {path}" if path else ""
        first = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in first[:3])
        raise ConfigError(f"invalid configuration{where}: {detail}") from exc
    settings.config_file = path
    return settings
