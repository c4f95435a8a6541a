"""bedside's own logs never carry note text, even at DEBUG (issue #5).

The real `bedside deid` and `bedside extract` commands run in a subprocess on a note full of PHI
with BEDSIDE_LOG_LEVEL=DEBUG (every bedside logger at DEBUG, to stderr); stderr must then show the
debug lines (so the check is not vacuous) and none of the note's identifiers.
"""

from __future__ import annotations

import pytest
from conftest import run_cli
from deid_helpers import VOCAB_CACHE

NOTE = (
    "Patient John Nicholson (MRN 4829173), DOB 03/14/1962, seen 7/22/2003 by Dr. Vasquez at 12 Elm Street.\n"
    "HISTORY: 61-year-old man with type 2 diabetes mellitus and hypertension. He reports fever.\n"
    "Call his wife Mary at (617) 555-1234 or mary.nicholson@example.org.\n"
    "MEDICATIONS: metformin 500 mg PO BID.\n"
)
PHI = ("Nicholson", "4829173", "03/14/1962", "7/22/2003", "Vasquez", "Elm Street", "Mary", "(617) 555-1234",
       "555-1234", "example.org")


@pytest.fixture
def env(bedside_env):
    # The shared cache also keeps the ICD-10-CM index that `extract` builds once (package data only).
    return {**bedside_env, "BEDSIDE_CACHE_DIR": str(VOCAB_CACHE), "BEDSIDE_LOG_LEVEL": "DEBUG"}


def _run(env, tmp_path, *args):
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    r = run_cli(*args, str(note), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def _assert_no_phi(stderr: str) -> None:
    leaked = [p for p in PHI if p in stderr]
    assert not leaked, f"note text in the log: {leaked}\n{stderr}"


@pytest.mark.parametrize("args", [("deid",), ("deid", "--spans"), ("deid", "--mode", "surrogate")])
def test_deid_debug_log_has_counts_not_text(env, tmp_path, args):
    r = _run(env, tmp_path, *args)
    if "--spans" not in args:  # (--spans reports the originals with their offsets, on stdout, by design)
        assert "Vasquez" not in r.stdout
    assert "bedside: " in r.stderr and "PHI spans: " in r.stderr and "NAME" in r.stderr
    _assert_no_phi(r.stderr)


def test_extract_debug_log_has_counts_not_text(env, tmp_path):
    r = _run(env, tmp_path, "extract")
    assert "03/14/1962" in r.stdout  # the PHI entities themselves belong in the output (stdout), not the log
    assert "bedside: " in r.stderr and "entities: " in r.stderr and "MEDICAL_CONDITION" in r.stderr
    _assert_no_phi(r.stderr)


def test_default_level_prints_no_debug_lines(env, tmp_path):
    quiet = {k: v for k, v in env.items() if k != "BEDSIDE_LOG_LEVEL"}
    r = _run({**quiet, "BEDSIDE_LOG_LEVEL": ""}, tmp_path, "deid")
    assert "PHI spans" not in r.stderr
    _assert_no_phi(r.stderr)


def test_unknown_log_level_is_a_one_line_error(env, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    r = run_cli("deid", str(note), env={**env, "BEDSIDE_LOG_LEVEL": "LOUD"})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "bedside: error: BEDSIDE_LOG_LEVEL='LOUD': use DEBUG, INFO, WARNING or ERROR"
