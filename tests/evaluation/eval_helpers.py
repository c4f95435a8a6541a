"""Helpers for the evaluation tests: small task and data files written by the tests themselves.

Not a conftest.py: tests/conftest.py is imported as `conftest` by other test folders, and a second
conftest module here would shadow it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("BEDSIDE_SHARED_DATA") or REPO.parent / "shared" / "data")
needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "qa").is_dir(), reason=f"shared data not found at {SHARED_DATA}"
)

MCQA_TASK = """\
name: tiny_mcqa
version: 2
description: A tiny MCQA task written by the tests.
dataset:
  loader: mcqa_jsonl
  path: tiny.jsonl
prompt:
  system: Answer with the letter.
  template: "Q: {question}\\n{options}\\nA:"
  shot: "Q: {question}\\n{options}\\nA: {answer}"
few_shot:
  k: 1
output:
  choices: options
  max_tokens: 8
parser: letter
metrics: [accuracy, macro_f1]
"""


def mcqa_line(idx: str, question: str, answer: str = "A", **extra) -> str:
    record = {"realidx": idx, "question": question,
              "options": {"A": "aspirin", "B": "insulin", "C": "warfarin", "D": "heparin"},
              "answer_idx": answer, "answer": "the answer text", **extra}
    return json.dumps(record)


def write_task_dir(tmp_path: Path) -> Path:
    """A user task folder holding tiny_mcqa.yaml."""
    folder = tmp_path / "tasks"
    folder.mkdir(exist_ok=True)
    (folder / "tiny_mcqa.yaml").write_text(MCQA_TASK, encoding="utf-8")
    return folder
