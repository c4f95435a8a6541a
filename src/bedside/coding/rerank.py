"""Optional re-ranking of the lexical candidates by sentence-embedding similarity.

Word overlap cannot tell that "renal fossa pain" is closest to "Unspecified renal colic"; a sentence
embedding (all-MiniLM-L6-v2, the ``minilm`` catalog model, extra ``train``) sometimes can. Only the
mention and the descriptions of the best lexical candidates are embedded, and descriptions are
cached, so after warm-up a mention costs one short embedding call. The embedder is any function from
texts to unit vectors; through the Runtime every call is verified and audited like any other:

    rt = Runtime(settings)
    reranker = EmbeddingReranker(lambda texts: rt.embed(texts, model="minilm", task="icd10:rerank"))
    linker = Icd10Linker(cache_dir=settings.cache_dir, reranker=reranker)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from bedside.clinical.schema import Concept

Embed = Callable[[list[str]], Sequence[Sequence[float]]]


class EmbeddingReranker:
    def __init__(self, embed: Embed, weight: float = 0.5, cache_size: int = 50_000):
        """``weight``: share of the embedding similarity in the final score (the rest is the lexical score)."""
        if not 0 <= weight <= 1:
            raise ValueError("weight must be within [0, 1]")
        self.embed = embed
        self.weight = weight
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, mention: str, candidates: list[Concept]) -> list[Concept]:
        with self._lock:
            missing = list(dict.fromkeys(c.description for c in candidates if c.description not in self._cache))
        vectors = np.asarray(self.embed([mention, *missing]), dtype=np.float32)
        query = _unit(vectors[0])
        with self._lock:
            for text, vec in zip(missing, vectors[1:], strict=True):
                self._cache[text] = _unit(vec)
            for c in candidates:
                self._cache.move_to_end(c.description)
            docs = np.stack([self._cache[c.description] for c in candidates])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        similarity = np.clip(docs @ query, 0.0, 1.0)
        lexical = np.array([c.score for c in candidates], dtype=np.float32)
        combined = (1 - self.weight) * lexical + self.weight * similarity
        # Stable sort: equal scores keep the lexical order.
        order = sorted(range(len(candidates)), key=lambda i: -float(combined[i]))
        return [candidates[i].model_copy(update={"score": round(float(combined[i]), 4)}) for i in order]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
