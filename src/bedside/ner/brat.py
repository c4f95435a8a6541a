"""BRAT standoff: ``doc.txt`` plus ``doc.ann`` with text-bound lines ``T1<TAB>Type start end<TAB>text``.

Choices, since token classification needs flat, contiguous spans:
- Discontinuous spans (``Type 0 5;12 16``): ``outer`` (default) keeps one span from the first start
  to the last end, so the mention stays one entity; ``split`` makes one entity per fragment.
- Overlapping spans (nested mentions, or overlaps a discontinuous outer extent creates): the longest
  is kept, the others are dropped and counted in ``Corpus.counts``.
- Only ``T`` lines are read; relations, events, attributes, notes and comments are ignored.
- Documents are cut into sentences at line breaks and after ``.!?`` + whitespace, never inside a span.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from bedside.errors import InputError
from bedside.ner.data import Corpus, CorpusRef, Example, Span, read_text, report, sha256_path
from bedside.ner.labels import map_type

Discontinuous = Literal["outer", "split"]
_OFFSETS = re.compile(r"^\d+ \d+(?:;\d+ \d+)*$")
_BOUNDARY = re.compile(r"\n\s*|(?<=[.!?])\s+")


def read_brat(
    path: Path, category: str | None = None, *, strict: bool = False, discontinuous: Discontinuous = "outer"
) -> Corpus:
    """Read a folder of ``.ann``/``.txt`` pairs (searched recursively) or one pair (either file)."""
    if path.is_dir():
        anns = sorted(path.rglob("*.ann"))
        if not anns:
            raise InputError(f"no .ann files under {path}")
    else:
        anns = [path.with_suffix(".ann")]
    corpus = Corpus(CorpusRef(path, category), [], sha256=sha256_path(path))
    corpus.counts = {"documents": 0, "discontinuous": 0, "overlaps_dropped": 0}
    seen: set[str] = set()
    for ann in anns:
        txt = ann.with_suffix(".txt")
        if not txt.exists():
            raise InputError(f"{ann}: no matching text file {txt.name}")
        text = read_text(txt)
        spans = _read_ann(ann, text, category, strict, discontinuous, corpus, seen)
        corpus.examples += _sentences(text, spans, str(txt))
        corpus.counts["documents"] += 1
    annotated = frozenset([category]) if category else frozenset(map_type(t, None) for t in seen)
    for ex in corpus.examples:
        ex.annotated = annotated
    return corpus


def _read_ann(
    ann: Path, text: str, category: str | None, strict: bool, discontinuous: Discontinuous,
    corpus: Corpus, seen: set[str],
) -> list[Span]:
    spans: list[Span] = []
    for lineno, line in enumerate(read_text(ann).splitlines(), start=1):
        if not line.startswith("T"):
            continue
        where = f"{ann}:{lineno}"
        fields = line.split("\t")
        if len(fields) != 3 or " " not in fields[1]:
            report(f"{where}: expected T<id><TAB>Type start end<TAB>text", corpus.problems, strict)
            continue
        etype, offsets = fields[1].split(" ", 1)
        if not _OFFSETS.match(offsets):
            report(f"{where}: invalid offsets '{offsets[:40]}' (want 'start end' or 'start end;start end')",
                   corpus.problems, strict)
            continue
        frags = [tuple(int(x) for x in part.split()) for part in offsets.split(";")]
        if any(s >= e or e > len(text) for s, e in frags):
            report(f"{where}: offsets {offsets} out of range for {len(text)}-character text",
                   corpus.problems, strict)
            continue
        # BRAT writes a discontinuous mention's text as its fragments joined by a space.
        if " ".join(text[s:e] for s, e in frags) != fields[2]:
            report(f"{where}: annotation text does not match the .txt at {offsets}", corpus.problems, strict)
            continue
        seen.add(etype)
        label = map_type(etype, category)
        if len(frags) > 1:
            corpus.counts["discontinuous"] += 1
        if len(frags) > 1 and discontinuous == "outer":
            frags = [(min(s for s, _ in frags), max(e for _, e in frags))]
        spans += [Span(s, e, label) for s, e in frags]
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, s.start)):  # longest first
        if any(k.start < span.end and span.start < k.end for k in kept):
            corpus.counts["overlaps_dropped"] += 1
        else:
            kept.append(span)
    return sorted(kept)


def _sentences(text: str, spans: list[Span], source: str) -> list[Example]:
    cuts = [0]
    for m in _BOUNDARY.finditer(text):
        if not any(s.start < m.end() and m.start() < s.end for s in spans):
            cuts.append(m.end())
    cuts.append(len(text))
    out: list[Example] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        chunk = text[a:b]
        lead = len(chunk) - len(chunk.lstrip())
        start, end = a + lead, a + len(chunk.rstrip())
        if start >= end:
            continue
        inside = tuple(Span(s.start - start, s.end - start, s.label) for s in spans if start <= s.start < end)
        line = text.count("\n", 0, start) + 1
        out.append(Example(text[start:end], inside, frozenset(), f"{source}:{line}"))
    return out
