"""Few-shot examples retrieved by embedding similarity, with the bundled MiniLM embedder."""

from __future__ import annotations

import pytest
from eval_helpers import MCQA_TASK

from bedside.config import load_settings
from bedside.evaluation.loaders import Item
from bedside.evaluation.prompts import SimilarShots, render
from bedside.evaluation.spec import load_task_text

pytestmark = pytest.mark.integration
pytest.importorskip("torch", reason="the MiniLM embedder runs on the transformers backend (train extra)")

SPEC = load_task_text(MCQA_TASK.replace("k: 1", "k: 2\n  selection: similar"), "similar.yaml")
OPTIONS = {"A": "yes", "B": "no"}
POOL = [
    ("heart1", "Does atrial fibrillation raise the risk of stroke?"),
    ("heart2", "Is an elevated troponin a sign of myocardial infarction?"),
    ("skin1", "Is eczema an itchy inflammation of the skin?"),
    ("skin2", "Do freckles come from sun exposure of the skin?"),
    ("bone1", "Does osteoporosis make bones fragile?"),
    ("query", "Can a heart attack be detected with a troponin blood test?"),
]


def test_similar_shots_pick_the_nearest_items(bedside_env):
    from bedside.runtime import Runtime

    items = [Item(id=i, fields={"question": q}, gold="A", options=OPTIONS) for i, q in POOL]
    with Runtime(load_settings(), progress=False) as rt:
        shots = SimilarShots(items, 2, lambda texts: rt.embed(texts, model="minilm", caller="test"),
                             lambda it: render(SPEC.prompt.template, SPEC, it))
        chosen = [s.id for s in shots.select(items[-1])]
    assert chosen[0] == "heart2" and "query" not in chosen
    assert set(chosen) <= {"heart1", "heart2"}
