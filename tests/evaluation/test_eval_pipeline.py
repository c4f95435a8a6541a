"""bedside's extraction pipeline as a model of the harness: task sections, adapters, run_task, grid, report.

The runs use the real Extractor (shipped ONNX model and rule layer) on test-written data; no LLM.
"""

from __future__ import annotations

import json

import pytest
import yaml
from eval_helpers import write_task_dir
from grid_helpers import FAKE_MODELS, fake_engine_fixture  # noqa: F401 (a fixture)

from bedside.clinical import Concept, Document, Entity, Trait
from bedside.config import Settings
from bedside.errors import ConfigError, InputError
from bedside.evaluation.grid import load_grid, parse_grid, plan, run_grid
from bedside.evaluation.icd_coding import pipeline_codes
from bedside.evaluation.mentions import pipeline_mentions
from bedside.evaluation.registry import TaskRegistry, bundled_tasks
from bedside.evaluation.results import read_results
from bedside.evaluation.runner import RunOptions, run_task
from bedside.evaluation.spec import load_task_text
from bedside.runtime import Runtime

SENTENCES = [
    # (tokens with IOB tags)
    [("Patients", "O"), ("with", "O"), ("type", "B-Disease"), ("2", "I-Disease"), ("diabetes", "I-Disease"),
     ("and", "O"), ("hypertension", "B-Disease"), ("were", "O"), ("enrolled", "O"), (".", "O")],
    [("The", "O"), ("trial", "O"), ("ended", "O"), ("early", "O"), (".", "O")],
    [("Asthma", "B-Disease"), ("was", "O"), ("treated", "O"), ("with", "O"), ("albuterol", "O"), (".", "O")],
]


