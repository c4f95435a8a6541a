"""Shared fixtures. Every test gets its own data, cache and audit locations: never the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def bedside_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a CLI run isolated in tmp_path (also applied to this process)."""
    env = {
        "BEDSIDE_DATA_DIR": str(tmp_path / "data"),
        "BEDSIDE_CACHE_DIR": str(tmp_path / "cache"),
        "BEDSIDE_AUDIT_DB": str(tmp_path / "audit.sqlite3"),
        "BEDSIDE_THREADS": "1",  # llama.cpp spin-waits: 2 threads on a busy 2-core box is many times slower
        "BEDSIDE_N_CTX": "2048",
    }
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `bedside` command in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bedside", *args], env=full_env, input=stdin, capture_output=True,
        timeout=timeout, text=stdin is None,
    )


def audit_rows(env: dict[str, str]) -> list[dict]:
    """Every audit record of the database a test's environment points at (empty if none yet)."""
    import sqlite3

    path = Path(env["BEDSIDE_AUDIT_DB"])
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM calls ORDER BY id")]
    db.close()
    return rows


# One ICD-10-CM index per test session: building it parses the tabular list (about 10 s on 2 busy cores).
# Here rather than in tests/coding/conftest.py: a second conftest module would shadow this one for the
# tests that import helpers with `from conftest import ...`.
@pytest.fixture(scope="session")
def icd10_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icd10-cache")


@pytest.fixture(scope="session")
def linker(icd10_cache_dir: Path):
    from bedside.coding import Icd10Linker

    lk = Icd10Linker(cache_dir=icd10_cache_dir)
    lk.warm_up()
    return lk
