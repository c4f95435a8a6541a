"""Requests to a model outside the machine are de-identified before they are sent (issue #5).

A recording HTTP server on 127.0.0.1 stands in for the remote large model: it answers in OpenAI
chat/completions/embeddings format and keeps every request body exactly as it arrived on the
socket. The Runtime, the OpenAI backend, the de-identifier and the audit store are the real ones.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bedside.audit import sha256_text
from bedside.catalog import ModelSpec
from bedside.config import Settings
from bedside.deid.guard import deidentify_messages, for_outbound
from bedside.errors import ConfigError, DeidentificationError
from bedside.runtime import Message, Runtime
from bedside.runtime.outbound import is_outside

# The de-identifier's vocabulary is derived from installed packages only; the deid tests build it in
# this same folder (tests/deid/deid_helpers.py), so it is built once per machine, not per test.
VOCAB_CACHE = Path(tempfile.gettempdir()) / "bedside-tests-deid-cache"

NOTE = ("Patient John Nicholson (MRN 4829173), DOB 03/14/1962, seen 7/22/2003 by Dr. Vasquez. "
        "Call his wife Mary at (617) 555-1234 about the discharge plan; his neighbour Mr. Tavlorian drives him.")
PHI = ("John Nicholson", "Nicholson", "4829173", "03/14/1962", "7/22/2003", "Vasquez", "Mary",
       "(617) 555-1234", "555-1234", "Tavlorian")
# A rare surname no name list holds: bare, it is caught only because "Mr. Tavlorian" is in the note.
BARE = "Did Tavlorian agree to drive him?"
MASKS = ("[NAME]", "[MRN]", "[DATE]", "[PHONE]")
SYSTEM = "You help Dr. Vasquez summarise notes."
ANSWER = "Discharge plan discussed with family."


class Recorder(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def bodies(self) -> list[dict]:
        return [json.loads(raw) for _, raw in self.requests]

    def wire(self) -> str:
        """Everything that reached the server, as bytes on the socket decoded once."""
        return "\n".join(raw.decode("utf-8") for _, raw in self.requests)


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self):  # noqa: N802 - the name http.server dispatches to
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests.append((self.path, raw))
        body = json.loads(raw)
        if self.path.endswith("/chat/completions"):
            answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                                   "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 40, "completion_tokens": 6}}
        elif self.path.endswith("/completions"):
            answer = {"choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 40, "completion_tokens": 6}}
        elif self.path.endswith("/embeddings"):
            answer = {"data": [{"index": i, "embedding": [float(len(t)), 1.0]} for i, t in enumerate(body["input"])]}
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    srv = Recorder()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def endpoint(name: str, base_url: str, **source) -> dict:
    return {"name": name, "backend": "openai", "format": "remote",
            "source": {"kind": "endpoint", "base_url": base_url, "server": "vllm", "timeout_s": 30, **source}}


@pytest.fixture
def settings(server, tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", cache_dir=VOCAB_CACHE, audit_db=tmp_path / "audit.sqlite3",
        models=[
            endpoint("big-remote", server.base_url, external=True),
            endpoint("big-remote-raw", server.base_url, external=True, deid=False),
            endpoint("local-server", server.base_url),
        ],
    )


def audit_rows(settings: Settings) -> list[dict]:
    db = sqlite3.connect(settings.audit_path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM calls ORDER BY id")]
    db.close()
    return rows


def assert_no_phi(text: str) -> None:
    leaked = [p for p in PHI if p in text]
    assert not leaked, f"PHI reached the server: {leaked}"


def test_external_endpoint_receives_only_masked_text(server, settings):
    with Runtime(settings, progress=False) as rt:
        chat = rt.generate(NOTE, model="big-remote", system=SYSTEM)
        raw = rt.generate(NOTE, model="big-remote", system=SYSTEM, raw=True)
        multi = rt.chat([Message("system", SYSTEM), Message("user", NOTE),
                         Message("assistant", "Which follow-up for Mr. Nicholson?"), Message("user", BARE)],
                        model="big-remote")
        rt.embed([NOTE, "Mary Nicholson"], model="big-remote")
    assert [p for p, _ in server.requests] == ["/v1/chat/completions", "/v1/completions", "/v1/chat/completions",
                                               "/v1/embeddings"]
    assert_no_phi(server.wire())
    first, completion, conversation, embedding = server.bodies()
    user = first["messages"][-1]["content"]
    for mask in MASKS:
        assert mask in user
    # The text around the PHI goes out unchanged, and the system message is de-identified too.
    assert user.startswith("Patient [NAME] (MRN [MRN]), DOB [DATE]") and "about the discharge plan;" in user
    assert first["messages"][0] == {"role": "system", "content": "You help Dr. [NAME] summarise notes."}
    assert all(m in completion["prompt"] for m in MASKS)
    assert [m["role"] for m in conversation["messages"]] == ["system", "user", "assistant", "user"]
    # The messages of one request are de-identified together: the bare surname in the last one is caught.
    assert conversation["messages"][-1]["content"] == "Did [NAME] agree to drive him?"
    assert all("[NAME]" in t for t in embedding["input"])
    assert chat.text == raw.text == multi.text == ANSWER  # the answer comes back untouched
    rows = audit_rows(settings)
    assert len(rows) == 4 and all(json.loads(r["params_json"])["deid"] == "mask" for r in rows)
    # The record describes the call as the caller made it (hash of the original), text not kept.
    assert rows[0]["prompt_sha256"] == sha256_text(f"{SYSTEM}\n\n{NOTE}")
    assert all(r["prompt_text"] is None and r["output_text"] is None for r in rows)


def test_opt_out_sends_text_as_given_and_is_audited(server, settings):
    with Runtime(settings, progress=False) as rt:
        rt.generate(NOTE, model="big-remote-raw")
    (body,) = server.bodies()
    assert body["messages"][-1]["content"] == NOTE
    assert json.loads(audit_rows(settings)[0]["params_json"])["deid"] == "off"


def test_loopback_endpoint_not_marked_external_is_untouched(server, settings):
    with Runtime(settings, progress=False) as rt:
        rt.generate(NOTE, model="local-server", system=SYSTEM)
    (body,) = server.bodies()
    assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": NOTE}]
    assert "deid" not in json.loads(audit_rows(settings)[0]["params_json"])


def test_audit_database_holds_no_phi_after_outbound_calls(server, settings):
    with Runtime(settings, progress=False) as rt:
        rt.generate(NOTE, model="big-remote", system=SYSTEM)
        rt.chat([Message("user", NOTE)], model="big-remote")
        with pytest.raises(DeidentificationError):  # a failed call is audited too
            rt.chat([Message("user", NOTE + " " + "x" * 20_000_001)], model="big-remote")
    rows = audit_rows(settings)
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert rows[2]["error"] == "DeidentificationError"
    # Every byte SQLite wrote (database, and WAL / journal files if any are left).
    files = sorted(settings.audit_path.parent.glob(settings.audit_path.name + "*"))
    stored = b"".join(f.read_bytes() for f in files)
    assert stored and b"deid" in stored
    leaked = [p for p in PHI if p.encode() in stored]
    assert not leaked, f"PHI in the audit database: {leaked}"


def test_failed_deidentification_sends_nothing(server, settings):
    with Runtime(settings, progress=False) as rt, pytest.raises(DeidentificationError) as err:
        # Over the de-identifier's size limit: it refuses, and the request must not go out.
        rt.chat([Message("user", "Mary " + "x" * 20_000_001)], model="big-remote")
    assert "nothing was sent" in err.value.message and "Mary" not in err.value.message
    assert server.requests == []


def test_surrogate_mode_uses_the_key_file_consistently(server, settings, tmp_path):
    key = tmp_path / "deid.key"
    key.write_text("outbound-test-key-0123456789abcdef\n")
    s = settings.model_copy(update={"outbound_deid_mode": "surrogate", "deid_key_file": key})
    with Runtime(s, progress=False) as rt:
        rt.generate(NOTE, model="big-remote")
        rt.generate(NOTE, model="big-remote")
    first, second = (b["messages"][-1]["content"] for b in server.bodies())
    assert_no_phi(server.wire())
    assert first == second and not any(m in first for m in MASKS)
    assert first.startswith("Patient ") and "about the discharge plan;" in first
    assert json.loads(audit_rows(s)[0]["params_json"])["deid"] == "surrogate"


def test_bad_key_file_fails_the_load_and_sends_nothing(server, settings, tmp_path):
    key = tmp_path / "short.key"
    key.write_text("short\n")
    s = settings.model_copy(update={"outbound_deid_mode": "surrogate", "deid_key_file": key})
    with Runtime(s, progress=False) as rt, pytest.raises(ConfigError, match="deid_key_file"):
        rt.generate(NOTE, model="big-remote")
    assert server.requests == []


@pytest.mark.parametrize(("base_url", "external", "outside"), [
    ("http://127.0.0.1:8000/v1", False, False),
    ("http://localhost:8000/v1", False, False),
    ("http://[::1]:8000/v1", False, False),
    ("http://127.0.0.1:8000/v1", True, True),
    ("http://10.1.2.3:8000/v1", False, True),
    ("https://api.example.org/v1", False, True),
    ("http://gpu-node-1.internal:8000/v1", False, True),
])
def test_what_counts_as_outside(base_url, external, outside):
    spec = ModelSpec.model_validate(endpoint("m", base_url, external=external))
    assert is_outside(spec) is outside


def test_external_applies_to_endpoints_only():
    with pytest.raises(ValueError, match="external"):
        ModelSpec.model_validate({"name": "m", "source": {"kind": "file", "path": "/x.gguf", "external": True}})
    assert not is_outside(ModelSpec.model_validate({"name": "m", "source": {"kind": "file", "path": "/x.gguf"}}))


def test_guard_functions_for_other_features(settings):
    # Training-data preparation hands over OpenAI-style dicts; other keys are kept as they are.
    rows = [{"role": "user", "content": NOTE, "weight": 1}, {"role": "assistant", "content": BARE}]
    out = deidentify_messages(rows, settings)
    assert out[0]["weight"] == 1 and out[1] == {"role": "assistant", "content": "Did [NAME] agree to drive him?"}
    assert_no_phi(json.dumps(out))
    assert rows[0]["content"] == NOTE  # the input is not modified in place
    (msg,) = deidentify_messages([Message("user", NOTE)], settings)
    assert isinstance(msg, Message) and msg.content == out[0]["content"]
    assert for_outbound(NOTE, settings) == out[0]["content"]
    assert for_outbound("  \n", settings) == "  \n"
    # Alone, without the note's evidence, the rare surname is not recognised: callers that split a
    # document should de-identify its parts together (deidentify_messages / Guard.texts).
    assert for_outbound(BARE, settings) == BARE
