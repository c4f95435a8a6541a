"""``bedside config``: show the effective settings and where they came from."""

from __future__ import annotations

from pathlib import Path

import typer

from bedside.cli.common import ConfigOpt, echo_json, settings_from
from bedside.config import Settings, default_config_file

app = typer.Typer(help="Show configuration.", no_args_is_help=True)


@app.command("show")
def show(config: Path | None = ConfigOpt) -> None:
    """Print the effective settings (defaults < config file < BEDSIDE_* env < flags) as JSON."""
    settings = settings_from(config)
    data = settings.model_dump(mode="json")
    data["config_file"] = str(settings.config_file) if settings.config_file else None
    data["audit_path"] = str(settings.audit_path)
    echo_json(data)


@app.command("fields")
def fields() -> None:
    """List every setting with its environment variable, default and meaning."""
    for name, info in Settings.model_fields.items():
        if name == "config_file":
            continue
        default = info.default if info.default_factory is None else "(computed)"
        typer.echo(f"{name}  BEDSIDE_{name.upper()}  default={default!r}\n    {info.description}")
    typer.echo(f"\nDefault config file: {default_config_file()}")
