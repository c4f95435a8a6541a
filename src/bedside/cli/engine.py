"""``bedside engine``: run a catalog model as an OpenAI-compatible HTTP server (llama.cpp's own).

Requests served this way go straight to llama.cpp and are not written to bedside's audit trail;
clients that call the server through bedside (``backend = "openai"``) audit on their side.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from pathlib import Path

import typer

from bedside.catalog import Catalog, Resolver
from bedside.cli.common import ConfigOpt, settings_from
from bedside.errors import ConfigError, InputError
from bedside.runtime.llamacpp import LlamaCppBackend
from bedside.runtime.openai_http import is_loopback

app = typer.Typer(help="Serve catalog models over HTTP.", no_args_is_help=True)


@app.command("serve")
def serve(
    model: str | None = typer.Option(None, "--model", "-m", help="Catalog name, alias, or path to a .gguf."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to bind (0: any free port)."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the API key clients must send. "
        "Default: a random key, printed once to standard error.",
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """Serve a llama.cpp catalog model at an OpenAI-compatible /v1 URL until Ctrl-C."""
    settings = settings_from(config)
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            raise ConfigError(f"environment variable {api_key_env} (from --api-key-env) is not set or empty")
    else:
        api_key = secrets.token_urlsafe(24)
    spec = Catalog.load(settings.models).get(model or settings.default_model)
    if spec.backend != "llamacpp" or spec.source.kind == "endpoint":
        raise InputError(
            f"model '{spec.name}' uses the {spec.backend} backend; engine serve runs llama.cpp GGUF models"
        )
    _check_port_free(host, port)
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
    path = resolver.resolve(spec)
    sha = resolver.verify(spec, path)
    backend = LlamaCppBackend(spec, path, settings, host=host, port=port, api_key=api_key)
    backend.warm_up()
    # Stop cleanly on Ctrl-C and on SIGTERM (systemd, containers). Set explicitly: a process started
    # in the background by a non-interactive shell inherits SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        if api_key_env is None:
            typer.echo(f"API key (shown once): {api_key}", err=True)
        if not is_loopback(host):
            typer.echo(f"bedside: warning: listening on {host}, reachable from other machines", err=True)
        typer.echo(f"model {spec.name} sha256 {sha}", err=True)
        typer.echo(backend.http_base_url)
        typer.echo("Ctrl-C to stop.", err=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("bedside: stopped", err=True)
    finally:
        backend.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _check_port_free(host: str, port: int) -> None:
    # llama.cpp reports a busy port only as "Failed to init server"; say what is wrong instead.
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot bind --host {host}: {exc.strerror}") from exc
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from exc

