"""``bedside audit``: check and read the audit trail."""

from __future__ import annotations

from pathlib import Path

import typer

from bedside.audit import AuditStore
from bedside.cli.common import ConfigOpt, DbOpt, echo_json, fail, settings_from
from bedside.errors import AuditChainBroken

app = typer.Typer(help="Verify and read the audit trail of model calls.", no_args_is_help=True)


def _open(db: Path | None, config: Path | None) -> AuditStore:
    settings = settings_from(config, audit_db=db)
    return AuditStore(settings.audit_path, create=False)


@app.command("verify")
def verify(
    db: Path | None = DbOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    config: Path | None = ConfigOpt,
) -> None:
    """Check the hash chain. Exit 0 with the record count, or non-zero naming the first broken record."""
    with _open(db, config) as store:
        report = store.verify()
    if as_json:
        echo_json({"ok": report.ok, "count": report.count, "head": report.head,
                   "broken_id": report.broken_id, "reason": report.reason})
        if not report.ok:
            raise typer.Exit(AuditChainBroken.exit_code)
        return
    if not report.ok:
        where = f"record id={report.broken_id}" if report.broken_id is not None else "database"
        fail(f"audit chain broken at {where}: {report.reason} ({report.count} records before it verified)",
             AuditChainBroken.exit_code)
    typer.echo(f"ok: {report.count} records, chain intact, head {report.head}")


@app.command("tail")
def tail(
    n: int = typer.Option(10, "-n", min=1, help="How many of the newest records."),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Print the newest records as JSON (hashes only unless text storage was opted in)."""
    with _open(db, config) as store:
        echo_json(list(store.rows(limit=n, newest_first=True)))


@app.command("schema")
def schema(db: Path | None = DbOpt, config: Path | None = ConfigOpt) -> None:
    """Print the audit schema and the migrations applied (generated from the database itself)."""
    with _open(db, config) as store:
        rows = store.db.execute("SELECT name, applied_utc FROM _migrations ORDER BY rowid").fetchall()
        ddl = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'calls'").fetchone()[0]
        cols = [(r[1], r[2]) for r in store.db.execute("PRAGMA table_info(calls)")]
    typer.echo("migrations: " + ", ".join(f"{n} ({t})" for n, t in rows))
    typer.echo(ddl)
    typer.echo("columns now: " + ", ".join(f"{n} {t}" for n, t in cols))


