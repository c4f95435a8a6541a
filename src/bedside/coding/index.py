"""The ICD-10-CM term index: every billable code with the texts that name it, as an inverted index.

Texts ("forms") come from the official tabular list shipped by ``simple-icd-10-cm``: each code's
description, inclusion terms and "includes" notes. A non-billable code's texts ("Diabetes NOS" under
E11) are attached to its default billable descendant, the one whose own description matches the
category's best (E11 -> E11.9 "... without complications"), so the linker only ever returns billable
codes. Term weights are inverse document frequencies over the forms (seven-character codes left out),
scaled down for parenthetical modifiers, default-stating filler and site words (see ``text.py``).

A cold build (parsing the tabular XML, then ~112,000 texts) took 13 s on a busy 2-core machine, so the
arrays are cached as one ``.npz`` under the settings' cache_dir, keyed by the package version and a hash
of the word files and of this code; loading the cache took 0.03 s (benchmarks/results/icd10_linking.md).
No pickle: strings are stored as UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from bedside.coding import text as text_module
from bedside.coding.text import Kind, Term, Vocabulary

log = logging.getLogger("bedside.coding")

PACKAGE = "simple-icd-10-cm"
_PAIR = re.compile(r"^([A-Za-z-]+) and ([A-Za-z-]+)$")
# The .npz layout, checked on load (the cache file name already changes with this code and the data).
FORMAT = 1
# A description's weight counts its words by kind. Parenthetical words are nonessential modifiers
# ("Hypertension (arterial) (benign) (essential)" is just "hypertension"): they count for a mention that
# says them and barely count against one that does not (a hair, so that "Myelofibrosis" beats
# "Myelofibrosis (idiopathic) (with myeloid metaplasia)" for the mention "myelofibrosis"). Filler counts a
# little more, so that of two otherwise equal texts the one without "unspecified" wins.
KIND_FACTOR = {Kind.NORMAL: 1.0, Kind.PAREN: 0.01, Kind.FILLER: 0.05}
SITE_FACTOR = 0.5
# A word that narrows a code to a population or circumstance ("pregnancy", "newborn", "congenital",
# "injury", "postprocedural") is common in the tabular list, so its IDF is low and a description barely
# pays for it when the mention lacks it: "diabetes mellitus" had linked to O24.919 (in pregnancy) and
# "septic shock" to T81.12XA (postprocedural). In descriptions such words weigh as much as a rare word.
# CodiEsp dev English top-1 / top-5 (benchmarks/icd10_linking.py): none 59.0 / 67.3; weight 5: 59.4 / 67.5;
# 8: 59.4 / 67.6; 11: 59.4 / 67.9.
MARKED_WEIGHT = 11.0
# F-beta between the mention's coverage (recall) and the description's coverage (precision): beta > 1
# leans to recall, so a description may say a little more than the mention (the code's defaults).
BETA = 1.5


def f_score(recall, precision):
    """F-beta of arrays or floats; callers pass recall > 0."""
    b2 = BETA * BETA
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def term_weight(idf: float, term: Term, site: frozenset[str]) -> float:
    factor = KIND_FACTOR[term.kind]
    if term.kind == Kind.NORMAL and term.stem in site:
        factor *= SITE_FACTOR
    return idf * factor


def package_version() -> str:
    return metadata.version(PACKAGE)


@dataclass
class Index:
    codes: list[str]  # billable codes with the dot (E11.65)
    descriptions: list[str]
    vocab: dict[str, int]  # stem -> term id
    idf: np.ndarray  # float32 [terms]
    indptr: np.ndarray  # int64 [terms + 1]: term t's postings are postings[indptr[t]:indptr[t+1]]
    postings: np.ndarray  # int32 form ids
    posting_weights: np.ndarray  # float32: the term's weight in that form
    form_code: np.ndarray  # int32 [forms]: code index
    form_weight: np.ndarray  # float32 [forms]: sum of the form's term weights
    source: str  # "simple-icd-10-cm 1.5.0"

    @property
    def n_forms(self) -> int:
        return len(self.form_code)

    # -- cache ---------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "codes": _blob(self.codes), "descriptions": _blob(self.descriptions),
            "vocab": _blob(list(self.vocab)), "meta": _blob([json.dumps({"format": FORMAT, "source": self.source})]),
            "idf": self.idf, "indptr": self.indptr, "postings": self.postings,
            "posting_weights": self.posting_weights, "form_code": self.form_code, "form_weight": self.form_weight,
        }
        # Written under a temporary name and renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Index:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(_unblob(z["meta"])[0])
            if meta.get("format") != FORMAT:
                raise ValueError(f"index format {meta.get('format')} is not {FORMAT}")
            vocab = _unblob(z["vocab"])
            index = cls(
                codes=_unblob(z["codes"]), descriptions=_unblob(z["descriptions"]),
                vocab={s: i for i, s in enumerate(vocab)}, idf=z["idf"], indptr=z["indptr"], postings=z["postings"],
                posting_weights=z["posting_weights"], form_code=z["form_code"], form_weight=z["form_weight"],
                source=meta["source"],
            )
        if len(index.codes) != len(index.descriptions) or len(index.indptr) != len(vocab) + 1:
            raise ValueError("index arrays do not agree in length")
        return index


def _blob(items: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def _unblob(arr: np.ndarray) -> list[str]:
    return arr.tobytes().decode("utf-8").split("\n")


# The code that turns the tabular list into arrays, hashed once per process: part of the cache key, so an
# edited tokeniser never reads an index built by the old one.
_CODE_DIGEST = hashlib.sha256(Path(__file__).read_bytes() + Path(text_module.__file__).read_bytes()).hexdigest()


def cache_path(cache_dir: Path, vocabulary: Vocabulary) -> Path:
    """The cache file for this code release, these word files and this code."""
    h = hashlib.sha256(f"{package_version()}\0{vocabulary.digest}\0{_CODE_DIGEST}".encode()).hexdigest()
    return Path(cache_dir) / "icd10cm" / f"index-{package_version()}-{h[:16]}.npz"


def load_or_build(vocabulary: Vocabulary, cache_dir: Path | None) -> Index:
    """The index from the cache when there is a valid one, else built (and cached when cache_dir is set)."""
    path = cache_path(cache_dir, vocabulary) if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            return Index.load(path)
        except Exception as exc:  # truncated, foreign or from another numpy: rebuilding is always safe
            # (np.load raises BadZipFile, EOFError, ValueError or KeyError depending on the damage)
            log.warning("ICD-10-CM index cache %s is unreadable (%s); rebuilding it", path, exc)
    t0 = time.perf_counter()
    index = build(vocabulary)
    log.info("built the ICD-10-CM index (%d codes, %d texts) in %.1f s", len(index.codes), index.n_forms,
             time.perf_counter() - t0)
    if path is not None:
        try:
            index.save(path)
        except OSError as exc:  # a read-only cache costs the build time again, nothing else
            log.warning("could not cache the ICD-10-CM index at %s: %s", path, exc)
    return index


# -- build -------------------------------------------------------------------------------------


def build(vocabulary: Vocabulary) -> Index:
    with warnings.catch_warnings():  # its importlib.resources calls are deprecated; not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd  # parses the tabular XML on import

    # A category may share its name with the block around it (B20, C50): it is listed twice and
    # is_chapter_or_block() says True for it, so keep every name that is a (sub)category, once.
    items = [c for c in dict.fromkeys(icd.get_all_codes(True))
             if icd.is_category_or_subcategory(c) and not c.startswith(vocabulary.never)]
    is_leaf = {c: icd.is_leaf(c) for c in items}
    codes = [c for c in items if is_leaf[c]]
    code_id = {c: i for i, c in enumerate(codes)}
    descriptions = [" ".join(icd.get_description(c).split()) for c in codes]

    # One entry per (item, text); the item's own description first.
    texts: list[tuple[str, str]] = []
    for c in items:
        for text in [icd.get_description(c), *icd.get_inclusion_term(c), *icd.get_includes(c)]:
            texts.append((c, text))
            # "Anuria and oliguria", "Restlessness and agitation": the code stands for either word alone.
            if pair := _PAIR.match(text):
                texts.extend((c, word) for word in pair.groups())
    terms = [vocabulary.terms(text) for _, text in texts]

    # Document frequencies leave out the 51,000 seven-character codes: each repeats its parent's words
    # plus "initial encounter", "subsequent encounter", "sequela", which would make "encounter" look as
    # common as "of" and let "Encounter for screening for ..." codes pass for conditions.
    df: dict[str, int] = {}
    n = 0
    for (c, _), ts in zip(texts, terms, strict=True):
        extension = icd.is_extended_subcategory(c)
        n += not extension
        for t in ts:
            df[t.stem] = df.get(t.stem, 0) + (not extension)
    df = {s: max(v, 1) for s, v in df.items()}
    vocab = {s: i for i, s in enumerate(sorted(df))}
    idf = np.array([math.log(1 + (n - df[s] + 0.5) / (df[s] + 0.5)) for s in vocab], dtype=np.float32)

    def weights(ts: list[Term]) -> dict[str, float]:
        return {t.stem: max(term_weight(float(idf[vocab[t.stem]]), t, vocabulary.site),
                            MARKED_WEIGHT if t.kind == Kind.NORMAL and t.stem in vocabulary.marked else 0.0)
                for t in ts}

    form_weights = [weights(ts) for ts in terms]
    own = {c: form_weights[i] for i, (c, _) in reversed(list(enumerate(texts)))}  # each item's description
    default = _default_leaves(items, is_leaf, own, icd.get_children)

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    form_code: list[int] = []
    form_weight: list[float] = []
    for (c, _), w in zip(texts, form_weights, strict=True):
        if sum(w.values()) <= 0:  # nothing but parenthetical words: nothing a mention must match
            continue
        f = len(form_code)
        form_code.append(code_id[c if is_leaf[c] else default[c]])
        form_weight.append(sum(w.values()))
        for s, v in w.items():
            rows.append(vocab[s])
            cols.append(f)
            vals.append(v)
    order = np.argsort(np.asarray(rows, dtype=np.int32), kind="stable")
    term_of = np.asarray(rows, dtype=np.int32)[order]
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_of, minlength=len(vocab)), out=indptr[1:])
    return Index(
        codes=codes, descriptions=descriptions, vocab=vocab, idf=idf, indptr=indptr,
        postings=np.asarray(cols, dtype=np.int32)[order], posting_weights=np.asarray(vals, dtype=np.float32)[order],
        form_code=np.asarray(form_code, dtype=np.int32), form_weight=np.asarray(form_weight, dtype=np.float32),
        source=f"{PACKAGE} {package_version()}",
    )


def _default_leaves(items, is_leaf, own, children) -> dict[str, str]:
    """For each non-billable code, the billable descendant that stands for it when nothing more is said.

    Walks down from the code, at each level taking the child whose description matches the code's own
    best (ties: the first in tabular order): C50 "Malignant neoplasm of breast" -> C50.9 "... of
    unspecified site" -> C50.91 -> C50.919. Comparing with the leaves directly would pick
    "Malignant inflammatory neoplasm of unspecified breast", whose one extra word weighs less than the
    extra levels of detail the true default states.
    """

    def match(q: dict[str, float], d: dict[str, float]) -> float:
        shared = q.keys() & d.keys()
        if not shared or not sum(d.values()) or not sum(q.values()):
            return 0.0
        return f_score(sum(q[s] for s in shared) / sum(q.values()), sum(d[s] for s in shared) / sum(d.values()))

    default: dict[str, str] = {}
    for c in items:
        if is_leaf[c]:
            continue
        node = c
        while not is_leaf[node]:
            kids = children(node)
            node = max(kids, key=lambda k, q=own[c]: (match(q, own[k]), -kids.index(k)))
        default[c] = node
    return default
