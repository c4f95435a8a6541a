"""Link a condition mention to ICD-10-CM codes, like Comprehend Medical's InferICD10CM.

Scoring is lexical and needs no model: the mention's terms are looked up in the inverted index
(``index.py``) and every code text that shares a term gets an IDF-weighted F-score between how much
of the mention it covers (recall) and how much of it the mention covers (precision). That is a
TF-IDF-style match that, unlike BM25, lands in [0, 1]: a description written out exactly scores 1.0,
a mention whose words the tabular list does not know scores nothing. A code's score is that of its
best-matching text; only billable codes are returned (see ``index.py``). An optional re-ranker
(``rerank.py``) can reorder the best lexical candidates by sentence-embedding similarity.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz import process as rf_process

from bedside.clinical.schema import Concept, Document
from bedside.coding.index import Index, f_score, load_or_build, term_weight
from bedside.coding.text import Vocabulary
from bedside.config import Settings
from bedside.errors import InputError

# Below this a code shares too little with the mention to be worth showing.
MIN_SCORE = 0.2
# Context words (a site or acuity attribute) weigh half a word of the mention: a code that has them
# rises above one that lacks them ("fracture" + "right femur" -> S72.91XA, not S72.90XA). Context words
# the tabular list does not know are ignored, and a code must match the mention itself to be a candidate.
CONTEXT_FACTOR = 0.5
# A word the tabular list lacks is matched to its closest known word when they are this alike (0-100,
# rapidfuzz's normalised Indel similarity), so typos ("pnuemonia", "diabetis") still link; the match
# counts in proportion to the likeness. Short words are left alone: they are abbreviations.
FUZZY_CUTOFF = 85
FUZZY_MIN_LENGTH = 6
# Forms scored in full per query; more than enough for the top 50 codes.
POOL = 400
CONTEXT_TYPES = ("SYSTEM_ORGAN_SITE", "ACUITY", "DIRECTION")

Reranker = Callable[[str, list[Concept]], list[Concept]]


class Icd10Linker:
    """Top-k billable ICD-10-CM codes for a condition mention; thread-safe after the first call."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        vocabulary_dir: Path | None = None,
        min_score: float = MIN_SCORE,
        reranker: Reranker | None = None,
        rerank_pool: int = 50,
    ):
        """``cache_dir``: where the built index is kept between processes (None: build in memory each time).

        ``reranker``: reorders the best ``rerank_pool`` lexical candidates (see ``rerank.py``).
        """
        self.cache_dir = cache_dir
        self.vocabulary_dir = vocabulary_dir
        self.min_score = min_score
        self.reranker = reranker
        self.rerank_pool = rerank_pool
        self._index: Index | None = None
        self._vocabulary: Vocabulary | None = None
        self._lock = threading.Lock()
        self._choices: list[str] = []
        self._fuzzy_cache: dict[str, tuple[int, float]] = {}

    def warm_up(self) -> None:
        """Load (or build and cache) the index now rather than on the first mention."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._vocabulary = Vocabulary.load(self.vocabulary_dir)
                    self._index = load_or_build(self._vocabulary, self.cache_dir)
                    self._choices = list(self._index.vocab)

    @property
    def index(self) -> Index:
        self.warm_up()
        assert self._index is not None
        return self._index

    @property
    def source(self) -> str:
        """What the codes come from, e.g. "simple-icd-10-cm 1.5.0" (the April 2026 tabular list)."""
        return self.index.source

    def link(self, mention: str, k: int = 5, context: str | None = None) -> list[Concept]:
        """The ``k`` best billable codes for ``mention``, best first; [] when nothing matches well.

        ``context``: extra words that qualify the mention (its site, acuity); codes that contain them rank
        higher. Negation and other traits are not context: they do not change the codes.

        A stage ("stage IIIA", "stage 2") counts only where the tabular list stages what the mention
        names: chronic kidney disease and pressure ulcers have a code per stage, cancers and hypertension
        do not, so "Stage IIIA adenocarcinoma" had linked to N18.31 (CKD stage 3a) and "stage 2
        hypertension" to L89.92. The staged reading is kept when its best code shares the three-character
        category of the reading without the stage (N18.30 and N18.9).

        Without context, a mention that is only a generic word links as the 'alone' table of
        abbreviations.json says ("necrosis" as gangrene, I96; a bare "lesion" gets no code).
        """
        if not isinstance(mention, str):
            raise InputError(f"an ICD-10-CM mention must be text, not {type(mention).__name__}")
        if k < 1 or not mention.strip():
            return []
        if not context:  # with a site the word is no longer alone: "hematoma" + "retroperitoneal" is K68.3
            self.warm_up()
            assert self._vocabulary is not None
            mention = self._vocabulary.alone_text(mention)
            if mention is None:
                return []
        staged = self._link(mention, k, context)
        rest = _STAGE.sub(" ", mention)
        if rest == mention or not any(c.isalpha() for c in rest):
            return staged
        plain = self._link(rest, k, context)
        return staged if staged and plain and staged[0].code[:3] == plain[0].code[:3] else plain

    def _link(self, mention: str, k: int, context: str | None) -> list[Concept]:
        index = self.index
        assert self._vocabulary is not None
        vocab = self._vocabulary
        terms = vocab.terms(vocab.with_defaults(mention), mention=True)
        if not terms:
            return []
        extra = vocab.terms(vocab.with_defaults(context, mention), mention=True) if context else []
        seen = {t.stem for t in terms}
        extra = [t for t in extra if t.stem not in seen]

        n = index.n_forms
        matched_q = np.zeros(n, dtype=np.float32)  # the mention's weight each form covers
        matched_d = np.zeros(n, dtype=np.float32)  # the form's weight the mention (and context) covers
        matched_c = np.zeros(n, dtype=np.float32)  # the context's weight each form covers
        q_total = context_total = 0.0
        for term, is_context in [*((t, False) for t in terms), *((t, True) for t in extra)]:
            ids = [index.vocab[s] for s in sorted(vocab.synonyms.get(term.stem, {term.stem})) if s in index.vocab]
            likeness = 1.0
            if not ids:
                ids, likeness = self._near(term.stem)
            if not ids:
                if not is_context:
                    # An unknown word still counts against every code: the mention says something the
                    # tabular list never does. Weighted like the rarest known word.
                    q_total += float(index.idf.max())
                continue
            q_weight = max(term_weight(float(index.idf[i]), term, vocab.site) for i in ids)
            forms, d_weights = _postings(index, ids)
            if is_context:
                context_total += q_weight * CONTEXT_FACTOR
                matched_c[forms] += q_weight * CONTEXT_FACTOR * likeness
            else:
                q_total += q_weight
                matched_q[forms] += q_weight * likeness
            matched_d[forms] += d_weights
        candidates = np.flatnonzero(matched_q)
        if not len(candidates) or q_total <= 0:
            return []
        recall = (matched_q[candidates] + matched_c[candidates]) / (q_total + context_total)
        precision = np.minimum(matched_d[candidates] / index.form_weight[candidates], 1.0)
        scores = f_score(recall, precision)
        if len(candidates) > POOL:
            top = np.argpartition(-scores, POOL)[:POOL]
            candidates, scores = candidates[top], scores[top]
        # Best score first; ties in tabular-list order, so the result never depends on hash order.
        order = np.lexsort((index.form_code[candidates], -np.round(scores, 6)))
        want = max(k, self.rerank_pool) if self.reranker else k
        out: list[Concept] = []
        taken: set[int] = set()
        for i in order:
            code = int(index.form_code[candidates[i]])
            score = float(scores[i])
            if score < self.min_score:
                break
            if code in taken:
                continue
            taken.add(code)
            out.append(Concept(code=index.codes[code], description=index.descriptions[code], score=round(score, 4)))
            if len(out) == want:
                break
        if self.reranker and out:
            out = self.reranker(mention if not context else f"{mention} ({context})", out)
        return out[:k]

    def _near(self, stem: str) -> tuple[list[int], float]:
        """A misspelt word's closest known word ("pnuemonia" -> "pneumonia") and how alike they are."""
        if len(stem) < FUZZY_MIN_LENGTH or not stem.isalpha():  # short words are abbreviations, not typos
            return [], 0.0
        hit = self._fuzzy_cache.get(stem)
        if hit is None:
            found = rf_process.extractOne(stem, self._choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            hit = (self.index.vocab[found[0]], found[1] / 100) if found else (-1, 0.0)
            if len(self._fuzzy_cache) > 50_000:
                self._fuzzy_cache.clear()
            self._fuzzy_cache[stem] = hit
        return ([hit[0]], hit[1]) if hit[0] >= 0 else ([], 0.0)


def _postings(index: Index, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Forms holding any of the term ids (synonyms), each once, with its best weight among them."""
    if len(ids) == 1:
        lo, hi = index.indptr[ids[0]], index.indptr[ids[0] + 1]
        return index.postings[lo:hi], index.posting_weights[lo:hi]
    forms = np.concatenate([index.postings[index.indptr[i]:index.indptr[i + 1]] for i in ids])
    weights = np.concatenate([index.posting_weights[index.indptr[i]:index.indptr[i + 1]] for i in ids])
    order = np.lexsort((-weights, forms))
    forms, weights = forms[order], weights[order]
    first = np.ones(len(forms), dtype=bool)
    first[1:] = forms[1:] != forms[:-1]
    return forms[first], weights[first]


_default_lock = threading.Lock()


@lru_cache(maxsize=4)
def _linker_for(cache_dir: Path) -> Icd10Linker:
    return Icd10Linker(cache_dir=cache_dir)


def default_linker(settings: Settings | None = None) -> Icd10Linker:
    """One shared linker per cache folder (the settings' cache_dir); its index loads on first use."""
    cache_dir = (settings or Settings()).cache_dir
    with _default_lock:
        return _linker_for(Path(cache_dir))


def link_document(doc: Document, text: str, linker: Icd10Linker | None = None, k: int = 5) -> Document:
    """A copy of ``doc`` whose MEDICAL_CONDITION entities carry their top-``k`` ICD-10-CM concepts.

    ``text`` is the note the document was extracted from; a condition whose span does not match it is
    an InputError (the document belongs to another note). The entity's SYSTEM_ORGAN_SITE, ACUITY and
    DIRECTION attributes are passed as context. Traits such as NEGATION do not change the codes:
    like Comprehend Medical, a negated condition is still coded and the trait says it is negated.
    """
    linker = linker or default_linker()
    conditions = sorted((e for e in doc.entities if e.category == "MEDICAL_CONDITION"), key=lambda e: e.begin_offset)
    organs = _organ_headings(doc, text)
    following = {a.id: b for a, b in zip(conditions, conditions[1:], strict=False)}
    entities = []
    for e in doc.entities:
        if e.category != "MEDICAL_CONDITION":
            entities.append(e)
            continue
        if text[e.begin_offset:e.end_offset] != e.text:
            raise InputError(f"entity {e.id} ({e.begin_offset}-{e.end_offset}) does not match the note text")
        context = " ".join(a.text for a in e.attributes if a.type in CONTEXT_TYPES) or None
        # a stage written just before the span counts where the condition is staged ("stage 2 pressure ulcer")
        stage = _STAGE_BEFORE.search(text, max(0, e.begin_offset - 16), e.begin_offset)
        start = stage.start() if stage else e.begin_offset
        concepts = linker.link(text[start:e.end_offset], k, context)
        at = bisect_right(organs, (e.begin_offset, "\uffff")) - 1
        if (at >= 0 and "\n" not in text[organs[at][0]:e.begin_offset]
                and (not concepts or concepts[0].score < ORGAN_BELOW)
                and not any(a.type == "SYSTEM_ORGAN_SITE" for a in e.attributes)):
            # a generic finding on a report's organ line takes the organ as its site ("Kidneys: 4 mm calculus",
            # "Liver: simple cyst" K76.89, not an ovarian cyst); a specific one keeps its code ("Gallbladder:
            # ... acute cholecystitis" stays K81.0 rather than a gallstone code that names the gallbladder)
            context = " ".join(filter(None, (context, organs[at][1])))
            concepts = linker.link(text[start:e.end_offset], k, context)
        after = following.get(e.id)
        if concepts and after is not None and _WITH.fullmatch(text, e.end_offset, after.begin_offset):
            concepts = _combination(linker, text[start:after.end_offset], concepts, k, context)
        elif concepts and (tail := _WITH_WORDS.match(text, e.end_offset) or _TAIL_WORDS.match(text, e.end_offset)):
            # "COPD with acute exacerbation", "COPD exacerbation": the second part need not be an entity
            concepts = _combination(linker, text[start:tail.end()], concepts, k, context)
        entities.append(e.model_copy(update={"icd10cm_concepts": concepts}))
    return doc.model_copy(update={"entities": entities})


def _organ_headings(doc: Document, text: str) -> list[tuple[int, str]]:
    """(offset, text) of ANATOMY entities that open their line as a label ("Liver:", "- Kidneys:"), sorted."""
    out = []
    for a in doc.entities:
        if a.category == "ANATOMY":
            line_start = text.rfind("\n", 0, a.begin_offset) + 1
            label = text[a.end_offset:a.end_offset + 2].lstrip(" ")[:1] == ":"
            if label and not text[line_start:a.begin_offset].strip(" \t-*•"):
                out.append((a.begin_offset, a.text))
    return sorted(out)


_STAGE_BEFORE = re.compile(r"\bstage\s+(?:[0-4]|i{1,3}|iv)[a-c]?\s+$", re.IGNORECASE)
_STAGE = re.compile(r"\bstage\s+(?:[0-4]|i{1,3}|iv)[a-c]?\b", re.IGNORECASE)
# "Type 2 diabetes mellitus with hyperglycemia": two conditions that ICD-10-CM codes as one (E11.65).
_WITH = re.compile(r"\s+with\s+", re.IGNORECASE)
# one or two words that end the phrase right after the condition ("COPD exacerbation" -> J44.1)
_TAIL_WORDS = re.compile(r"(?:[ \t]+[A-Za-z][A-Za-z\-]*){1,2}(?=[ \t]*(?:[.,;:)\n]|$))")
_WITH_WORDS = re.compile(r"[ \t]+with(?:[ \t]+[A-Za-z][A-Za-z\-]*){1,3}(?=[ \t]*(?:[.,;:)\n]|$))", re.IGNORECASE)
COMBINATION_MIN_SCORE = 0.9
ORGAN_BELOW = 0.95


def _combination(linker: Icd10Linker, phrase: str, own: list[Concept], k: int, context: str | None) -> list[Concept]:
    """The codes of "A with B" for A, when they are a combination code of A's own category.

    The tabular list codes many conditions together with what they come with (diabetes with its
    complications, COPD or asthma with exacerbation); a coder must use that code. It is taken only when
    "A with B" matches a code nearly word for word and that code sits in the same three-character
    category as A's own best code: "headache with nausea" is no code of headache's (R11.2 is nausea's).
    B, when it is an entity, keeps its own codes; "with acute exacerbation" (COPD, J44.1) needs none.
    """
    combined = linker.link(phrase, k, context)
    if combined and combined[0].score >= COMBINATION_MIN_SCORE and combined[0].code[:3] == own[0].code[:3] \
            and combined[0].code != own[0].code:
        return combined
    return own
