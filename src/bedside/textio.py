"""Reading user files the same way everywhere: one clear error per kind of bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bedside.errors import BedsideError, ConfigError, InputError, ModelUnavailableError

GGUF_MAGIC = b"GGUF"


def read_text(
    path: str | Path, what: str = "file", error: type[BedsideError] = InputError, encoding: str = "utf-8"
) -> str:
    """Decode a text file ('-' reads standard input); refuse missing, binary or undecodable input.

    ``encoding`` is a Python codec name; UTF-8 (the default) also accepts a byte-order mark.
    """
    if str(path) == "-":
        data, source = sys.stdin.buffer.read(), "standard input"
    else:
        p = Path(path)
        source = str(p)
        try:
            data = p.read_bytes()
        except FileNotFoundError as exc:
            raise error(f"{what} not found: {p}") from exc
        except IsADirectoryError as exc:
            raise error(f"{what} is a directory, not a file: {p}") from exc
        except OSError as exc:
            raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        raise error(f"{source} looks binary (contains NUL bytes); give a UTF-8 text file")
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError as exc:
        raise error(f"unknown text encoding '{encoding}'") from exc
    except UnicodeDecodeError as exc:
        hint = " (Latin-1/Windows text? try --encoding latin-1 or cp1252)" if codec == "utf-8-sig" else ""
        name = "UTF-8" if codec == "utf-8-sig" else encoding
        raise error(f"{source} is not {name} text (byte {exc.start}){hint}") from exc


def check_gguf(path: Path) -> None:
    """Refuse a file that is not GGUF before an engine sees it (llama.cpp can abort the process)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelUnavailableError(f"{path} is not a GGUF file (magic {magic!r})")


def read_json_object(
    path: Path, what: str, error: type[BedsideError] = ConfigError
) -> tuple[dict[str, Any], bytes]:
    """A data file holding one JSON object, and its bytes (for a hash); one clear error per failure."""
    try:
        raw = Path(path).read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{what} {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a JSON object")
    return data, raw
