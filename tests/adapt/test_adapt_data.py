"""Training records and their tokens: JSONL parsing, errors naming file:line, loss only on answers."""

from __future__ import annotations

import hashlib
import re

import pytest
from adapt_helpers import DATA, tokenizer, write_jsonl

from bedside.adapt.features import IGNORE, prepare
from bedside.adapt.records import read_jsonl
from bedside.errors import InputError

pytest.importorskip("transformers", reason="tokenizing training data needs the 'train' extra")


def targets(tok, example) -> list[str]:
    return tok.convert_ids_to_tokens([t for t in example.labels if t != IGNORE])


def context(tok, example) -> list[str]:
    return tok.convert_ids_to_tokens([i for i, t in zip(example.input_ids, example.labels, strict=True)
                                      if t == IGNORE])


# -- records ---------------------------------------------------------------------------------------
def test_both_record_shapes_and_the_data_hash():
    path = DATA / "train.jsonl"
    got = read_jsonl(path)
    assert len(got.records) == 10
    assert got.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    chat, pair = got.records[0], got.records[1]
    assert [m.role for m in chat.messages] == ["user", "assistant"]
    assert [m.role for m in pair.messages] == ["user", "assistant"]  # prompt/completion became a chat
    assert pair.messages[1].content == "Clinic: cardiology"
    assert chat.source == f"{path}:1" and pair.source == f"{path}:2"


def test_prompt_completion_with_system(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"system": "You are a triage nurse.", "prompt": "p", "completion": "c"}])
    assert [(m.role, m.content) for m in read_jsonl(path).records[0].messages] == [
        ("system", "You are a triage nurse."), ("user", "p"), ("assistant", "c")]


@pytest.mark.parametrize(("line", "message"), [
    ('{"prompt": "a", "completion": ', r"d\.jsonl:3: not valid JSON"),
    ('["a", "b"]', r"d\.jsonl:3: a record must be a JSON object"),
    ('{"prompt": "a"}', r"d\.jsonl:3: 'completion' must be a non-empty string"),
    ('{"text": "a"}', r"d\.jsonl:3: expected"),
    ('{"messages": [{"role": "user", "content": "a"}]}', r"d\.jsonl:3: no assistant message"),
    ('{"messages": [{"role": "doctor", "content": "a"}]}', r"d\.jsonl:3: messages\[0\]: role must be"),
    ('{"messages": [{"role": "user", "content": 3}]}', r"d\.jsonl:3: messages\[0\]: 'content' must be"),
])
def test_a_malformed_line_is_skipped_and_named_or_with_strict_an_error(tmp_path, line, message):
    good = {"prompt": "Which clinic?", "completion": "Clinic: cardiology"}
    path = write_jsonl(tmp_path / "d.jsonl", [good, "", line, good])  # line 2 is blank: skipped, still counted
    got = read_jsonl(path)
    assert [r.source for r in got.records] == [f"{path}:1", f"{path}:4"]
    assert len(got.skipped) == 1 and re.match(message, got.skipped[0].split("/")[-1])
    with pytest.raises(InputError, match=message):
        read_jsonl(path, strict=True)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="training data not found"):
        read_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InputError, match="has no records"):
        read_jsonl(tmp_path / "empty.jsonl")


# -- tokens and labels -----------------------------------------------------------------------------
def test_chat_loss_only_on_the_assistant_turn_and_its_end_marker():
    tok = tokenizer()
    records = read_jsonl(DATA / "train.jsonl").records
    prepared = prepare(tok, records[:1], max_len=64)
    assert prepared.template == "chat"
    ex = prepared.examples[0]
    assert targets(tok, ex) == ["Clinic", ":", "cardiology", "<|im_end|>"]
    # The prompt, the turn markers and the assistant header are context; all tokens are kept.
    assert context(tok, ex)[:4] == ["<|im_start|>", "user", "Which", "clinic"]
    assert context(tok, ex)[-2:] == ["<|im_start|>", "assistant"]
    assert len(ex.input_ids) == len(ex.labels) == len(targets(tok, ex)) + len(context(tok, ex))


def test_every_assistant_turn_of_a_conversation_is_learned(tmp_path):
    tok = tokenizer()
    path = write_jsonl(tmp_path / "d.jsonl", [{"messages": [
        {"role": "system", "content": "You are a triage nurse ."},
        {"role": "user", "content": "Which clinic ? chest pain"},
        {"role": "assistant", "content": "Clinic : cardiology"},
        {"role": "user", "content": "Which clinic ? rash"},
        {"role": "assistant", "content": "Clinic : dermatology"},
    ]}])
    ex = prepare(tok, read_jsonl(path).records).examples[0]
    assert targets(tok, ex) == ["Clinic", ":", "cardiology", "<|im_end|>", "Clinic", ":", "dermatology", "<|im_end|>"]
    assert "triage" in context(tok, ex) and "rash" in context(tok, ex)


