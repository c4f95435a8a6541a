"""The run folder: per-item log with resume lookup, and results.json with one entry per cell."""

from __future__ import annotations

import json
import logging

import pytest

from bedside.errors import InputError
from bedside.evaluation.results import RESULTS_FORMAT, CellKey, ItemLog, git_revision, read_results, write_cell

KEY = CellKey("tiny", 1, "smollm2", "zero-shot", 0, "constrained", "tiny.jsonl")
OTHER = CellKey("tiny", 1, "smollm2", "few-shot", 3, "constrained", "tiny.jsonl")


def test_item_log_finds_this_cells_items_and_survives_a_torn_line(tmp_path, caplog):
    log = ItemLog(tmp_path)
    log.append({"cell": KEY.as_dict(), "item_id": "a", "parsed": "A"})
    log.append({"cell": OTHER.as_dict(), "item_id": "a", "parsed": "B"})
    log.append({"cell": KEY.as_dict(), "item_id": "a", "parsed": "C"})  # a recomputed item: last wins
    log.close()
    with (tmp_path / "items.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"cell": {"task": "tiny", "item_id": "b"')  # killed mid-write
    log = ItemLog(tmp_path)
    log.append({"cell": KEY.as_dict(), "item_id": "c", "parsed": "D"})
    log.close()
    with caplog.at_level(logging.WARNING, logger="bedside.evaluation"):
        done = ItemLog(tmp_path).load(KEY)
    assert {k: v["parsed"] for k, v in done.items()} == {"a": "C", "c": "D"}
    assert "items.jsonl:4: unreadable result line skipped" in caplog.text
    assert ItemLog(tmp_path).load(OTHER)["a"]["parsed"] == "B"
    assert ItemLog(tmp_path / "new").load(KEY) == {}


def test_write_cell_replaces_its_own_cell_and_keeps_the_others(tmp_path):
    write_cell(tmp_path, {"key": KEY.as_dict(), "n": 3})
    write_cell(tmp_path, {"key": OTHER.as_dict(), "n": 5})
    write_cell(tmp_path, {"key": KEY.as_dict(), "n": 6})
    data = read_results(tmp_path)
    assert data["format"] == RESULTS_FORMAT
    assert sorted((c["key"]["strategy"], c["n"]) for c in data["cells"]) == [("few-shot", 5), ("zero-shot", 6)]
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "results.json").write_text(json.dumps({"cells": []}))
    with pytest.raises(InputError, match="is not a bedside results file"):
        write_cell(tmp_path, {"key": KEY.as_dict()})


def test_cell_label_and_git_revision():
    assert OTHER.label() == "tiny v1 · smollm2 · few-shot-3 · constrained · tiny.jsonl"
    rev, dirty = git_revision()
    assert rev is None or (len(rev) == 40 and isinstance(dirty, bool))
