"""Named-entity recognition as extraction: the model lists mention strings, bedside finds them.

- loader ``iob``: CoNLL/IOB files (``token<TAB>tag``, a blank line between sentences), read by
  ``bedside.ner.data.read_iob``. One item per sentence: {sentence} is its tokens joined by single
  spaces; the gold is the list of entity spans as ``[start, end)`` character offsets into it (every
  entity type of the file counts: the corpora here annotate one type each). A bad line drops its
  sentence, reported with file and line.
- parser ``mentions``: a JSON list of strings (or ``{"mentions": [...]}``), under free decoding the
  first such list in the text; anything else is unparsed.
- metrics ``strict_f1`` and ``partial_f1``: the mentions are located in the sentence and scored as
  spans (below), with counts pooled over the corpus.
- pipeline adapter ``mentions``: bedside's Extractor's entities of the task's categories, widened to
  whole tokens, as mention strings: the same answer form as a generative model's.

Locating (token-bounded, case-insensitive): a mention matches wherever its characters, whitespace
ignored, run from the start of a token to the end of a token, so "BRCA1-associated" finds the
tokens "BRCA1 - associated" but "cancer" never matches inside "cancers". A listed string marks every
occurrence: a list of strings cannot say which occurrence was meant, and the same disease name twice
in one sentence is in practice two mentions. A string found nowhere in the sentence (paraphrased,
invented, cut mid-word) is one false positive: it is a mention the model claimed that is not there.

Scores (SemEval-2013 task 9.1 definitions, as ``bedside.ner.metrics``): strict counts a predicted
span correct when both boundaries equal a gold span's; partial also gives half credit to a
prediction that overlaps a gold span. Each gold span is matched at most once, exact matches first,
then overlaps in order of position, so the result never depends on the order of the list:

    strict P = C / predicted   R = C / gold          F1 = 2C / (predicted + gold)
    partial P = (C + ½Pa) / predicted   R = (C + ½Pa) / gold   F1 = 2(C + ½Pa) / (predicted + gold)

A corpus with no gold span and no prediction has no F1 (None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bedside.evaluation.loaders import FieldRules, Item, LoaderDef, Malformed, Records, register_loader
from bedside.evaluation.metrics import Metric, register_metric
from bedside.evaluation.parsers import register_parser
from bedside.evaluation.pipelines import Adapter, register_adapter

Span = tuple[int, int]
Counts = tuple[int, int, int, int]  # exact, partial, predicted, gold


# -- loader --------------------------------------------------------------------------------------
def read_iob_items(path: Path, options: dict[str, Any]) -> Records:
    from bedside.ner.data import read_iob

    corpus = read_iob(path, options.get("category"))
    prefix = f"{path}:"
    for problem in corpus.problems:  # "PATH:LINE: what" (the reader's form)
        line, _, reason = problem.removeprefix(prefix).partition(": ")
        yield int(line), Malformed(str(path), int(line), reason)
    for example in corpus.examples:
        line = int(example.source.rsplit(":", 1)[1])
        spans = sorted({(s.start, s.end) for s in example.spans})
        answer = json.dumps([example.text[b:e] for b, e in spans], ensure_ascii=False)
        yield line, Item(id=f"line-{line}", fields={"sentence": example.text}, gold=[[b, e] for b, e in spans],
                         source=f"{path}:{line}", line=line, answer=answer)


register_loader(LoaderDef("iob", read_iob_items, FieldRules(id=None, gold="spans", options=None),
                          options=frozenset({"category"}), structured=True))


# -- parser --------------------------------------------------------------------------------------
_LIST = re.compile(r"\[[^\[\]]*\]", re.DOTALL)


def _string_list(value: Any, key: str) -> list[str] | None:
    if isinstance(value, dict) and isinstance(value.get(key), list):
        value = value[key]
    if not isinstance(value, list):
        return None
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def json_string_list(text: str, key: str) -> list[str] | None:
    """A JSON list of strings (or an object holding one under ``key``); in prose, the first such list."""
    try:
        return _string_list(json.loads(text), key)
    except json.JSONDecodeError:
        pass
    for match in _LIST.finditer(text):
        try:
            found = _string_list(json.loads(match.group(0)), key)
        except json.JSONDecodeError:
            continue
        if found is not None:
            return found
    return None


@register_parser("mentions")
def parse_mentions(text: str, choices: Sequence[str]) -> list[str] | None:
    return json_string_list(text, "mentions")


# -- locating and scoring ------------------------------------------------------------------------
def _fold(text: str) -> str:
    # Lower-case character by character, keeping length (offsets must map back one to one).
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


def token_bounds(sentence: str) -> tuple[set[int], set[int]]:
    """Token start and end offsets of a sentence whose tokens are joined by single spaces."""
    starts, ends, pos = set(), set(), 0
    for token in sentence.split(" "):
        if token:
            starts.add(pos)
            ends.add(pos + len(token))
        pos += len(token) + 1
    return starts, ends


def locate(mentions: Iterable[str] | None, sentence: str) -> set[Span]:
    """Every token-bounded, case-insensitive occurrence of each mention (whitespace ignored)."""
    return located(mentions, sentence)[0]


def located(mentions: Iterable[str] | None, sentence: str) -> tuple[set[Span], int]:
    """(the spans of the mentions, how many distinct mentions were found nowhere)."""
    if not mentions:
        return set(), 0
    starts, ends = token_bounds(sentence)
    where = [i for i, c in enumerate(sentence) if c != " "]
    squashed = _fold("".join(sentence[i] for i in where))
    spans: set[Span] = set()
    missing = 0
    for key in {_fold("".join(m.split())) for m in mentions if isinstance(m, str)} - {""}:
        found = False
        i = squashed.find(key)
        while i != -1:
            begin, end = where[i], where[i + len(key) - 1] + 1
            if begin in starts and end in ends:
                spans.add((begin, end))
                found = True
            i = squashed.find(key, i + 1)
        missing += not found
    return spans, missing


def span_counts(pred: Any, gold: Any, fields: dict[str, str] | None) -> Counts:
    """(exact, partial, predicted, gold) for one sentence; pred is a mention list or None (unparsed)."""
    sentence = (fields or {}).get("sentence", "")
    spans, missing = located(pred, sentence) if isinstance(pred, list) else (set(), 0)
    predicted = sorted(spans)
    golds = sorted({(int(b), int(e)) for b, e in gold or []})
    exact = set(predicted) & set(golds)
    free = [g for g in golds if g not in exact]
    partial = 0
    for p in predicted:
        if p in exact:
            continue
        hit = next((g for g in free if p[0] < g[1] and g[0] < p[1]), None)
        if hit is not None:
            partial += 1
            free.remove(hit)
    return len(exact), partial, len(predicted) + missing, len(golds)


def _f1(counts: Iterable[Counts], half: bool) -> float | None:
    exact = partial = predicted = gold = 0
    for c, pa, p, g in counts:
        exact, partial, predicted, gold = exact + c, partial + pa, predicted + p, gold + g
    if predicted + gold == 0:
        return None
    return 2 * (exact + (0.5 * partial if half else 0)) / (predicted + gold)


def _corpus(half: bool):
    def corpus(preds: Sequence[Any], golds: Sequence[Any], inputs: Sequence[dict[str, str]]) -> float | None:
        return _f1((span_counts(p, g, f) for p, g, f in zip(preds, golds, inputs, strict=True)), half)

    def resampler(preds: Sequence[Any], golds: Sequence[Any], inputs: Sequence[dict[str, str]]):
        counts = [span_counts(p, g, f) for p, g, f in zip(preds, golds, inputs, strict=True)]
        return lambda idx: _f1((counts[i] for i in idx), half)

    return corpus, resampler


for _name, _half, _what in (("strict_f1", False, "exact boundaries"),
                            ("partial_f1", True, "exact, or half credit for an overlap")):
    _c, _r = _corpus(_half)
    register_metric(Metric(_name, True, f"entity-span F1 over the corpus ({_what}); mentions located in the "
                                        "sentence", corpus=_c, resampler=_r, uses_inputs=True))


# -- pipeline adapter ----------------------------------------------------------------------------
def pipeline_mentions(document: Any, text: str, options: dict[str, Any]) -> list[str]:
    """The document's entities of ``options["categories"]``, widened to whole tokens, as strings."""
    categories = set(options.get("categories") or ())
    starts, ends = token_bounds(text)
    out: list[str] = []
    for entity in document.entities:
        if entity.category not in categories:
            continue
        begin = max((s for s in starts if s <= entity.begin_offset), default=entity.begin_offset)
        end = min((e for e in ends if e >= entity.end_offset), default=entity.end_offset)
        mention = text[begin:end]
        if mention and mention not in out:
            out.append(mention)
    return out


register_adapter(Adapter("mentions", pipeline_mentions,
                         description="entities of the given categories as mention strings"))
