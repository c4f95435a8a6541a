"""`bedside deid` and `bedside eval deid` as a user runs them: output, offsets, bad input, the key."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from deid_helpers import PHYSIONET, SYNTHEA, VOCAB_CACHE

NOTE = "Mr. Nicholson was seen by Dr. Vasquez on 7/22/2003; his wife Mary (410-555-1234) visited.\n"
KEY = "cli-test-key-0123456789abcdef"


@pytest.fixture
def env(bedside_env):
    return {**bedside_env, "BEDSIDE_CACHE_DIR": str(VOCAB_CACHE)}


def test_mask_from_stdin(env):
    r = run_cli("deid", "-", stdin=NOTE.encode(), env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out == "Mr. [NAME] was seen by Dr. [NAME] on [DATE]; his wife [NAME] ([PHONE]) visited.\n"
    assert r.stderr == b""


def test_spans_offsets_refer_to_the_input(env, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    r = run_cli("deid", str(note), "--spans", "--mode", "redact", env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"text", "spans"} and "Vasquez" not in data["text"]
    assert {s["type"] for s in data["spans"]} == {"NAME", "DATE", "PHONE"}
    for s in data["spans"]:
        assert NOTE[s["begin"]:s["end"]] == s["text"]
        assert set(s) == {"begin", "end", "type", "text", "score", "source"}


def test_surrogate_with_key_is_deterministic_and_key_stays_secret(env, tmp_path):
    key = tmp_path / "key"
    key.write_text(KEY + "\n", encoding="utf-8")
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    runs = [run_cli("deid", str(note), "--mode", "surrogate", "--key-file", str(key), "--patient", "15", env=env)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    for original in ("Nicholson", "Vasquez", "Mary", "410-555-1234", "7/22/2003"):
        assert original not in runs[0].stdout
    assert KEY not in runs[0].stdout + runs[0].stderr


@pytest.mark.parametrize("data, message", [
    (b"", "empty text"),
    (b"   \n\n", "empty text"),
    (b"PK\x03\x04\x00\x00binary", "binary"),
    (b"caf\xe9 au lait", "not UTF-8"),
])
def test_bad_text_input(env, data, message):
    r = run_cli("deid", "-", stdin=data, env=env)
    assert r.returncode == 2
    assert r.stdout == b""
    assert message in r.stderr.decode()


def test_missing_file_and_short_key(env, tmp_path):
    r = run_cli("deid", str(tmp_path / "nope.txt"), env=env)
    assert r.returncode == 2 and "not found" in r.stderr and r.stdout == ""
    key = tmp_path / "key"
    key.write_text("k3y!x", encoding="utf-8")
    note = tmp_path / "n.txt"
    note.write_text(NOTE, encoding="utf-8")
    r = run_cli("deid", str(note), "--key-file", str(key), env=env)
    assert r.returncode == 2 and "at least 16" in r.stderr and "k3y!x" not in r.stderr and r.stdout == ""


def test_five_megabyte_note(env, tmp_path):
    note = tmp_path / "big.txt"
    note.write_text(NOTE * (5_000_000 // len(NOTE)), encoding="utf-8")
    r = run_cli("deid", str(note), env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert "Vasquez" not in r.stdout and r.stdout.count("[NAME]") == 3 * (5_000_000 // len(NOTE))
    assert "PHI tagger skipped" in r.stderr  # past TAGGER_MAX_CHARS the rules run alone, and it says so
    assert "Vasquez" not in r.stderr


def test_rules_only_and_a_tagger_of_ones_own(env, tmp_path):
    r = run_cli("deid", "-", "--rules-only", "--spans", stdin=NOTE.encode(), env=env)
    assert r.returncode == 0, r.stderr
    assert "ner" not in {src for s in json.loads(r.stdout)["spans"] for src in s["source"].split("+")}
    r = run_cli("deid", "-", "--spans", stdin=NOTE.encode(), env=env)
    assert r.returncode == 0, r.stderr
    assert "ner" in {src for s in json.loads(r.stdout)["spans"] for src in s["source"].split("+")}
    r = run_cli("deid", "-", "--rules-only", "--ner-model", str(tmp_path), stdin=NOTE.encode(), env=env)
    assert r.returncode == 2 and b"contradict" in r.stderr


def test_fhir_bundle(env, tmp_path):
    files = sorted(SYNTHEA.glob("*.json"))
    if not files:
        pytest.skip(f"Synthea bundles not found under {SYNTHEA}")
    bundle = json.loads(files[0].read_text(encoding="utf-8"))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    r = run_cli("deid", "--fhir", str(files[0]), "--mode", "surrogate", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["resourceType"] == "Bundle" and len(out["entry"]) == len(bundle["entry"])
    for value in (patient["name"][0]["family"], patient["address"][0]["line"][0], patient["telecom"][0]["value"]):
        assert value not in r.stdout


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not JSON"),
    ('{"resourceType": "Patient"}', "not a FHIR Bundle"),
    ('{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", '
     '"birthDate": "yesterday"}}]}', "not a valid FHIR R4 Bundle"),
])
def test_invalid_bundle(env, tmp_path, content, message):
    path = tmp_path / "b.json"
    path.write_text(content, encoding="utf-8")
    r = run_cli("deid", "--fhir", str(path), env=env)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""


def test_usage_errors(env, tmp_path):
    r = run_cli("deid", env=env)
    assert r.returncode == 2 and "give one note" in r.stderr
    r = run_cli("deid", "-", "--mode", "blur", stdin=NOTE.encode(), env=env)
    assert r.returncode == 2 and b"unknown mode" in r.stderr


def test_eval_deid(env):
    if not (PHYSIONET / "id.text").is_file():
        pytest.skip(f"PhysioNet deid data not found at {PHYSIONET}")
    r = run_cli("eval", "deid", "--data", str(PHYSIONET), "--limit", "200", env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["notes"] == 200 and report["notes_per_second"] > 0
    for level in ("span_overlap", "span_exact", "token"):
        block = report["overall"][level]
        assert 0 < block["precision"] <= 1 and 0 < block["recall"] <= 1 and block["gold"] > 0
    assert {"NAME", "DATE", "LOCATION"} <= set(report["per_class"])
    assert "Nicholson" not in r.stdout  # scores only, no note text


def test_eval_deid_bad_data(env, tmp_path):
    r = run_cli("eval", "deid", "--data", str(tmp_path), env=env)
    assert r.returncode == 2 and "*.text" in r.stderr
