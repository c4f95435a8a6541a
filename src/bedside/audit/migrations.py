"""Named, append-only schema migrations for the audit store.

A migration is never edited once released: a schema change is a new function appended to
``MIGRATIONS``. ``bedside audit schema`` prints the resulting schema (docs are generated from the
live database so they cannot drift from these functions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE calls (
            id                INTEGER PRIMARY KEY,
            ts_utc            TEXT    NOT NULL,
            task              TEXT    NOT NULL,
            caller            TEXT    NOT NULL,
            model_name        TEXT    NOT NULL,
            model_sha256      TEXT,
            backend           TEXT    NOT NULL,
            params_json       TEXT    NOT NULL,
            prompt_sha256     TEXT    NOT NULL,
            output_sha256     TEXT,
            prompt_text       TEXT,
            output_text       TEXT,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            duration_ms       REAL    NOT NULL,
            status            TEXT    NOT NULL,
            error             TEXT,
            prev_hash         TEXT    NOT NULL,
            record_hash       TEXT    NOT NULL UNIQUE
        )
        """
    )


def m002_bedside_version(db: sqlite3.Connection) -> None:
    # Which bedside build made the call: needed to reproduce it later.
    db.execute("ALTER TABLE calls ADD COLUMN bedside_version TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial, m002_bedside_version]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction; return their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    known = {m.__name__ for m in MIGRATIONS}
    unknown = done - known
    if unknown:
        from bedside.errors import AuditError

        raise AuditError(
            f"audit database was written by a newer bedside (migrations {sorted(unknown)}); upgrade bedside"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.__name__ in done:
            continue
        with db:
            migration(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_utc) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                (migration.__name__,),
            )
        applied.append(migration.__name__)
    return applied
