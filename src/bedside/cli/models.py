"""``bedside models``: the catalog, its files and their hashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bedside.catalog import Catalog, ModelSpec, Resolver
from bedside.cli.common import ConfigOpt, echo_json, settings_from

app = typer.Typer(help="List, verify and fetch models.", no_args_is_help=True)


def _row(spec: ModelSpec, resolver: Resolver) -> dict[str, Any]:
    path = resolver.locate(spec)
    if path is None and spec.source.kind == "parts":
        path_str = str(resolver.assembled_path(spec))  # where it will be assembled on first use
    elif spec.source.kind == "endpoint":
        path_str = spec.source.base_url
    else:
        path_str = str(path) if path else None
    sha = spec.sha256 or resolver.lock.get(spec.name)
    size = spec.size_bytes
    if size is None and path is not None:
        weights = resolver.weights_file(spec, path) if path.is_dir() else path
        size = weights.stat().st_size if weights.exists() else None
    return {
        "name": spec.name,
        "aliases": spec.aliases,
        "role": spec.role,
        "backend": spec.backend,
        "format": spec.format,
        "parameters": spec.parameters,
        "source": spec.source.kind,
        "path": path_str,
        "sha256": sha,
        "size_bytes": size,
        "license": spec.license,
        "provenance": spec.provenance,
        "available": resolver.available(spec),
        "install": spec.install,
        "description": spec.description,
    }


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    config: Path | None = ConfigOpt,
) -> None:
    """List catalog models with role, source, file, sha256, license and availability."""
    settings = settings_from(config)
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
    rows = [_row(s, resolver) for s in Catalog.load(settings.models)]
    if as_json:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        mark = "yes" if r["available"] else "no "
        typer.echo(f"{r['name']:<{width}}  {r['role']:<8}  {r['source']:<8}  available={mark}  {r['description']}")


@app.command("verify")
def verify(
    names: list[str] = typer.Argument(None, help="Models to check (default: every available one)."),
    config: Path | None = ConfigOpt,
) -> None:
    """Hash each model file and compare it with its pinned sha256 (assembles chunked models)."""
    settings = settings_from(config)
    catalog = Catalog.load(settings.models)
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=False)
    resolver.hashes.entries.clear()  # a verify always re-reads the bytes
    specs = [catalog.get(n) for n in names] if names else [
        s for s in catalog if s.source.kind != "endpoint" and resolver.available(s)
    ]
    for spec in specs:
        path = resolver.resolve(spec)
        typer.echo(f"ok  {spec.name}  {resolver.verify(spec, path, progress=False)}  {path}")


@app.command("pull")
def pull(
    name: str = typer.Argument(..., help="Model to fetch: assemble bundled chunks or download from the hub."),
    config: Path | None = ConfigOpt,
) -> None:
    """Make a model's file available locally (downloads only with allow_network)."""
    settings = settings_from(config)
    spec = Catalog.load(settings.models).get(name)
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
    path = resolver.resolve(spec)
    typer.echo(f"{spec.name}: {path}")


@app.command("path")
def path(name: str = typer.Argument(...), config: Path | None = ConfigOpt) -> None:
    """Print the verified local path of a model's file (assembling it if needed)."""
    settings = settings_from(config)
    spec = Catalog.load(settings.models).get(name)
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=False)
    typer.echo(str(resolver.resolve(spec, progress=False)))
