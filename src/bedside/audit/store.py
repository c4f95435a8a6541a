"""Append-only audit trail of every model call, hash-chained in SQLite.

Each record's ``record_hash`` is the sha256 of its canonical JSON (all columns but ``id`` and
``record_hash``) and that JSON includes ``prev_hash``, the previous record's hash. Editing any
byte of any stored field, reordering, or deleting a record in the middle breaks the chain, and
``verify`` names the first record that no longer matches. Deleting the newest records cannot be
seen from the chain alone; ``head`` returns (count, last hash) so a deployment can anchor it
elsewhere (a log shipper, a printed report).

The store keeps no raw text unless ``store_text`` is on: prompts and outputs are kept as sha256.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedside.audit.migrations import migrate
from bedside.errors import AuditChainBroken, AuditError

GENESIS = "0" * 64

# Order matters: it is the order of the hashed canonical JSON.
HASHED_FIELDS = (
    "ts_utc", "task", "caller", "model_name", "model_sha256", "backend", "params_json",
    "prompt_sha256", "output_sha256", "prompt_text", "output_text", "prompt_tokens",
    "completion_tokens", "duration_ms", "status", "error", "bedside_version", "prev_hash",
)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(row: dict[str, Any]) -> str:
    payload = {k: row.get(k) for k in HASHED_FIELDS}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CallRecord:
    """What one model call contributed. Text fields are dropped unless the store keeps text."""

    task: str
    caller: str
    model_name: str
    model_sha256: str | None
    backend: str
    params: dict[str, Any]
    prompt: str
    output: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_ms: float = 0.0
    status: str = "ok"
    error: str | None = None
    ts_utc: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))


@dataclass
class VerifyReport:
    count: int
    head: str
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.reason is None


class AuditStore:
    def __init__(self, path: str | Path, *, store_text: bool = False, create: bool = True):
        self.path = Path(path)
        self.store_text = store_text
        if not create and not self.path.exists():
            raise AuditError(f"audit database not found: {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE) so that
            # concurrent writers serialize on the chain head instead of forking it.
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            migrate(self.db)
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"cannot open audit database {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, rec: CallRecord) -> int:
        from bedside import __version__

        row: dict[str, Any] = {
            "ts_utc": rec.ts_utc,
            "task": rec.task,
            "caller": rec.caller,
            "model_name": rec.model_name,
            "model_sha256": rec.model_sha256,
            "backend": rec.backend,
            "params_json": json.dumps(rec.params, sort_keys=True, separators=(",", ":")),
            "prompt_sha256": sha256_text(rec.prompt),
            "output_sha256": sha256_text(rec.output) if rec.output is not None else None,
            "prompt_text": rec.prompt if self.store_text else None,
            "output_text": rec.output if self.store_text else None,
            "prompt_tokens": rec.prompt_tokens,
            "completion_tokens": rec.completion_tokens,
            "duration_ms": round(float(rec.duration_ms), 3),
            "status": rec.status,
            "error": rec.error,
            "bedside_version": __version__,
        }
        cols = list(row) + ["prev_hash", "record_hash"]
        try:
            self.db.execute("BEGIN IMMEDIATE")
            last = self.db.execute("SELECT record_hash FROM calls ORDER BY id DESC LIMIT 1").fetchone()
            row["prev_hash"] = last[0] if last else GENESIS
            row["record_hash"] = record_hash(row)
            cur = self.db.execute(
                f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols],
            )
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise AuditError(f"cannot write audit record to {self.path}: {exc}") from exc
        return int(cur.lastrowid)

    def rows(self, limit: int | None = None, *, newest_first: bool = False) -> Iterator[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM calls ORDER BY id {order}" + (f" LIMIT {int(limit)}" if limit else "")
        cur = self.db.execute(sql)
        names = [d[0] for d in cur.description]
        for values in cur:
            yield dict(zip(names, values, strict=True))

    def head(self) -> tuple[int, str]:
        count = self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        last = self.db.execute("SELECT record_hash FROM calls ORDER BY id DESC LIMIT 1").fetchone()
        return int(count), (last[0] if last else GENESIS)

    def verify(self) -> VerifyReport:
        prev = GENESIS
        count = 0
        try:
            for row in self.rows():
                count += 1
                if row["prev_hash"] != prev:
                    return VerifyReport(count - 1, prev, row["id"], "prev_hash does not match the previous record")
                if record_hash(row) != row["record_hash"]:
                    return VerifyReport(count - 1, prev, row["id"], "record content does not match its hash")
                prev = row["record_hash"]
        except sqlite3.DatabaseError as exc:
            return VerifyReport(count, prev, None, f"database is unreadable: {exc}")
        return VerifyReport(count, prev)

    def verify_or_raise(self) -> VerifyReport:
        report = self.verify()
        if not report.ok:
            where = f"record id={report.broken_id}" if report.broken_id is not None else "database"
            raise AuditChainBroken(f"audit chain broken at {where}: {report.reason}")
        return report
