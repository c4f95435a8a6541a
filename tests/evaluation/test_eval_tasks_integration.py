"""The structured tasks end to end: `bedside eval run --limit 3` on the bundled SmolLM2-135M and on
bedside's extraction pipeline, in a subprocess as a user runs it.

Tasks run on the shared data when it is there (else they skip, saying so); CodiEsp runs on a small
held-back-format split written here, the `--data` path a test split takes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import audit_rows, run_cli
from eval_helpers import SHARED_DATA

pytestmark = pytest.mark.integration

needs_task_data = pytest.mark.skipif(not (SHARED_DATA / "ner").is_dir() or not (SHARED_DATA / "ddi2013").is_dir(),
                                     reason=f"shared data not found at {SHARED_DATA}")
CASES = {
    "case-1": "A 61-year-old man with hypertension presented with renal colic.\nUltrasound showed a kidney stone.\n",
    "case-2": "A 30-year-old woman with asthma had a cough for two weeks.\n",
    "case-3": "A 45-year-old man with type 2 diabetes mellitus and obesity.\n",
}
CODES = "case-1\ti10\ncase-1\tn20.0\ncase-2\tj45.909\ncase-2\tr05\ncase-3\te11.9\ncase-3\te66.9\n"


def eval_run(env: dict[str, str], *args: str, timeout: float = 240) -> tuple[dict, subprocess.CompletedProcess]:
    res = run_cli("eval", "run", *args, "--limit", "3", "--no-progress", "--resamples", "100", "--json",
                  env=env, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), res


def items(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]


def in_unit_interval(metric: dict) -> bool:
    value = metric["value"]
    return value is None or (0 <= metric["ci_low"] <= value <= metric["ci_high"] <= 1)


@pytest.fixture
def shared_env(bedside_env):
    return {**bedside_env, "BEDSIDE_SHARED_DATA": str(SHARED_DATA)}


@pytest.fixture
def codiesp_split(tmp_path) -> Path:
    split = tmp_path / "test"
    (split / "text_files_en").mkdir(parents=True)
    for doc, text in CASES.items():
        (split / "text_files_en" / f"{doc}.txt").write_text(text, encoding="utf-8")
    (split / "testD.tsv").write_text(CODES, encoding="utf-8")
    return split / "testD.tsv"


@needs_task_data
@pytest.mark.parametrize("task", ["ncbi_disease", "bc5cdr_disease", "bc5cdr_chem", "bc2gm"])
def test_ner_task_on_smollm2(shared_env, tmp_path, task):
    out = tmp_path / "run"
    cell, _ = eval_run(shared_env, "--task", task, "--model", "smollm2", "--out", str(out))
    assert cell["key"]["strategy"] == "zero-shot" and cell["key"]["data"] == "dev.tsv" and cell["n"] == 3
    assert set(cell["metrics"]) == {"strict_f1", "partial_f1"}
    assert all(in_unit_interval(m) for m in cell["metrics"].values())
    for record in items(out):
        assert record["prompt"].startswith("Sentence: ") and isinstance(record["gold"], list)
        if record["error"] is None:  # JSON-schema output, read by the mentions parser into strings
            assert isinstance(json.loads(record["output"]), list) and isinstance(record["parsed"], list)
            assert all(isinstance(m, str) for m in record["parsed"])
    # One audit row per call; an output that broke the schema is retried once (also audited).
    tasks = [r["task"] for r in audit_rows(shared_env)]
    assert set(tasks) == {f"eval:{task}"} and 3 <= len(tasks) <= 6


@needs_task_data
def test_ner_few_shot_examples_show_the_gold_as_a_json_list(shared_env, tmp_path):
    out = tmp_path / "run"
    cell, _ = eval_run(shared_env, "--task", "ncbi_disease", "--model", "smollm2", "--strategy", "few-shot",
                       "--shots", "1", "--out", str(out))
    assert cell["provenance"]["strategy"]["pool"]["path"].endswith("ncbi_disease/train.tsv")
    for record in items(out):
        shown = record["prompt"].split("\n\n")[0].split("Disease mentions: ", 1)[1]
        assert isinstance(json.loads(shown), list)


@needs_task_data
def test_ner_task_on_the_extraction_pipeline(shared_env, tmp_path):
    out = tmp_path / "run"
    cell, _ = eval_run(shared_env, "--task", "ncbi_disease", "--model", "bedside-ner", "--out", str(out))
    assert cell["key"]["strategy"] == "pipeline" and cell["key"]["decoding"] == "none"
    # The second dev sentence is "... inherited breast and ovarian cancer ." (one gold mention).
    records = items(out)
    assert len(records) == 3 and all(isinstance(r["parsed"], list) for r in records)
    assert cell["metrics"]["strict_f1"]["value"] is not None and in_unit_interval(cell["metrics"]["partial_f1"])
    assert audit_rows(shared_env) == []  # no model generation happened


@needs_task_data
def test_radiology_impression_on_smollm2(shared_env, tmp_path):
    out = tmp_path / "run"
    cell, _ = eval_run(shared_env, "--task", "iu_xray_impression", "--model", "smollm2", "--out", str(out))
    assert set(cell["metrics"]) == {"rouge_l", "groundedness", "hallucination_rate"}
    assert all(in_unit_interval(m) for m in cell["metrics"].values())
    grounded, hallucinated = cell["metrics"]["groundedness"]["value"], cell["metrics"]["hallucination_rate"]["value"]
    if grounded is not None:
        assert grounded + hallucinated == pytest.approx(1.0)
    for record in items(out):
        assert record["parsed"] is None or (isinstance(record["parsed"], str) and record["parsed"])
        assert "rouge_l" in record["scores"] and "MeSH" not in record["prompt"]


@needs_task_data
def test_ddi_on_smollm2_reports_the_corpus_flaw_and_goes_on(shared_env, tmp_path):
    out = tmp_path / "run"
    cell, res = eval_run(shared_env, "--task", "ddi2013", "--model", "smollm2", "--out", str(out))
    assert cell["key"]["data"] == "Train" and cell["n"] == 3
    assert cell["n_malformed"] == 1 and "Dextroamphetamine_ddi.xml:446: interaction without a known type" in res.stderr
    assert set(cell["metrics"]) == {"micro_f1_positive", "macro_f1_positive"}
    for record in items(out):
        assert record["parsed"] in {"mechanism", "effect", "advise", "int", "none"}
        assert record["gold"] in {"mechanism", "effect", "advise", "int", "none"} and "<e1>" in record["prompt"]


def test_codiesp_held_back_split_on_smollm2(bedside_env, tmp_path, codiesp_split):
    out = tmp_path / "run"
    cell, _ = eval_run(bedside_env, "--task", "codiesp_d", "--model", "smollm2", "--data", str(codiesp_split),
                       "--out", str(out))
    assert cell["key"]["data"] == "testD.tsv" and cell["n"] == 3 and cell["n_malformed"] == 0
    assert all(in_unit_interval(m) for m in cell["metrics"].values())
    golds = {r["item_id"]: r["gold"] for r in items(out)}
    assert golds == {"case-1": ["I10", "N20.0"], "case-2": ["J45.909", "R05"], "case-3": ["E11.9", "E66.9"]}
    for record in items(out):
        assert isinstance(record["parsed"], list) and all(c == c.upper() for c in record["parsed"])


def test_codiesp_held_back_split_on_the_extraction_pipeline(bedside_env, tmp_path, codiesp_split):
    # Builds the ICD-10-CM index in the test's empty cache first (~15 s on 2 cores).
    out = tmp_path / "run"
    cell, _ = eval_run(bedside_env, "--task", "codiesp_d", "--strategy", "pipeline", "--data", str(codiesp_split),
                       "--out", str(out))
    assert cell["key"]["model"] == "bedside-ner" and cell["key"]["strategy"] == "pipeline"
    parsed = {r["item_id"]: r["parsed"] for r in items(out)}
    # Plainly named conditions link to their codes: hypertension -> I10, asthma -> J45.x.
    assert "I10" in parsed["case-1"] and any(c.startswith("J45") for c in parsed["case-2"])
    assert cell["metrics"]["micro_f1"]["value"] > 0 and in_unit_interval(cell["metrics"]["map"])


def test_tasks_json_lists_the_new_tasks(bedside_env):
    res = run_cli("eval", "tasks", "--json", env={**bedside_env, "BEDSIDE_SHARED_DATA": str(SHARED_DATA)})
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    new = {"ncbi_disease", "bc5cdr_disease", "bc5cdr_chem", "bc2gm", "iu_xray_impression", "codiesp_d", "ddi2013"}
    assert new <= set(rows)
    assert rows["codiesp_d"]["metrics"] == ["micro_f1", "map"] and rows["ddi2013"]["output"] == "choices"
    assert rows["ncbi_disease"]["pipeline"]["adapter"] == "mentions" and rows["bc2gm"]["pipeline"] is None
    if (SHARED_DATA / "ddi2013").is_dir():
        assert rows["ddi2013"]["data_available"] is True  # a folder counts


def test_tasks_text_lines_up_in_columns(bedside_env):
    """Long metric lists ("rouge_l, groundedness, hallucination_rate") widen their column, not the row."""
    res = run_cli("eval", "tasks", env={**bedside_env, "BEDSIDE_SHARED_DATA": str(SHARED_DATA)})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any("hallucination_rate" in line for line in lines)
    starts = {line.index("data ok") if "data ok" in line else line.index("no data") for line in lines}
    assert len(lines) >= 10 and len(starts) == 1


def test_cli_pipeline_flags_are_checked(bedside_env, tmp_path):
    res = run_cli("eval", "run", "--task", "ncbi_disease", "--strategy", "pipeline", "--decoding", "free",
                  "--out", str(tmp_path / "run"), env=bedside_env)
    assert res.returncode == 2 and "--decoding: the pipeline strategy does not generate text" in res.stderr
    res = run_cli("eval", "run", "--task", "medmcqa", "--model", "bedside-ner", "--out", str(tmp_path / "run"),
                  env=bedside_env)
    assert res.returncode == 2 and "task 'medmcqa' has no pipeline answer" in res.stderr
