"""The CLI as a user runs it: real subprocess, real engine, real audit database."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from conftest import audit_rows, run_cli

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "properties": {
        "problem": {"type": "string"},
        "medications": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "acuity": {"type": "string", "enum": ["acute", "chronic"]},
    },
    "required": ["problem", "medications", "acuity"],
}
NOTE = "72-year-old man with chronic heart failure on furosemide 40 mg daily and lisinopril 10 mg."


def test_models_list_json_shows_bundled_defaults(bedside_env):
    out = run_cli("models", "list", "--json", env=bedside_env)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    for key in ("name", "role", "source", "path", "sha256", "size_bytes", "license", "available"):
        assert all(key in r for r in rows.values()), key
    smol = rows["smollm2"]
    assert smol["available"] is True and smol["role"] == "writer"
    import hashlib

    assert hashlib.sha256(Path(smol["path"]).read_bytes()).hexdigest() == smol["sha256"]
    assert Path(smol["path"]).stat().st_size == smol["size_bytes"]
    assert rows["qwen3-4b"]["available"] is False  # hub model, never downloaded here


def test_generate_free_text_is_audited_without_text(bedside_env):
    out = run_cli("generate", "--model", "smollm2", "--max-tokens", "16", NOTE, env=bedside_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    rows = audit_rows(bedside_env)
    assert len(rows) == 1
    r = rows[0]
    assert r["model_name"] == "smollm2" and r["backend"] == "llamacpp" and r["caller"] == "cli"
    assert r["model_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert r["prompt_text"] is None and r["output_text"] is None
    assert r["completion_tokens"] <= 16 and r["prompt_tokens"] > 0 and r["duration_ms"] > 0
    assert json.loads(r["params_json"])["max_tokens"] == 16
    assert "furosemide" not in Path(bedside_env["BEDSIDE_AUDIT_DB"]).read_bytes().decode("latin-1")


def test_generate_schema_prints_valid_json(bedside_env, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(SCHEMA))
    out = run_cli("generate", "--model", "smollm2", "--schema", str(schema), NOTE, env=bedside_env)
    assert out.returncode == 0, out.stderr
    jsonschema.validate(json.loads(out.stdout), SCHEMA)


def test_generate_choices_prints_one_choice(bedside_env):
    out = run_cli("generate", "--model", "smollm2", "--choices", "cardiology,dermatology,psychiatry",
                  "Route this referral: " + NOTE, env=bedside_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in {"cardiology", "dermatology", "psychiatry"}


def test_audit_verify_counts_then_names_a_tampered_record(bedside_env):
    for i in range(3):
        assert run_cli("generate", "--max-tokens", "4", f"Say {i}", env=bedside_env).returncode == 0
    ok = run_cli("audit", "verify", env=bedside_env)
    assert ok.returncode == 0 and "3 records" in ok.stdout
    db = sqlite3.connect(bedside_env["BEDSIDE_AUDIT_DB"])
    db.execute("UPDATE calls SET completion_tokens = completion_tokens + 1 WHERE id = 2")
    db.commit()
    db.close()
    bad = run_cli("audit", "verify", "--db", bedside_env["BEDSIDE_AUDIT_DB"], env=bedside_env)
    assert bad.returncode != 0
    assert "id=2" in bad.stderr


def test_prompt_file_and_stdin(bedside_env, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    assert run_cli("generate", "--max-tokens", "4", "--file", str(note), env=bedside_env).returncode == 0
    out = run_cli("generate", "--max-tokens", "4", "--file", "-", env=bedside_env, stdin=NOTE.encode())
    assert out.returncode == 0
    assert len(audit_rows(bedside_env)) == 2


def _bad(env, *args, stdin=None):
    before = audit_rows(env)
    out = run_cli(*args, env=env, stdin=stdin)
    assert out.returncode != 0
    err = out.stderr if isinstance(out.stderr, str) else out.stderr.decode()
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("bedside: error:"), err
    assert "Traceback" not in err
    return lines[-1], before


def test_unknown_model(bedside_env):
    msg, before = _bad(bedside_env, "generate", "--model", "gpt-17", "hello")
    assert "unknown model 'gpt-17'" in msg
    assert audit_rows(bedside_env) == before == []


def test_empty_prompt(bedside_env):
    msg, _ = _bad(bedside_env, "generate", "   ")
    assert "prompt is empty" in msg
    assert audit_rows(bedside_env) == []


def test_invalid_and_missing_schema(bedside_env, tmp_path):
    s = tmp_path / "s.json"
    s.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "strng"}}}))
    msg, _ = _bad(bedside_env, "generate", "--schema", str(s), "hello")
    assert "not a valid JSON Schema" in msg
    msg, _ = _bad(bedside_env, "generate", "--schema", str(tmp_path / "none.json"), "hello")
    assert "schema file not found" in msg
    assert audit_rows(bedside_env) == []


def test_binary_and_non_utf8_prompt_files(bedside_env, tmp_path):
    b = tmp_path / "b.bin"
    b.write_bytes(b"\x00\x01\x02GGUF\x00")
    msg, _ = _bad(bedside_env, "generate", "--file", str(b))
    assert "binary" in msg
    latin = tmp_path / "l.txt"
    latin.write_bytes("Patient: Müller, fièvre".encode("latin-1"))
    msg, _ = _bad(bedside_env, "generate", "--file", str(latin))
    assert "not UTF-8" in msg


def test_prompt_larger_than_context_is_audited_consistently(bedside_env):
    env = {**bedside_env, "BEDSIDE_N_CTX": "256"}
    run_cli("generate", "--max-tokens", "4", "hello", env=env)
    msg, before = _bad(env, "generate", "fever and cough " * 200)
    assert "context window" in msg and "256" in msg
    rows = audit_rows(env)
    assert len(rows) == len(before) + 1 and rows[-1]["status"] == "error"
    assert run_cli("audit", "verify", env=env).returncode == 0


def test_corrupt_and_truncated_model_files(bedside_env, tmp_path):
    src = Path(json.loads(run_cli("models", "list", "--json", env=bedside_env).stdout)[0]["path"])
    truncated = tmp_path / "trunc.gguf"
    with src.open("rb") as fh:
        truncated.write_bytes(fh.read(5_000_000))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[[models]]\nname = 'smol-copy'\nsha256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53'\n"
        f"[models.source]\nkind = 'file'\npath = '{truncated}'\n"
    )
    msg, _ = _bad(bedside_env, "generate", "--config", str(cfg), "--model", "smol-copy", "hello")
    assert "sha256 mismatch" in msg
    msg, _ = _bad(bedside_env, "generate", "--model", str(truncated), "hello")
    assert "could not load" in msg
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    msg, _ = _bad(bedside_env, "generate", "--model", str(junk), "hello")
    assert "not a GGUF file" in msg
    assert audit_rows(bedside_env) == []


def test_models_verify_detects_a_modified_copy(bedside_env, tmp_path):
    src = Path(json.loads(run_cli("models", "list", "--json", env=bedside_env).stdout)[0]["path"])
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(src, copy)
    with copy.open("r+b") as fh:
        fh.seek(50_000_000)
        byte = fh.read(1)
        fh.seek(50_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[[models]]\nname = 'smol-copy'\nsha256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53'\n"
        f"size_bytes = 98362432\n[models.source]\nkind = 'file'\npath = '{copy}'\n"
    )
    out = run_cli("models", "verify", "--config", str(cfg), "smol-copy", env=bedside_env)
    assert out.returncode != 0 and "sha256 mismatch" in out.stderr
    assert run_cli("models", "verify", "smollm2", env=bedside_env).returncode == 0


def test_help_everywhere(bedside_env):
    for args in (["--help"], ["generate", "--help"], ["models", "--help"], ["models", "list", "--help"],
                 ["audit", "--help"], ["audit", "verify", "--help"], ["config", "show", "--help"]):
        out = run_cli(*args, env=bedside_env)
        assert out.returncode == 0 and "Usage" in out.stdout, args
