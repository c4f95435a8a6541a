"""Per-category logit offsets (label_bias): read from the artifact, applied by NerModel, swept on dev data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bedside.errors import ModelUnavailableError
from bedside.extract.spans import shipped_model_dir
from bedside.ner.calibrate import gain, sweep
from bedside.ner.data import Corpus, CorpusRef, Example, Span
from bedside.ner.infer import META_FILE, NerModel

TEXTS = ["Treatment with cisplatin caused acute renal failure and severe nausea .",
         "Haloperidol induced catalepsy was reversed by scopolamine in rats ."]


def artifact_with(tmp_path: Path, label_bias) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), folder)
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if label_bias is None:
        meta.pop("label_bias", None)
    else:
        meta["label_bias"] = label_bias
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def categories(model: NerModel) -> list[str]:
    return sorted(e.category for ents in model.predict(TEXTS) for e in ents)


def test_the_artifacts_offsets_are_applied(tmp_path: Path) -> None:
    plain = categories(NerModel(artifact_with(tmp_path / "a", None), threads=1))
    assert "MEDICATION" in plain and "MEDICAL_CONDITION" in plain
    no_drugs = categories(NerModel(artifact_with(tmp_path / "b", {"MEDICATION": -50.0}), threads=1))
    assert "MEDICATION" not in no_drugs and "MEDICAL_CONDITION" in no_drugs


@pytest.mark.parametrize("bad", [{"GENE": -1.0}, {"MEDICATION": "low"}, [1, 2]])
def test_an_artifact_with_unusable_offsets_is_refused(tmp_path: Path, bad) -> None:
    with pytest.raises(ModelUnavailableError, match="label_bias"):
        NerModel(artifact_with(tmp_path, bad), threads=1)


def test_sweep_scores_each_offset_from_the_same_logits(tmp_path: Path) -> None:
    model = NerModel(artifact_with(tmp_path, None), threads=1)
    gold = []
    for text, ents in zip(TEXTS, model.predict(TEXTS), strict=True):  # the model's own spans as gold: F1 1
        spans = tuple(Span(e.begin_offset, e.end_offset, e.category) for e in ents)
        gold.append(Example(text, spans, frozenset({"MEDICAL_CONDITION", "MEDICATION"})))
    corpus = Corpus(CorpusRef(tmp_path / "x.tsv"), gold)
    rows = sweep(model, [corpus], {"MEDICAL_CONDITION": [0.0, -50.0], "MEDICATION": [0.0]})
    assert [r["label_bias"]["MEDICAL_CONDITION"] for r in rows] == [0.0, -50.0]
    name = corpus.ref.name
    assert rows[0]["scores"][name]["f1"] == 1.0
    assert rows[1]["scores"][name]["recall"] < 1.0 and gain(rows[1], rows[0]) < 0
