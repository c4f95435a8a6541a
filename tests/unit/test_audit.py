import sqlite3
from pathlib import Path

import pytest

from bedside.audit import AuditStore, CallRecord
from bedside.audit.migrations import MIGRATIONS
from bedside.audit.store import GENESIS, sha256_text
from bedside.errors import AuditChainBroken, AuditError


def _rec(i: int, **kw) -> CallRecord:
    base = dict(task="t", caller="test", model_name="m", model_sha256="ab" * 32, backend="fake",
                params={"max_tokens": 8, "i": i}, prompt=f"patient {i} has fever", output=f"out {i}",
                prompt_tokens=5, completion_tokens=2, duration_ms=1.5)
    base.update(kw)
    return CallRecord(**base)


@pytest.fixture
def store(tmp_path: Path):
    with AuditStore(tmp_path / "a.db") as s:
        for i in range(5):
            s.append(_rec(i))
        yield s


def test_chain_verifies_and_links(store: AuditStore):
    report = store.verify()
    assert report.ok and report.count == 5
    rows = list(store.rows())
    assert rows[0]["prev_hash"] == GENESIS
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == prev["record_hash"]
    assert report.head == rows[-1]["record_hash"]


def test_no_raw_text_by_default(store: AuditStore):
    row = next(store.rows())
    assert row["prompt_text"] is None and row["output_text"] is None
    assert row["prompt_sha256"] == sha256_text("patient 0 has fever")
    raw = Path(store.path).read_bytes()
    assert b"has fever" not in raw


def test_text_stored_only_when_opted_in(tmp_path: Path):
    with AuditStore(tmp_path / "b.db", store_text=True) as s:
        s.append(_rec(1))
        row = next(s.rows())
    assert row["prompt_text"] == "patient 1 has fever"
    assert row["output_text"] == "out 1"


TAMPERABLE = ["ts_utc", "task", "caller", "model_name", "model_sha256", "backend", "params_json",
              "prompt_sha256", "output_sha256", "prompt_tokens", "completion_tokens", "duration_ms",
              "status", "error", "bedside_version", "prev_hash", "record_hash", "prompt_text"]


@pytest.mark.parametrize("column", TAMPERABLE)
def test_editing_any_field_of_any_row_is_detected(tmp_path: Path, column: str):
    path = tmp_path / "t.db"
    with AuditStore(path) as s:
        for i in range(4):
            s.append(_rec(i))
    db = sqlite3.connect(path)
    old = db.execute(f"SELECT {column} FROM calls WHERE id = 3").fetchone()[0]
    if isinstance(old, str) and old:
        new = old[:-1] + ("0" if old[-1] != "0" else "1")  # one character changed
    elif isinstance(old, (int, float)):
        new = old + 1
    else:
        new = "x"
    db.execute(f"UPDATE calls SET {column} = ? WHERE id = 3", (new,))
    db.commit()
    db.close()
    with AuditStore(path) as s:
        report = s.verify()
        assert not report.ok
        assert report.broken_id in (3, 4)  # a changed record_hash surfaces at the next record's link
        with pytest.raises(AuditChainBroken, match="record id="):
            s.verify_or_raise()


def test_deleting_a_middle_record_is_detected(store: AuditStore):
    store.db.execute("DELETE FROM calls WHERE id = 2")
    report = store.verify()
    assert not report.ok and report.broken_id == 3


def test_flipping_a_byte_in_the_file_is_detected(tmp_path: Path):
    path = tmp_path / "f.db"
    with AuditStore(path) as s:
        s.append(_rec(0, model_name="model-AAAA"))
        s.append(_rec(1))
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    at = data.find(b"model-AAAA")
    assert at > 0
    data[at + 6] = ord("B")
    path.write_bytes(bytes(data))
    with AuditStore(path) as s:
        report = s.verify()
    assert not report.ok and report.broken_id == 1


def test_migrations_are_named_recorded_and_idempotent(tmp_path: Path):
    path = tmp_path / "m.db"
    AuditStore(path).close()
    AuditStore(path).close()
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert all(n.startswith("m0") for n in names)


def test_database_from_a_newer_version_is_refused(tmp_path: Path):
    path = tmp_path / "n.db"
    AuditStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations VALUES ('m999_future', 'x')")
    db.commit()
    db.close()
    with pytest.raises(AuditError, match="newer bedside"):
        AuditStore(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AuditError, match="cannot open audit database"):
        AuditStore(path)
    assert path.read_bytes() == b"this is not sqlite" * 100  # left as it was


def test_missing_database_when_not_creating(tmp_path: Path):
    with pytest.raises(AuditError, match="not found"):
        AuditStore(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()
