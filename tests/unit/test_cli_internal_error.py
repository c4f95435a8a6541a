"""An unexpected exception in a command: one line without its message (it may quote patient text)."""

from __future__ import annotations

import typer

from bedside.cli.common import TRACEBACK_ENV, run_guarded
from bedside.errors import InputError

NOTE = "Pt John Q. Smith, MRN 4471123"


def _app(exc: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    return app


def test_unexpected_exception_hides_message(capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    monkeypatch.setattr("sys.argv", ["bedside"])
    rc = run_guarded(_app(ValueError(f"cannot tokenize {NOTE!r}")))
    err = capsys.readouterr().err
    assert rc == 1
    assert "internal error: ValueError in boom (test_cli_internal_error.py:" in err
    assert "Smith" not in err and "4471123" not in err
    assert TRACEBACK_ENV in err  # says how to get the details
    assert len(err.strip().splitlines()) == 1


def test_traceback_on_request(capsys, monkeypatch):
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    monkeypatch.setattr("sys.argv", ["bedside"])
    rc = run_guarded(_app(ValueError(f"cannot tokenize {NOTE!r}")))
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" in err and "Smith" in err


def test_bedside_errors_keep_their_message_and_code(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["bedside"])
    rc = run_guarded(_app(InputError("note.txt: empty file")))
    assert rc == 2
    assert capsys.readouterr().err.strip() == "bedside: error: note.txt: empty file"
