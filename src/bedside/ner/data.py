"""Corpora as text with character spans, read from CoNLL/IOB TSV (here) or BRAT standoff (``brat``).

Every reader produces :class:`Example` objects: a text, its entity spans (character offsets, end
exclusive) and the set of categories the corpus annotates. That last set is what lets training
tell "not an entity" from "not annotated": a sentence from a disease-only corpus says nothing about
the chemicals in it.

Malformed input is reported as ``file:line: problem``. By default the sentence (IOB) or annotation
(BRAT) that holds it is skipped and counted; with ``strict`` the first one raises InputError.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from bedside import textio
from bedside.errors import InputError
from bedside.ner.labels import check_category, map_type

_TAG = re.compile(r"^(?:O|([BI])(?:-(.+))?)$")
_TYPE_SUFFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int  # exclusive
    label: str


@dataclass
class Example:
    text: str
    spans: tuple[Span, ...]
    annotated: frozenset[str]  # categories this example's corpus annotates
    source: str = ""  # file:line where it starts (for messages; never the text)


@dataclass(frozen=True)
class CorpusRef:
    """One corpus on the command line: ``PATH`` or ``PATH:CATEGORY`` (every entity becomes CATEGORY)."""

    path: Path
    category: str | None = None

    @classmethod
    def parse(cls, arg: str) -> CorpusRef:
        head, sep, tail = arg.rpartition(":")
        if sep and head and _TYPE_SUFFIX.match(tail):
            return cls(Path(head), check_category(tail))
        return cls(Path(arg), None)

    @property
    def name(self) -> str:
        """A short name for reports: ``ncbi_disease/dev`` for ``.../ncbi_disease/dev.tsv``."""
        p = self.path
        return f"{p.parent.name}/{p.stem}" if p.suffix and p.parent.name else p.name

    def __str__(self) -> str:
        return f"{self.path}:{self.category}" if self.category else str(self.path)


@dataclass
class Corpus:
    ref: CorpusRef
    examples: list[Example]
    problems: list[str] = field(default_factory=list)  # file:line: message, one per skipped item
    sha256: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # reader-specific notes (BRAT: overlaps dropped...)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset().union(*(e.annotated for e in self.examples)) if self.examples else frozenset()

    def summary(self) -> dict[str, object]:
        return {
            "path": str(self.ref.path),
            "category": self.ref.category,
            "sha256": self.sha256,
            "sentences": len(self.examples),
            "entities": sum(len(e.spans) for e in self.examples),
            "skipped": len(self.problems),
            "categories": sorted(self.categories),
            **self.counts,
        }


def report(problem: str, problems: list[str], strict: bool) -> None:
    if strict:
        raise InputError(f"{problem} (rerun without --strict to skip such lines)")
    problems.append(problem)


def read_text(path: Path) -> str:
    return textio.read_text(path, "corpus file")


def read_iob(path: Path, category: str | None = None, *, strict: bool = False) -> Corpus:
    """CoNLL/IOB: ``token<TAB>tag`` per line (extra middle columns ignored), a blank line between sentences.

    Tags are ``O``, ``B``/``I`` (then ``category`` names the type) or ``B-Type``/``I-Type``. An ``I``
    that does not continue an entity of its type starts one (the conlleval convention). The text of
    a sentence is its tokens joined by single spaces, which is how the dev/test sentences are given.
    """
    ref = CorpusRef(path, category)
    examples: list[Example] = []
    problems: list[str] = []
    seen_types: set[str] = set()

    tokens: list[tuple[str, str | None, str | None]] = []  # token, B/I or None for O, corpus type
    start_line = 0
    bad = False

    def flush() -> None:
        nonlocal tokens, bad
        if tokens and not bad:
            examples.append(_iob_example(tokens, category, f"{path}:{start_line}", seen_types))
        tokens, bad = [], False

    for lineno, raw in enumerate(read_text(path).splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("-DOCSTART-"):
            flush()
            continue
        if not tokens and not bad:
            start_line = lineno
        cols = line.split("\t")
        if len(cols) < 2:
            bad = True
            report(f"{path}:{lineno}: expected token<TAB>tag, got {len(cols)} column", problems, strict)
            continue
        token, tag = cols[0], cols[-1].strip()
        m = _TAG.match(tag)
        if not token.strip() or m is None:
            bad = True
            what = "empty token" if not token.strip() else f"invalid tag '{tag[:20]}' (want O, B-X, I-X)"
            report(f"{path}:{lineno}: {what}", problems, strict)
            continue
        if m.group(1) and not m.group(2) and category is None:
            raise InputError(
                f"{path}:{lineno}: tag '{tag}' has no entity type; "
                f"name one on the command line ({path}:CATEGORY)"
            )
        tokens.append((token, m.group(1), m.group(2)))
    flush()
    annotated = frozenset([category]) if category else frozenset(map_type(t, None) for t in seen_types)
    for ex in examples:
        ex.annotated = annotated
    return Corpus(ref, examples, problems, sha256_path(path))


def _iob_example(
    tokens: list[tuple[str, str | None, str | None]], category: str | None, source: str, seen: set[str]
) -> Example:
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    open_start = -1
    open_end = -1
    open_type: str | None = None
    for token, bi, ctype in tokens:
        if parts:
            pos += 1  # the joining space
        begin, end = pos, pos + len(token)
        parts.append(token)
        pos = end
        continues = bi == "I" and open_type is not None and open_type == (ctype or "")
        if open_type is not None and not continues:
            spans.append(Span(open_start, open_end, map_type(open_type, category)))
            open_type = None
        if bi is None:
            continue
        if continues:
            open_end = end
        else:
            open_start, open_end, open_type = begin, end, ctype or ""
            if ctype:
                seen.add(ctype)
    if open_type is not None:
        spans.append(Span(open_start, open_end, map_type(open_type, category)))
    return Example(" ".join(parts), tuple(spans), frozenset(), source)


def read_corpus(ref: CorpusRef, *, strict: bool = False) -> Corpus:
    """Read a corpus given on the command line: a BRAT folder, a ``.ann``/``.txt`` pair, or an IOB file."""
    from bedside.ner import brat

    path = ref.path
    paired_txt = path.suffix == ".txt" and path.with_suffix(".ann").exists()
    if path.is_dir() or path.suffix == ".ann" or paired_txt:
        return brat.read_brat(path, ref.category, strict=strict)
    if not path.exists():
        raise InputError(f"corpus file not found: {path}")
    return read_iob(path, ref.category, strict=strict)


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder as the sorted (relative path, file sha256) list."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{f.relative_to(path)}\t{hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


@dataclass
class MergeStats:
    merged: int = 0  # examples folded into an identical text from an earlier corpus
    conflicts: int = 0  # spans dropped because they overlapped a span of another category


def merge(corpora: list[Corpus]) -> tuple[list[Example], MergeStats]:
    """Concatenate corpora, folding identical sentences from different corpora into one example.

    BC5CDR's disease and chemical files hold the same sentences, each labelled for one type;
    merged, each sentence carries both. Duplicates inside one corpus stay separate (they are real
    repetitions). Where spans of different corpora overlap, the earlier corpus's span is kept.
    """
    out: list[Example] = []
    stats = MergeStats()
    by_text: dict[str, list[int]] = {}  # text -> indices in out, in order
    for corpus in corpora:
        # Only examples of earlier corpora are candidates, each at most once per corpus.
        queue = {text: deque(idx) for text, idx in by_text.items()}
        for ex in corpus.examples:
            waiting = queue.get(ex.text)
            if waiting and not (out[waiting[0]].annotated & ex.annotated):
                target = out[waiting.popleft()]
                kept = list(target.spans)
                for span in ex.spans:
                    if any(s.start < span.end and span.start < s.end for s in kept):
                        stats.conflicts += 1
                    else:
                        kept.append(span)
                target.spans = tuple(sorted(kept))
                target.annotated = target.annotated | ex.annotated
                stats.merged += 1
            else:
                by_text.setdefault(ex.text, []).append(len(out))
                out.append(Example(ex.text, tuple(sorted(ex.spans)), ex.annotated, ex.source))
    return out, stats
