"""Task files: every bundled one parses, bad ones fail with the file and field named, and a new
task is a new file (no code change)."""

from __future__ import annotations

import pytest
from eval_helpers import MCQA_TASK, write_task_dir

from bedside.errors import ConfigError, InputError
from bedside.evaluation.registry import TaskRegistry, bundled_tasks, user_task_dirs
from bedside.evaluation.spec import load_task_file, load_task_text


@pytest.fixture
def task_dir(tmp_path):
    return write_task_dir(tmp_path)


def test_bundled_tasks_parse_with_versions_and_metrics():
    specs = {s.name: s for s in bundled_tasks()}
    assert {"medmcqa", "mmlu_medical", "pubmedqa", "symptom2disease"} <= set(specs)
    for spec in specs.values():
        assert spec.version >= 1 and spec.metrics and spec.sha256 and spec.source.startswith("bundled:")
    assert specs["pubmedqa"].output.choices == ["yes", "no", "maybe"]
    assert specs["pubmedqa"].metrics == ["accuracy", "macro_f1"]
    assert len(specs["symptom2disease"].output.choices) == 24
    assert specs["medmcqa"].output.choices == "options"


def test_spec_fields_round_trip():
    spec = load_task_text(MCQA_TASK, "test.yaml")
    assert spec.name == "tiny_mcqa" and spec.version == 2
    assert spec.dataset.loader == "mcqa_jsonl" and spec.dataset.path == "tiny.jsonl"
    assert spec.few_shot.k == 1 and spec.few_shot.selection == "fixed"
    assert spec.output.kind == "choices" and spec.parser == "letter"
    assert spec.prompt.shot_template.endswith("A: {answer}")
    meta = spec.metadata
    assert meta["metrics"] == ["accuracy", "macro_f1"] and meta["version"] == 2


def test_schema_output_is_accepted():
    text = MCQA_TASK.replace("  choices: options\n", "  schema: {type: object, properties: {codes: {type: array}}}\n")
    spec = load_task_text(text, "schema.yaml")
    assert spec.output.kind == "json_schema" and spec.output.schema_["type"] == "object"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("metrics: [accuracy, macro_f1]", "metrics: [accuracy, bleu]", "metrics: unknown metric 'bleu'"),
    ("loader: mcqa_jsonl", "loader: parquet", "unknown loader 'parquet'"),
    ("parser: letter", "parser: magic", "unknown parser 'magic'"),
    ('template: "Q: {question}', 'template: "Q: {answer} {question}', "template must not use {answer}"),
    ('template: "Q: {question}', 'template: "Q: {question.__class__}', "must be a plain field name"),
    ('template: "Q: {question}', 'template: "Q: {question', "unbalanced braces"),
    ("version: 2", "version: 0", "version"),
    ("name: tiny_mcqa", "name: Tiny MCQA", "name"),
    ("  max_tokens: 8", "  max_tokens: 8\n  schema: {type: object}", "exactly one of choices or schema"),
    ("few_shot:\n  k: 1", "few_shot:\n  k: 1\n  split: train", "few_shot.split 'train' is not in splits"),
    ("parser: letter", "parser: letter\nmetric: [accuracy]", "metric: Extra inputs are not permitted"),
])
def test_invalid_task_names_file_and_field(old, new, message):
    assert old in MCQA_TASK
    with pytest.raises(ConfigError) as exc:
        load_task_text(MCQA_TASK.replace(old, new), "bad.yaml")
    assert "task file bad.yaml" in str(exc.value) and message in str(exc.value)


def test_bare_yes_no_in_yaml_are_booleans_and_rejected():
    text = MCQA_TASK.replace("  choices: options", "  choices: [yes, no, maybe]")
    with pytest.raises(ConfigError, match="output.choices"):
        load_task_text(text, "bools.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nversion: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.yaml is not valid YAML at line \d"):
        load_task_file(path)
    with pytest.raises(ConfigError, match="task file not found"):
        load_task_file(tmp_path / "absent.yaml")


def test_a_new_task_is_a_new_file(task_dir, monkeypatch):
    monkeypatch.delenv("BEDSIDE_TASKS_DIR", raising=False)
    registry = TaskRegistry.discover(user_task_dirs([task_dir]))
    assert registry.get("tiny_mcqa").source == str(task_dir / "tiny_mcqa.yaml")
    assert registry.get("medmcqa").source == "bundled:medmcqa.yaml"
    # Also found through the environment variable, and by path.
    monkeypatch.setenv("BEDSIDE_TASKS_DIR", str(task_dir))
    assert "tiny_mcqa" in TaskRegistry.discover(user_task_dirs()).specs
    assert TaskRegistry.discover().get(str(task_dir / "tiny_mcqa.yaml")).name == "tiny_mcqa"


def test_user_task_replaces_bundled_one_but_duplicates_in_a_folder_fail(task_dir):
    (task_dir / "mine.yaml").write_text(MCQA_TASK.replace("name: tiny_mcqa", "name: medmcqa"), encoding="utf-8")
    registry = TaskRegistry.discover([task_dir])
    assert registry.get("medmcqa").version == 2 and registry.get("medmcqa").source.endswith("mine.yaml")
    (task_dir / "again.yml").write_text(MCQA_TASK, encoding="utf-8")
    with pytest.raises(ConfigError, match="task 'tiny_mcqa' is defined twice"):
        TaskRegistry.discover([task_dir])


def test_unknown_task_suggests_close_names():
    with pytest.raises(InputError, match=r"unknown task 'medmqa' \(did you mean medmcqa"):
        TaskRegistry.discover().get("medmqa")
