"""One ICD-10-CM index per test session: building it parses the tabular list (about 10 s on 2 busy cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bedside.coding import Icd10Linker


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icd10-cache")


@pytest.fixture(scope="session")
def linker(cache_dir: Path) -> Icd10Linker:
    lk = Icd10Linker(cache_dir=cache_dir)
    lk.warm_up()
    return lk
