"""Provenance recorded in ``bedside-ner.json``: code revision and library versions."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

_LIBS = ("bedside", "torch", "transformers", "tokenizers", "onnx", "onnxruntime", "numpy", "nervaluate")


def versions(*extra: str) -> dict[str, str | None]:
    """Python's and the libraries' versions (``extra``: more distributions to record)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for lib in (*_LIBS, *extra):
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def git_revision() -> str | None:
    """HEAD of the checkout this package runs from, ``-dirty`` if the package's code differs from it
    (modified or untracked files under ``src/bedside``)."""
    here = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # an installed wheel: no checkout to name
    return f"{rev}-dirty" if dirty else rev
