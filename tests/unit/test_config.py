from pathlib import Path

import pytest

from bedside.config import load_settings
from bedside.errors import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('default_model = "from-file"\nthreads = 1\nmax_tokens = 99\n')
    monkeypatch.setenv("BEDSIDE_THREADS", "2")
    s = load_settings(cfg, max_tokens=None)
    assert s.default_model == "from-file"  # file beats default
    assert s.threads == 2  # env beats file
    assert s.max_tokens == 99
    assert load_settings(cfg, threads=3).threads == 3  # flag beats env
    assert s.config_file == cfg


def test_config_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('audit_store_text = true\n')
    monkeypatch.setenv("BEDSIDE_CONFIG", str(cfg))
    assert load_settings().audit_store_text is True


def test_audit_db_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    monkeypatch.setenv("BEDSIDE_AUDIT_DB", str(tmp_path / "x.db"))
    assert load_settings().audit_path == tmp_path / "x.db"
    monkeypatch.delenv("BEDSIDE_AUDIT_DB")
    monkeypatch.setenv("BEDSIDE_DATA_DIR", str(tmp_path / "d"))
    assert load_settings().audit_path == tmp_path / "d" / "audit.sqlite3"


@pytest.mark.parametrize("content,match", [
    ("threads = -1\n", "threads"),
    ("no_such_field = 1\n", "no_such_field"),
    ("threads = [\n", "invalid configuration"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, match: str):
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_settings(cfg)


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