def write_iob(path, sentences=SENTENCES):
    path.write_text("\n\n".join("\n".join(f"{t}\t{tag}" for t, tag in s) for s in sentences) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", audit_db=tmp_path / "audit.db")


def ner_spec():
    return TaskRegistry(bundled_tasks()).get("ncbi_disease")


# -- task files ----------------------------------------------------------------------------------
def test_bundled_tasks_say_which_have_a_pipeline_answer():
    specs = {s.name: s for s in bundled_tasks()}
    with_pipeline = {n for n, s in specs.items() if s.pipeline is not None}
    assert with_pipeline == {"ncbi_disease", "bc5cdr_disease", "bc5cdr_chem", "codiesp_d"}
    assert specs["bc5cdr_chem"].pipeline.options == {"categories": ["MEDICATION"]}
    assert specs["codiesp_d"].pipeline.adapter == "icd10_codes"
    meta = specs["ncbi_disease"].metadata
    assert meta["strategies"] == ["zero-shot", "few-shot", "pipeline"] and meta["output"] == "json_schema"
    assert specs["ddi2013"].metadata["strategies"] == ["zero-shot", "few-shot"]


def test_an_unknown_adapter_is_refused_with_the_field_named():
    text = (TaskRegistry(bundled_tasks()).get("ncbi_disease").model_dump_json(by_alias=True))
    data = json.loads(text)
    data["pipeline"]["adapter"] = "magic"
    with pytest.raises(ConfigError, match="pipeline.adapter: unknown pipeline adapter 'magic'"):
        load_task_text(yaml.safe_dump(data), "t.yaml")


# -- adapters ------------------------------------------------------------------------------------
def entity(i, text, sentence, category="MEDICAL_CONDITION", traits=(), concepts=None):
    begin = sentence.index(text)
    return Entity(id=i, text=text, category=category, type="DX_NAME", begin_offset=begin,
                  end_offset=begin + len(text), score=0.9, traits=[Trait(name=t, score=0.9) for t in traits],
                  icd10cm_concepts=concepts)


def test_pipeline_mentions_keep_the_category_widen_to_tokens_and_drop_repeats():
    sentence = "Type 2 diabetes , diabetes and aspirin - induced asthma ."
    doc = Document(entities=[
        entity(0, "diabetes", sentence), entity(1, "aspirin", sentence, "MEDICATION"),
        entity(2, "induced asth", sentence),  # a span ending inside a token is widened to the token
        Entity(id=3, text="diabetes", category="MEDICAL_CONDITION", type="DX_NAME", begin_offset=18, end_offset=26,
               score=0.9),  # the second "diabetes": the same string, listed once
    ])
    assert pipeline_mentions(doc, sentence, {"categories": ["MEDICAL_CONDITION"]}) == ["diabetes", "induced asthma"]
    assert pipeline_mentions(doc, sentence, {"categories": ["MEDICATION"]}) == ["aspirin"]


def test_pipeline_codes_rank_by_linking_score_and_skip_negated_conditions():
    note = "Hypertension. No diabetes. Renal colic."
    c = lambda code, s: Concept(code=code, description="", score=s)  # noqa: E731
    doc = Document(entities=[
        entity(0, "Hypertension", note, concepts=[c("I10", 0.8), c("I15.9", 0.5)]),
        entity(1, "diabetes", note, traits=["NEGATION"], concepts=[c("E11.9", 0.99)]),
        entity(2, "Renal colic", note, concepts=[c("N23", 0.95)]),
        entity(3, "aspirin", "aspirin", "MEDICATION"),
    ])
    assert pipeline_codes(doc, note, {}) == ["N23", "I10"]
    assert pipeline_codes(doc, note, {"per_mention": 2, "skip_traits": []}) == ["E11.9", "N23", "I10", "I15.9"]


# -- runs ----------------------------------------------------------------------------------------
def test_a_pipeline_cell_runs_scores_and_resumes(tmp_path, settings):
    data = write_iob(tmp_path / "test.tsv")
    out = tmp_path / "run"
    opts = RunOptions(model="bedside-ner", out=out, strategy="pipeline", data=data, resamples=50, progress=False)
    with Runtime(settings, progress=False) as rt:
        first = run_task(rt, ner_spec(), opts)
        again = run_task(rt, ner_spec(), opts)
    cell = first.cell
    assert cell["key"] == {"task": "ncbi_disease", "task_version": 1, "model": "bedside-ner", "strategy": "pipeline",
                           "shots": 0, "decoding": "none", "data": "test.tsv"}
    assert cell["label"] == "ncbi_disease v1 · bedside-ner · pipeline · test.tsv"
    assert (cell["n"], first.n_new, again.n_new, again.n_reused) == (3, 3, 0, 3)
    assert cell["tokens_per_s"] == {"completion": None, "total": None} and cell["provenance"]["prompt"] is None
    prov = cell["provenance"]
    assert prov["model"]["name"] == "bedside-ner" and len(prov["model"]["sha256"]) == 64
    assert prov["output"]["pipeline"]["adapter"] == "mentions" and prov["output"]["pipeline"]["strategy"] == "default"
    items = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    # The extractor names the conditions of these plain sentences; its answer is mention strings.
    by_id = {i["item_id"]: i for i in items}
    assert {"hypertension", "Asthma"} <= {m for i in items for m in i["parsed"]}
    assert by_id["line-12"]["parsed"] == [] and all(i["audit_id"] is None and i["prompt"] is None for i in items)
    strict = cell["metrics"]["strict_f1"]["value"]
    assert 0 < strict <= cell["metrics"]["partial_f1"]["value"] <= 1


def test_pipeline_strategy_and_models_are_checked(tmp_path, settings):
    spec = ner_spec()
    data = write_iob(tmp_path / "test.tsv")
    mcqa = TaskRegistry(bundled_tasks()).get("medmcqa")
    cases = [
        (spec, RunOptions(model="smollm2", out=tmp_path, strategy="pipeline", data=data),
         "--strategy pipeline runs bedside's extraction pipeline, not 'smollm2'"),
        (spec, RunOptions(model="bedside-ner", out=tmp_path, data=data), "use --strategy pipeline"),
        (mcqa, RunOptions(model="bedside-ner", out=tmp_path, strategy="pipeline", data=data),
         "task 'medmcqa' has no pipeline answer"),
        (spec, RunOptions(model="bedside-ner", out=tmp_path, strategy="pipeline", shots=2, data=data),
         "--shots needs --strategy few-shot"),
    ]
    with Runtime(settings, progress=False) as rt:
        for task, opts, message in cases:
            with pytest.raises(InputError, match=message):
                run_task(rt, task, opts)
    assert not (tmp_path / "results.json").exists()


def test_a_grid_gives_a_pipeline_model_one_cell_per_task_with_a_pipeline_answer(fake_engine, tmp_path):
    settings, _ = fake_engine
    write_task_dir(tmp_path)
    write_iob(tmp_path / "tiny.tsv")
    config = parse_grid({"tasks": [{"name": "ncbi_disease", "data": "tiny.tsv"}, "tiny_mcqa"],
                         "models": [FAKE_MODELS[0], "bedside-ner"], "strategies": ["zero-shot", "few-shot"],
                         "tasks_dir": ["tasks"]}, "grid.yaml")
    cells = [(c.model, c.spec.name, c.strategy, c.decoding) for c in plan(config, tmp_path, settings)]
    assert ("bedside-ner", "ncbi_disease", "pipeline", "none") in cells
    assert [c for c in cells if c[0] == "bedside-ner"] == [("bedside-ner", "ncbi_disease", "pipeline", "none")]
    assert len([c for c in cells if c[0] == FAKE_MODELS[0]]) == 4  # 2 tasks x 2 strategies
    lonely = parse_grid({"tasks": ["tiny_mcqa"], "models": ["bedside-ner"], "tasks_dir": ["tasks"]}, "g.yaml")
    with pytest.raises(ConfigError, match="the grid has no cell"):
        plan(lonely, tmp_path, settings)


def test_a_pipeline_grid_runs_and_reports(tmp_path, settings):
    from bedside.evaluation.report import build_report, write_report
    from bedside.evaluation.report.tables import row_cells

    write_task_dir(tmp_path)
    write_iob(tmp_path / "tiny.tsv")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"tasks": [{"name": "ncbi_disease", "data": "tiny.tsv"}, "tiny_mcqa"],
                                    "models": ["bedside-ner"], "tasks_dir": ["tasks"], "resamples": 50}),
                    encoding="utf-8")
    config, base, _ = load_grid(grid)
    out = tmp_path / "run"
    summary = run_grid(config, base, out, settings, progress=False)
    assert not summary.failed and [c.key.strategy for c in summary.cells] == ["pipeline"]
    assert read_results(out)["cells"][0]["key"]["model"] == "bedside-ner"
    report = build_report(out)
    (table,) = report.tables
    cols = row_cells(table, table.rows[0])
    assert cols["Model"] == "bedside-ner" and cols["Strategy"] == "pipeline"
    assert cols["Tokens/s (out / all)"] == "n/a / n/a"
    html, md = write_report(report, out / "report.html", out / "report.md")
    assert "| bedside-ner | pipeline |" in md.read_text(encoding="utf-8")
