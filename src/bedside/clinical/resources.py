"""The rule data files: JSON under ``bedside/resources/clinical/`` or a folder of the same files.

Each layer reads its knowledge (section headings, ConText triggers, lexicons, sig patterns) from one
file here, so a site can copy the folder, edit a list and pass the folder to :class:`RulePipeline`
without touching code. Keys starting with ``_`` are documentation (source, licence, syntax).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bedside.errors import ConfigError
from bedside.textio import read_json_object

PACKAGE_DIR = "resources/clinical"


def default_dir() -> Path:
    return Path(str(resources.files("bedside").joinpath(PACKAGE_DIR)))


@cache
def _load(path: Path) -> dict[str, Any]:
    return read_json_object(path, "clinical rule file")[0]


def load(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The parsed data file ``name`` (e.g. ``"sections.json"``); parsed once per path and process."""
    return _load((folder or default_dir()) / name)


def require(data: dict[str, Any], field: str, where: str) -> Any:
    if field not in data:
        raise ConfigError(f"clinical rule file {where} lacks '{field}'")
    return data[field]
