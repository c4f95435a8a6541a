"""Shared data locations, fixtures and helpers for the de-identification tests.

(No conftest.py here on purpose: a second module named ``conftest`` would shadow tests/conftest.py
for the test folders collected after this one.) Test modules build their fixtures from these helpers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PHYSIONET = SHARED_DATA / "deid" / "physionet"
SYNTHEA = SHARED_DATA / "fhir" / "synthea"
# The vocabulary cache holds only lists derived from installed packages (keyed by their versions), so
# the test modules share one folder instead of each building it again (seconds).
VOCAB_CACHE = Path(tempfile.gettempdir()) / "bedside-tests-deid-cache"


def make_detector(tagger: bool = False):
    """The rules (the tests of their own behaviour), or with ``tagger`` the default detector as shipped."""
    from bedside.deid.detect import default_detector

    return default_detector(cache_dir=VOCAB_CACHE, tagger=tagger)


def physionet_or_skip():
    if not (PHYSIONET / "id.text").is_file():
        pytest.skip(f"PhysioNet deid data not found at {PHYSIONET}")
    from bedside.deid.physionet import read_notes

    return read_notes(PHYSIONET)


def found(detector, text: str) -> set[tuple[str, str]]:
    return {(s.type, s.text) for s in detector(text)}
