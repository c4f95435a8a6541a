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
    except Exception as exc:  # a bug or a library failure: see internal_error
        return internal_error(exc)
    return 0


TRACEBACK_ENV = "BEDSIDE_TRACEBACK"


def internal_error(exc: BaseException) -> int:
    """One line for an unexpected exception, without its message; exit code 1.

    A library's exception message can quote its input (a tokenizer's "cannot encode '...'", a
    parser's offending value), and that input is patient text: printing it puts PHI in terminals,
    CI logs and log collectors. The line names the exception type and where it was raised so a bug
    report is still useful; ``$BEDSIDE_TRACEBACK=1`` prints the full traceback for a developer on a
    machine where that is acceptable.
    """
    if os.environ.get(TRACEBACK_ENV, "").strip() in ("1", "true", "yes"):
        import traceback

        traceback.print_exception(exc)
        return 1
    where = ""
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame: where it was raised
        frame, tb = tb, tb.tb_next
    if exc.__traceback__ is not None:
        code = frame.tb_frame.f_code
        where = f" in {code.co_name} ({Path(code.co_filename).name}:{frame.tb_lineno})"
    typer.echo(
        f"bedside: internal error: {type(exc).__name__}{where}; the message is not shown because it may "
        f"quote input text (set {TRACEBACK_ENV}=1 to print the traceback)", err=True,
    )
    return 1
