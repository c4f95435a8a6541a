"""The rule data files: JSON under ``bedside/resources/clinical/`` or a folder of the same files.

Each layer reads its knowledge (section headings, ConText triggers, lexicons, sig patterns) from one
file here, so a site can copy the folder, edit a list and pass the folder to :class:`RulePipeline`
without touching code. Keys starting with ``_`` are documentation (source, licence, syntax).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bedside.errors import ConfigError

PACKAGE_DIR = "resources/clinical"


def default_dir() -> Path:
    return Path(str(resources.files("bedside").joinpath(PACKAGE_DIR)))


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"clinical rule file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"clinical rule file {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"clinical rule file {path} must hold a JSON object")
    return data


def load(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The parsed data file ``name`` (e.g. ``"sections.json"``); parsed once per path and process."""
    return _load((folder or default_dir()) / name)


def require(data: dict[str, Any], field: str, where: str) -> Any:
    if field not in data:
        raise ConfigError(f"clinical rule file {where} lacks '{field}'")
    return data[field]
