"""Training recipes: the bundled default, TOML/JSON files, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedside.errors import InputError
from bedside.ner.data import CorpusRef
from bedside.ner.recipe import TrainParams, load_recipe


def test_bundled_default_recipe(tmp_path: Path) -> None:
    recipe = load_recipe("default", tmp_path)
    assert recipe.train == [
        CorpusRef(tmp_path / "ncbi_disease/train.tsv", "MEDICAL_CONDITION"),
        CorpusRef(tmp_path / "bc5cdr_disease/train.tsv", "MEDICAL_CONDITION"),
        CorpusRef(tmp_path / "bc5cdr_chem/train.tsv", "MEDICATION"),
    ]
    assert [r.category for r in recipe.dev] == ["MEDICAL_CONDITION", "MEDICAL_CONDITION", "MEDICATION"]
    # The recipe's own [params] win over the TrainParams defaults (tuned on dev, see default.toml).
    assert (recipe.params.lr, recipe.params.epochs, recipe.params.time_limit_min) == (2e-4, 7.0, 45.0)
    assert recipe.params.base == "minilm" and recipe.params.partial_labels
    assert recipe.params.batch_size == TrainParams().batch_size


def test_shipped_recipe_adds_dev_to_training(tmp_path: Path) -> None:
    default, shipped = load_recipe("default", tmp_path), load_recipe("shipped", tmp_path)
    assert shipped.train[:3] == default.train
    assert shipped.train[3:] == default.dev and shipped.dev == default.dev
    assert shipped.params.lr == default.params.lr


def test_json_recipe_relative_to_its_folder_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({
        "base": "minilm",
        "train": [{"path": "a.tsv"}, {"path": "/abs/b", "category": "MEDICATION"}],
        "params": {"epochs": 2, "partial_labels": False},
    }))
    recipe = load_recipe(str(path))
    assert recipe.train == [CorpusRef(tmp_path / "a.tsv"), CorpusRef(Path("/abs/b"), "MEDICATION")]
    assert (recipe.params.epochs, recipe.params.partial_labels) == (2.0, False)
    recipe.params.update({"epochs": None, "lr": 3e-4}, "command line")  # None: flag not given
    assert (recipe.params.epochs, recipe.params.lr) == (2.0, 3e-4)


@pytest.mark.parametrize(("body", "message"), [
    ('[params]\nepoch = 3\n', "unknown parameter 'epoch'"),
    ('[params]\nepochs = "many"\n', "'many' is not a float"),
    ('[params]\npartial_labels = "yes"\n', "must be true or false"),
    ('trian = []\n', "unknown keys trian"),
    ('[[train]]\ncategory = "X"\n', "needs a 'path'"),
    ('[[train]]\npath = "a"\ncategory = "bad-name"\n', "invalid entity category"),
    ('not toml at all [', "cannot parse"),
    ('label_bias = 2\n', "label_bias must be a table"),
    ('[label_bias]\nMEDICATION = "low"\n', "label_bias.MEDICATION must be a number"),
    ('[label_bias]\nMEDICATION = true\n', "must be a number"),
    ('[label_bias]\nbad-name = -1\n', "invalid entity category"),
])
def test_recipe_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(body)
    with pytest.raises(InputError, match=message):
        load_recipe(str(path))


def test_missing_recipe() -> None:
    with pytest.raises(InputError, match="recipe not found: nosuch"):
        load_recipe("nosuch")


def test_time_limit_refits_the_schedule() -> None:
    for mod in ("numpy", "tokenizers", "nervaluate"):
        pytest.importorskip(mod, reason="training needs the 'train' extra")
    from bedside.ner.train import fit_schedule

    assert fit_schedule(1000, 100, elapsed=100.0, remaining=300.0) == 400  # 1 s/step, 300 s left
    assert fit_schedule(1000, 100, elapsed=100.0, remaining=5000.0) == 1000  # never beyond the plan
    assert fit_schedule(1000, 100, elapsed=100.0, remaining=-3.0) == 101  # past the deadline: stop next step


def test_label_bias_table(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[label_bias]\nMEDICAL_CONDITION = -1.5\nMEDICATION = 0\n')
    assert load_recipe(str(path)).label_bias == {"MEDICAL_CONDITION": -1.5, "MEDICATION": 0.0}
    assert load_recipe("default", tmp_path).label_bias == load_recipe("shipped", tmp_path).label_bias
