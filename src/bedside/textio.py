"""Reading user files the same way everywhere: one clear error per kind of bad input."""

from __future__ import annotations

import sys
from pathlib import Path

from bedside.errors import BedsideError, InputError, ModelUnavailableError

GGUF_MAGIC = b"GGUF"


def read_text(path: str | Path, what: str = "file", error: type[BedsideError] = InputError) -> str:
    """Decode a UTF-8 text file ('-' reads standard input); refuse missing, binary or non-UTF-8 input."""
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
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{source} is not UTF-8 text (byte {exc.start}); convert it first") from exc


def check_gguf(path: Path) -> None:
    """Refuse a file that is not GGUF before an engine sees it (llama.cpp can abort the process)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelUnavailableError(f"{path} is not a GGUF file (magic {magic!r})")
