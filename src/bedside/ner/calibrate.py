"""Per-category logit offsets (``label_bias``) chosen on dev sets.

A token classifier's decision threshold is a byproduct of its training data: the default model tags
conditions with recall above precision (BC5CDR-disease dev: P 77.5 / R 80.0). Adding a negative offset
to a category's B-/I- logits before decoding moves that balance without retraining. The model runs
once per dev sentence; each offset pair is then only a decode and a score.

Offsets must be chosen on dev data the model did not train on; a model trained on train + dev (the
shipped one) takes the offsets found for the same recipe trained on train only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from bedside.ner.data import Corpus
from bedside.ner.evaluate import evaluate
from bedside.ner.infer import NerModel, bias_vector


class _Replay:
    """The model's raw logits, computed once per batch and replayed with offsets added."""

    def __init__(self, model: NerModel):
        self.model = model
        self.cache: dict[bytes, np.ndarray] = {}
        self.session_run = model.session.run

    def raw(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        key = ids.tobytes() + mask.tobytes()
        if key not in self.cache:
            self.cache[key] = self.session_run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return self.cache[key]

    def with_bias(self, bias: np.ndarray | None):
        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            logits = self.raw(ids, mask)
            return logits if bias is None else logits + bias
        return run


def sweep(model: NerModel, corpora: list[Corpus], grid: dict[str, Sequence[float]]) -> list[dict]:
    """Strict F1/P/R on each corpus for every combination of offsets in ``grid`` ({category: values})."""
    replay = _Replay(model)
    cats = sorted(grid)
    rows = []
    for values in itertools.product(*(grid[c] for c in cats)):
        offsets = dict(zip(cats, values, strict=True))
        model.run = replay.with_bias(bias_vector(model.labels, offsets))  # predict() calls self.run
        scores = evaluate(corpora, model.predict)
        rows.append({"label_bias": offsets, "scores": {
            name: {k: r["strict"][k] for k in ("f1", "precision", "recall")} for name, r in scores.items()}})
    return rows


def gain(row: dict, base: dict) -> float:
    """Summed strict-F1 change over the corpora against the row without offsets."""
    return sum(row["scores"][k]["f1"] - base["scores"][k]["f1"] for k in base["scores"])
