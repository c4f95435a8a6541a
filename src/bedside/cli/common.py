"""What every command shares: settings from flags, one-line errors, JSON output."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from bedside.config import Settings, load_settings
from bedside.errors import BedsideError, ConfigError

ConfigOpt = typer.Option(None, "--config", help="Config file (TOML). Default: $BEDSIDE_CONFIG or the user config dir.")
DbOpt = typer.Option(
    None, "--db", help="Audit database (SQLite). Default: $BEDSIDE_AUDIT_DB or <data dir>/audit.sqlite3."
)


def settings_from(config: Path | None = None, **flags: Any) -> Settings:
    if "audit_db" in flags and flags["audit_db"] is not None:
        flags["audit_db"] = Path(flags["audit_db"])
    return load_settings(config, **flags)


LOG_LEVEL_ENV = "BEDSIDE_LOG_LEVEL"


def log_to_stderr(name: str) -> None:
    """Send a bedside module's progress messages to stderr as `bedside: ...` (never note text).

    With ``$BEDSIDE_LOG_LEVEL`` set (DEBUG, INFO, WARNING, ERROR), every bedside module logs at that
    level instead, for troubleshooting; bedside's messages carry no note text at any level.
    """
    level = logging.INFO
    wanted = os.environ.get(LOG_LEVEL_ENV, "").strip().upper()
    if wanted:
        level = logging.getLevelNamesMapping().get(wanted, -1)
        if level < 0:
            raise ConfigError(f"{LOG_LEVEL_ENV}={wanted!r}: use DEBUG, INFO, WARNING or ERROR")
        name = "bedside"
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("bedside: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"bedside: error: {message}", err=True)
    raise typer.Exit(code)


def run_guarded(app: typer.Typer) -> int:
    """Run the CLI; turn bedside errors into one line on stderr and their exit code.

    Standalone mode lets typer handle usage errors, --help and exit codes itself (it raises
    SystemExit); only bedside's own errors and interrupts are translated here.
    """
    try:
        app()
    except BedsideError as exc:
        typer.echo(f"bedside: error: {exc.message}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("bedside: interrupted", err=True)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return 0
