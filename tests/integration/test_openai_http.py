"""The OpenAI-compatible client against a real server: llama.cpp's HTTP listener on SmolLM2-135M.

LlamaCppBackend opens that listener (random loopback port, random API key); the OpenAIBackend
under test talks to it over real HTTP exactly as it would to a llama.cpp server elsewhere.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest
from backend_conformance import BackendConformance

from bedside.catalog import Catalog, ModelSpec, Resolver
from bedside.config import Settings
from bedside.errors import BackendError, ContextWindowError, InputError
from bedside.runtime import Constraint, GenerationParams, Message, Runtime
from bedside.runtime.llamacpp import LlamaCppBackend
from bedside.runtime.openai_http import OpenAIBackend

pytestmark = pytest.mark.integration

KEY_ENV = "BEDSIDE_TEST_ENDPOINT_KEY"
ASK = [Message("user", "Name one symptom of influenza.")]
VITALS = {
    "type": "object",
    "properties": {"heart_rate": {"type": "integer"}, "fever": {"type": "boolean"}},
    "required": ["heart_rate", "fever"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    # One thread: on a small shared CI box llama.cpp's spinning worker threads slow down many-fold.
    settings = Settings(data_dir=root / "data", cache_dir=root / "cache", n_ctx=1024, threads=1)
    spec = Catalog.load().get("smollm2")
    path = Resolver(settings.cache_dir, settings.data_dir, allow_network=False).resolve(spec, progress=False)
    backend = LlamaCppBackend(spec, path, settings)
    backend.warm_up()
    yield backend
    backend.close()


@pytest.fixture
def remote(engine, monkeypatch, tmp_path):
    """Build an OpenAIBackend pointed at the engine (the right key in KEY_ENV unless told otherwise)."""
    monkeypatch.setenv(KEY_ENV, engine.http_api_key)
    settings = Settings(data_dir=tmp_path, cache_dir=tmp_path)
    made = []

    def make(**source):
        source = {"base_url": engine.http_base_url, "server": "llamacpp", "api_key_env": KEY_ENV, **source}
        spec = ModelSpec(name="remote-smol", backend="openai", format="remote",
                         source={"kind": "endpoint", **source})
        made.append(OpenAIBackend(spec, None, settings))
        return made[-1]

    yield make
    for b in made:
        b.close()


def test_free_chat(remote, monkeypatch):
    # Network policy: a proxy in the environment is not used (this one would refuse every connection).
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    gen = remote().chat(ASK, GenerationParams(max_tokens=12))
    assert gen.text.strip()
    assert gen.finish_reason in ("stop", "length")
    assert gen.prompt_tokens and gen.completion_tokens


def test_json_schema_output_validates(remote):
    gen = remote().chat(
        [Message("user", "Heart rate 112, temperature 39.2 C. Report heart_rate and fever as JSON.")],
        GenerationParams(max_tokens=96), Constraint(schema=VITALS),
    )
    jsonschema.validate(json.loads(gen.text), VITALS)


def test_choices_returns_one_of_them(remote):
    choices = ("yes", "no", "unclear")
    gen = remote().chat([Message("user", "Is a temperature of 39.2 C a fever?")],
                        GenerationParams(max_tokens=8), Constraint(choices=choices))
    assert json.loads(gen.text) in choices


def test_constrained_raw_completion(remote):
    gen = remote().complete("Patient vitals as JSON:", GenerationParams(max_tokens=96),
                            Constraint(schema=VITALS))
    jsonschema.validate(json.loads(gen.text), VITALS)


def test_logprobs_present(remote):
    gen = remote().chat(ASK, GenerationParams(max_tokens=6, logprobs=2))
    assert gen.logprobs and len(gen.logprobs) == gen.completion_tokens
    assert all(lp.logprob <= 0.0 and 1 <= len(lp.top) <= 2 for lp in gen.logprobs)
    raw = remote().complete("The patient has a", GenerationParams(max_tokens=4, logprobs=2))
    assert raw.logprobs and raw.logprobs[0].top


def test_wrong_or_missing_api_key(remote, monkeypatch):
    monkeypatch.setenv("BEDSIDE_TEST_WRONG_KEY", "not-the-key")
    with pytest.raises(BackendError, match="401.*BEDSIDE_TEST_WRONG_KEY"):
        remote(api_key_env="BEDSIDE_TEST_WRONG_KEY").chat(ASK, GenerationParams(max_tokens=4))
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(BackendError, match=f"set the environment variable {KEY_ENV}"):
        remote().chat(ASK, GenerationParams(max_tokens=4))
    with pytest.raises(BackendError, match="api_key_env"):
        remote(api_key_env=None).chat(ASK, GenerationParams(max_tokens=4))


def test_unreachable_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    spec = ModelSpec(name="gone", backend="openai", format="remote",
                     source={"kind": "endpoint", "base_url": url})
    backend = OpenAIBackend(spec, None, Settings())
    with pytest.raises(BackendError, match=f"cannot reach {url}"):
        backend.chat(ASK, GenerationParams(max_tokens=4))


def test_silent_server_times_out(remote):
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        with pytest.raises(BackendError, match=f"{url} did not answer within 0.5s"):
            remote(base_url=url, timeout_s=0.5).chat(ASK, GenerationParams(max_tokens=4))


def test_redirects_are_not_followed(remote):
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with pytest.raises(BackendError, match="redirects to http://127.0.0.1:9/.*not followed"):
            remote(base_url=url).chat(ASK, GenerationParams(max_tokens=4))
    finally:
        server.shutdown()
        server.server_close()


def test_prompt_over_context_window(remote):
    with pytest.raises(ContextWindowError, match="context"):
        remote().chat([Message("user", "fever " * 1500)], GenerationParams(max_tokens=4))


def test_embeddings_refused_clearly(remote):
    with pytest.raises(BackendError, match="refused embeddings.*501"):
        remote().embed(["cough"])


def test_runtime_call_is_audited_without_text(engine, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, engine.http_api_key)
    entry = {
        "name": "remote-smol", "backend": "openai", "format": "remote",
        "source": {"kind": "endpoint", "base_url": engine.http_base_url, "server": "llamacpp",
                   "served_model": "smollm2", "api_key_env": KEY_ENV},
    }
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                        audit_db=tmp_path / "audit.sqlite3", models=[entry])
    prompt = "Mrs Quillfeather-Zed, 71, reports chest pain. Is this urgent?"
    with Runtime(settings, progress=False) as rt:
        result = rt.generate(prompt, model="remote-smol", choices=["urgent", "routine"],
                             params=GenerationParams(max_tokens=8))
        assert result.value in ("urgent", "routine")
        rows = list(rt.audit.rows())
    assert len(rows) == 1
    row = rows[0]
    assert row["backend"] == "openai" and row["model_name"] == "remote-smol" and row["status"] == "ok"
    assert row["prompt_text"] is None and row["output_text"] is None
    assert not any("Quillfeather" in str(v) for v in row.values())


def test_engine_serve_cli(tmp_path, monkeypatch):
    """`bedside engine serve` in a real process: URL on stdout, key once on stderr, Ctrl-C stops it."""
    code = (
        "import sys, typer; from bedside.cli import engine; from bedside.cli.common import run_guarded\n"
        "root = typer.Typer(); root.add_typer(engine.app, name='engine'); root.callback()(lambda: None)\n"
        "sys.exit(run_guarded(root))"
    )
    env = {**os.environ, "BEDSIDE_DATA_DIR": str(tmp_path / "data"),
           "BEDSIDE_CACHE_DIR": str(tmp_path / "cache"), "BEDSIDE_THREADS": "1", "BEDSIDE_N_CTX": "512"}
    env.pop("BEDSIDE_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "engine", "serve", "--model", "smollm2", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    out, err = _lines(proc.stdout), _lines(proc.stderr)
    try:
        base_url = out.get(timeout=60).strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        key_line = next(line for line in iter(lambda: err.get(timeout=10), None) if "API key" in line)
        key = key_line.split(":", 1)[1].strip()
        spec = ModelSpec(name="served", backend="openai", format="remote",
                         source={"kind": "endpoint", "base_url": base_url, "server": "llamacpp",
                                 "api_key_env": "BEDSIDE_TEST_SERVE_KEY"})
        monkeypatch.setenv("BEDSIDE_TEST_SERVE_KEY", key)
        client = OpenAIBackend(spec, None, Settings(data_dir=tmp_path, cache_dir=tmp_path))
        assert client.chat(ASK, GenerationParams(max_tokens=8)).text.strip()
        client.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.1)  # let the reader threads drain
    rest = "".join(_drain(err))
    assert "stopped" in rest and key not in rest  # the key is shown once, not again on exit


def test_engine_serve_refuses_busy_port():
    from typer.testing import CliRunner

    from bedside.cli.engine import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = CliRunner().invoke(app, ["--model", "smollm2", "--port", str(s.getsockname()[1])])
    assert isinstance(result.exception, InputError) and "pick another --port" in str(result.exception)


def _lines(pipe) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in pipe:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _drain(q: queue.Queue) -> list[str]:
    lines = []
    while True:
        try:
            line = q.get(timeout=5)
        except queue.Empty:
            return lines
        if line is None:
            return lines
        lines.append(line)


class TestOpenAIConformance(BackendConformance):
    """The same backend contract as the in-process engine, over HTTP."""

    serves_embeddings = False  # the chat engine under test was not started with --embeddings

    @pytest.fixture
    def backend(self, remote):
        return remote()