def test_raw_template_learns_the_completion_and_eos(tmp_path):
    tok = tokenizer(chat=False)
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "Which clinic ? burning", "completion": " Clinic : urology"}])
    prepared = prepare(tok, read_jsonl(path).records, template="auto")
    assert prepared.template == "raw"
    ex = prepared.examples[0]
    assert targets(tok, ex) == ["Clinic", ":", "urology", "<|im_end|>"]
    assert context(tok, ex) == ["Which", "clinic", "?", "burning"]


def test_chat_template_requested_but_missing():
    with pytest.raises(InputError, match="no chat template"):
        prepare(tokenizer(chat=False), read_jsonl(DATA / "train.jsonl").records, template="chat")


def test_raw_needs_one_prompt_and_one_answer(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}])
    with pytest.raises(InputError, match=r"d\.jsonl:1: without a chat template"):
        prepare(tokenizer(), read_jsonl(path).records, template="raw")


def test_records_longer_than_max_len_are_left_out_and_counted(tmp_path):
    tok = tokenizer()
    long = {"prompt": "Which clinic ? " + "chest pain " * 40, "completion": "Clinic : cardiology"}
    short = {"prompt": "Which clinic ? rash", "completion": "Clinic : dermatology"}
    path = write_jsonl(tmp_path / "d.jsonl", [long, short])
    prepared = prepare(tok, read_jsonl(path).records, max_len=32)
    assert len(prepared.examples) == 1 and prepared.too_long == [f"{path}:1"]
    assert prepared.summary()["left_out_too_long"] == 1
    with pytest.raises(InputError, match="longer than 8 tokens; raise --max-len"):
        prepare(tok, read_jsonl(path).records, max_len=8)


# -- records from an evaluation task -----------------------------------------------------------------
def test_task_records_use_the_harness_prompt_and_the_gold(tmp_path):
    from bedside.adapt.records import task_records
    from bedside.config import load_settings

    csv = tmp_path / "split.csv"
    csv.write_text('index,label,text\n0,Psoriasis,"A rash on my elbows, it itches"\n'
                   "1,Migraine,Throbbing headache and light hurts\n", encoding="utf-8")
    got = task_records("symptom2disease", csv, load_settings(data_dir=tmp_path / "data"))
    assert got.sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()
    first = got.records[0]
    assert [m.role for m in first.messages] == ["system", "user", "assistant"]
    assert "triage assistant" in first.messages[0].content
    assert first.messages[1].content.endswith("Patient: A rash on my elbows, it itches\nCondition:")
    assert [r.messages[-1].content for r in got.records] == ["Psoriasis", "Migraine"]
    assert first.source == f"{csv}:2"


def test_task_records_skip_a_malformed_row_and_refuse_an_unknown_task(tmp_path):
    from bedside.adapt.records import task_records
    from bedside.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    csv = tmp_path / "split.csv"
    csv.write_text("index,label,text\n0,Psoriasis,\n1,Migraine,My head hurts\n", encoding="utf-8")  # row 2: no text
    got = task_records("symptom2disease", csv, settings)
    assert len(got.records) == 1 and len(got.skipped) == 1 and f"{csv}:2" in got.skipped[0]
    with pytest.raises(InputError, match=r"split\.csv:2"):
        task_records("symptom2disease", csv, settings, strict=True)
    csv.write_text("index,label,text\n0,Psoriasis,\n", encoding="utf-8")  # nothing valid left
    with pytest.raises(InputError, match=r"has no records: 1 malformed line\(s\), first .*split\.csv:2"):
        task_records("symptom2disease", csv, settings)
    with pytest.raises(InputError, match="unknown task"):
        task_records("no-such-task", csv, settings)


def test_training_records_are_deidentified_first(tmp_path):
    """Training text passes through the de-identifier (mask mode by default) before tokenization."""
    import json

    from bedside.adapt.records import read_jsonl
    from bedside.adapt.run import deidentified
    from bedside.config import Settings

    path = tmp_path / "train.jsonl"
    note = "Mr. John Tavlorian (MRN 4455667) seen 03/14/2024, call (617) 555-1234. Which clinic?"
    path.write_text(json.dumps({"prompt": note, "completion": "Clinic: cardiology"}) + "\n")
    records = read_jsonl(path, "training data")
    clean = deidentified(records, Settings(cache_dir=tmp_path / "cache"))
    text = " ".join(m.content for m in clean.records[0].messages)
    for phi in ("Tavlorian", "4455667", "03/14/2024", "555-1234"):
        assert phi not in text
    assert "Clinic: cardiology" in text and clean.sha256 == records.sha256
