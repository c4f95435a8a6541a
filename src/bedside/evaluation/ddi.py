"""Drug–drug interaction classification (DDI corpus 2013, task 9.2): one item per drug pair.

- loader ``ddi_xml``: the corpus's XML files (a folder, searched recursively, or one file). Each
  ``<pair>`` of a ``<sentence>`` is an item: {sentence}, {marked} (the sentence with the pair's drugs
  wrapped in ``<e1>…</e1>`` and ``<e2>…</e2>``), {drug1}, {drug2}, {type1}, {type2} (drug, brand,
  group, drug_n). The gold is the pair's ``type`` (mechanism, effect, advise, int) when
  ``ddi="true"``, else ``none``. A file that is not well-formed XML (reported at the error's line),
  a pair naming an unknown entity, an interaction without a known type, or an entity offset outside
  its sentence is reported with file and line and skipped.
- metrics ``micro_f1_positive`` / ``macro_f1_positive``: F1 over the four interaction types, "none"
  excluded (the DDIExtraction 2013 measure): a pair predicted as a type counts for that type (true
  positive when right, false positive when wrong), a missed interaction as a false negative of its
  type; "none" on a pair without interaction counts nowhere.

Entity offsets are ``start-end`` with inclusive ends, discontinuous entities ``a-b;c-d``; a marker
wraps an entity's whole extent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.parsers import expat

from bedside.errors import InputError
from bedside.evaluation.loaders import FieldRules, Item, LoaderDef, Malformed, Records, register_loader
from bedside.evaluation.metrics import Metric, _f1_resampler, macro_f1, micro_f1, register_metric

NEGATIVE = "none"
TYPES = ("mechanism", "effect", "advise", "int")


# -- loader --------------------------------------------------------------------------------------
def _files(path: Path) -> list[Path]:
    files = sorted(path.rglob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"no .xml files under {path}")
    return files


def _parse(file: Path) -> tuple[list[dict[str, Any]], Malformed | None]:
    """The file's sentences (with entities and pairs, each with its line), or why it cannot be read."""
    sentences: list[dict[str, Any]] = []
    parser = expat.ParserCreate()

    def start(name: str, attrs: dict[str, str]) -> None:
        line = parser.CurrentLineNumber
        if name == "sentence":
            sentences.append({"id": attrs.get("id", ""), "text": attrs.get("text", ""), "line": line,
                              "entities": {}, "pairs": []})
        elif name == "entity" and sentences:
            sentences[-1]["entities"][attrs.get("id", "")] = {**attrs, "line": line}
        elif name == "pair" and sentences:
            sentences[-1]["pairs"].append({**attrs, "line": line})

    def no_entities(*_: Any) -> None:  # entity declarations can expand without bound: refuse them
        raise ValueError("XML entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EntityDeclHandler = no_entities
    try:
        parser.Parse(file.read_bytes(), True)
    except expat.ExpatError as exc:
        return [], Malformed(str(file), exc.lineno, f"not well-formed XML: {expat.errors.messages[exc.code]}")
    except ValueError as exc:
        return [], Malformed(str(file), parser.CurrentLineNumber, str(exc))
    return sentences, None


def _extent(entity: dict[str, Any], text: str) -> tuple[int, int] | None:
    """[start, end) of an entity's whole extent, or None for an offset that does not fit the sentence."""
    bounds = []
    for part in str(entity.get("charOffset", "")).split(";"):
        begin, sep, end = part.partition("-")
        if not sep or not begin.strip().isdigit() or not end.strip().isdigit():
            return None
        b, e = int(begin), int(end) + 1
        if not 0 <= b < e <= len(text):
            return None
        bounds.append((b, e))
    return min(b for b, _ in bounds), max(e for _, e in bounds)


def _marked(text: str, e1: tuple[int, int], e2: tuple[int, int]) -> str:
    # Closing tags before opening ones at the same offset: adjacent drugs stay separate.
    inserts = sorted([(e1[0], 1, "<e1>"), (e1[1], 0, "</e1>"), (e2[0], 1, "<e2>"), (e2[1], 0, "</e2>")])
    out, pos = [], 0
    for offset, _, tag in inserts:
        out += [text[pos:offset], tag]
        pos = offset
    return "".join(out) + text[pos:]


def _pairs(file: Path, sentence: dict[str, Any]) -> Iterator[Item | Malformed]:
    text = sentence["text"]
    for pair in sentence["pairs"]:
        line = pair["line"]
        ents = [sentence["entities"].get(pair.get(k, "")) for k in ("e1", "e2")]
        if None in ents:
            yield Malformed(str(file), line, "pair refers to an entity its sentence does not have")
            continue
        extents = [_extent(e, text) for e in ents]
        if None in extents:
            yield Malformed(str(file), line, "an entity of the pair has a charOffset outside its sentence")
            continue
        ddi = pair.get("ddi", "").lower()
        label = pair.get("type", "").lower() if ddi == "true" else NEGATIVE
        if ddi not in ("true", "false"):
            yield Malformed(str(file), line, "the pair's ddi attribute is neither true nor false")
            continue
        if label not in (*TYPES, NEGATIVE):
            yield Malformed(str(file), line, f"interaction without a known type (want one of: {', '.join(TYPES)})")
            continue
        (b1, x1), (b2, x2) = extents
        fields = {"sentence": text, "marked": _marked(text, (b1, x1), (b2, x2)),
                  "drug1": ents[0].get("text") or text[b1:x1], "drug2": ents[1].get("text") or text[b2:x2],
                  "type1": ents[0].get("type", ""), "type2": ents[1].get("type", "")}
        yield Item(id=pair.get("id") or f"{file.name}:{line}", fields=fields, gold=label, source=f"{file}:{line}",
                   line=line)


def read_ddi(path: Path, options: dict[str, Any]) -> Records:
    for file in _files(path):
        sentences, problem = _parse(file)
        if problem is not None:
            yield problem.line, problem
            continue
        for sentence in sentences:
            for record in _pairs(file, sentence):
                yield record.line, record


def ddi_sha256(path: Path, options: dict[str, Any]) -> str:
    """Every XML file read: (relative path, sha256) lines in path order."""
    digest = hashlib.sha256()
    for file in _files(path):
        name = file.relative_to(path) if path.is_dir() else file.name
        digest.update(f"{name}\t{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


register_loader(LoaderDef("ddi_xml", read_ddi, FieldRules(id=None, gold="type", options=None),
                          structured=True, folder=True, fingerprint=ddi_sha256))


# -- metrics -------------------------------------------------------------------------------------
def _positive(labels: Sequence[Any]) -> list[Any]:
    """"none" becomes the empty label set; unparsed (None) stays None (a miss, never a false positive)."""
    return [[] if label == NEGATIVE else label for label in labels]


def micro_f1_positive(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    return micro_f1(_positive(preds), _positive(golds))


def macro_f1_positive(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    return macro_f1(_positive(preds), _positive(golds))


def _resampler(average: str):
    prepare = _f1_resampler(average)
    return lambda preds, golds: prepare(_positive(preds), _positive(golds))


register_metric(Metric("micro_f1_positive", True, "micro-F1 over every label except 'none' (DDI 2013)",
                       corpus=micro_f1_positive, resampler=_resampler("micro")))
register_metric(Metric("macro_f1_positive", True, "mean per-class F1 over the labels except 'none'",
                       corpus=macro_f1_positive, resampler=_resampler("macro")))
