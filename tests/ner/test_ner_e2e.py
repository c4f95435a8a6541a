"""End to end on real corpus sentences: `train ner` for a few steps, ONNX export, inference, `eval ner`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

for _mod in ("torch", "transformers", "onnx", "onnxruntime", "nervaluate"):
    pytest.importorskip(_mod, reason="training and exporting NER needs the 'train' extra")

from bedside.cli.ner import eval_app, train_app  # noqa: E402
from bedside.errors import InputError  # noqa: E402

NER_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ner"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (NER_DATA / "ncbi_disease").is_dir(), reason=f"corpora not found at {NER_DATA}"),
]

# Mounted the way src/bedside/cli/__init__.py registers them: `bedside train ner`, `bedside eval ner`.
app = typer.Typer()
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")


def head(src: Path, dst: Path, n: int) -> Path:
    sentences = src.read_text(encoding="utf-8").split("\n\n")[:n]
    dst.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("ner")
    mp = pytest.MonkeyPatch()
    for key, sub in (("BEDSIDE_DATA_DIR", "data"), ("BEDSIDE_CACHE_DIR", "cache")):
        mp.setenv(key, str(root / sub))
    mp.delenv("BEDSIDE_CONFIG", raising=False)
    files = {
        "ncbi": head(NER_DATA / "ncbi_disease/train.tsv", root / "ncbi.tsv", 20),
        "dis": head(NER_DATA / "bc5cdr_disease/train.tsv", root / "dis.tsv", 15),
        "chem": head(NER_DATA / "bc5cdr_chem/train.tsv", root / "chem.tsv", 15),
        "ncbi_dev": head(NER_DATA / "ncbi_disease/dev.tsv", root / "ncbi_dev.tsv", 12),
        "chem_dev": head(NER_DATA / "bc5cdr_chem/dev.tsv", root / "chem_dev.tsv", 12),
    }
    out = root / "model"
    recipe = root / "recipe.json"  # only for its label_bias: --train/--dev replace its (empty) lists
    recipe.write_text(json.dumps({"label_bias": {"MEDICATION": -0.25}}), encoding="utf-8")
    result = CliRunner().invoke(app, [
        "train", "ner", "--out", str(out), "--recipe", str(recipe),
        "--train", f"{files['ncbi']}:MEDICAL_CONDITION", "--train", str(files["dis"]), "--train", str(files["chem"]),
        "--dev", f"{files['ncbi_dev']}:MEDICAL_CONDITION", "--dev", f"{files['chem_dev']}:MEDICATION",
        "--max-steps", "24", "--batch-size", "8", "--lr", "5e-4", "--max-len", "64", "--threads", "2",
    ])
    mp.undo()
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, files


def test_training_writes_a_self_describing_compact_artifact(trained) -> None:
    out, files = trained
    onnx = out / "onnx"
    assert {p.name for p in onnx.iterdir()} == {"model.onnx", "tokenizer.json", "bedside-ner.json", "untagged.json",
                                               "tagged.json"}
    assert (onnx / "model.onnx").stat().st_size <= 30 * 2**20
    assert (out / "checkpoint" / "config.json").is_file()
    meta = json.loads((onnx / "bedside-ner.json").read_text())
    assert meta["labels"] == ["O", "B-MEDICAL_CONDITION", "I-MEDICAL_CONDITION", "B-MEDICATION", "I-MEDICATION"]
    assert meta["steps"] == 24 and meta["seed"] == 13 and meta["max_len"] == 64
    assert meta["base_model"]["name"] == "minilm" and len(meta["base_model"]["sha256"]) == 64
    assert [d["sentences"] for d in meta["train_data"]] == [20, 15, 15]
    assert all(len(d["sha256"]) == 64 for d in meta["train_data"])
    assert meta["merge"]["merged"] == 15  # BC5CDR disease and chemical: the same sentences
    assert set(meta["dev"]) == {"torch_fp32", "onnx_fp32", "onnx"}
    assert set(meta["dev"]["onnx"]) == {f"{out.parent.name}/ncbi_dev", f"{out.parent.name}/chem_dev"}
    assert meta["artifact"]["model_bytes"] == (onnx / "model.onnx").stat().st_size
    assert meta["versions"]["onnxruntime"] and meta["train_seconds"] > 0
    assert not (out / "onnx-fp32").exists()
    assert meta["label_bias"] == {"MEDICATION": -0.25}  # from the recipe, applied by every NerModel
    listed = json.loads((onnx / "untagged.json").read_text())["categories"]
    assert meta["untagged"]["strings"] == {c: len(v) for c, v in listed.items()}
    assert "the" in listed["MEDICAL_CONDITION"]  # frequent, never a disease
    always = json.loads((onnx / "tagged.json").read_text())["categories"]
    assert meta["tagged"]["strings"] == {c: len(v) for c, v in always.items()} and always["MEDICAL_CONDITION"]


def test_inference_spans_match_the_input_text(trained) -> None:
    from bedside.ner.infer import NerModel

    out, files = trained
    model = NerModel(out, threads=2)
    texts = [line for line in (out.parent / "dis.tsv").read_text().split("\n\n") if line.strip()]
    texts = [" ".join(tok.split("\t")[0] for tok in s.splitlines()) for s in texts]
    texts += ["", "No fever,  but   severe\tchest pain after ibuprofen 400mg.\n", "x" * 3000]
    results = model.predict(texts)
    assert len(results) == len(texts)
    n = 0
    for text, ents in zip(texts, results, strict=True):
        for e in ents:
            assert text[e.begin_offset:e.end_offset] == e.text
            assert e.category in {"MEDICAL_CONDITION", "MEDICATION"} and 0.0 < e.score <= 1.0
            n += 1
    assert n > 0, "24 steps at lr 5e-4 should already tag some training sentences"
    with pytest.raises(InputError):
        model.predict([b"bytes"])  # type: ignore[list-item]


def test_eval_cli_reports_strict_and_partial_scores(trained) -> None:
    out, files = trained
    result = CliRunner().invoke(app, [
        "eval", "ner", "--model", str(out / "onnx"), "--data", f"{files['ncbi_dev']}:MEDICAL_CONDITION",
        "--data", f"{files['chem_dev']}", "--threads", "2",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    ncbi = report["results"][f"{out.parent.name}/ncbi_dev"]
    assert ncbi["n_sentences"] == 12 and ncbi["categories"] == ["MEDICAL_CONDITION"]
    assert ncbi["n_gold"] == sum(1 for line in files["ncbi_dev"].read_text().splitlines() if "\tB-" in line)
    for strategy in ("strict", "partial"):
        assert set(ncbi[strategy]) >= {"precision", "recall", "f1", "gold", "pred"}
        assert 0.0 <= ncbi[strategy]["f1"] <= 1.0
    assert set(ncbi["per_type"]) == {"MEDICAL_CONDITION"}
    chem = report["results"][f"{out.parent.name}/chem_dev"]
    assert chem["categories"] == ["MEDICATION"]  # typed tags (B-Chemical) mapped without :CATEGORY


def test_bad_input_gives_one_line_errors(trained, tmp_path: Path) -> None:
    out, _ = trained
    bad = tmp_path / "bad.tsv"
    bad.write_text("fever\tB-Disease\n\nno tab here\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "ner", "--model", str(out), "--data", str(bad), "--strict"])
    assert isinstance(result.exception, InputError) and "bad.tsv:3" in str(result.exception)
    result = CliRunner().invoke(app, ["eval", "ner", "--model", str(out), "--data", str(bad)])
    assert result.exit_code == 0 and '"skipped": 1' in result.stdout  # default: skipped and counted
    result = CliRunner().invoke(app, ["eval", "ner", "--model", str(tmp_path), "--data", str(bad)])
    assert "no NER model" in str(result.exception)
