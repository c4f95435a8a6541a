"""ICD-10 coding of clinical cases (CodiEsp-D): the model lists codes; micro-F1 and MAP score them.

- loader ``codiesp``: a CodiEsp codes table (``devD.tsv``: ``case-id<TAB>code``, no header) and the
  case texts in a folder beside it (option ``texts``, default ``text_files_en``: the English
  translation). The data path is the table, or a split folder holding exactly one ``*D.tsv``. One
  item per text file: {text} is the case, the gold its codes in table order (a case with none
  has an empty gold). A bad table line, a code that is not ICD-10-shaped, a code for a case without a
  text file, and a text that is not UTF-8 are reported with file and line and skipped.
- parser ``icd10_codes``: a JSON list of strings (or ``{"codes": [...]}``), under free decoding the
  first such list, else every code-shaped token of the text; codes are normalised, repeats dropped,
  order kept (it is the ranking MAP scores).
- pipeline adapter ``icd10_codes``: bedside's Extractor finds the conditions and links them to
  ICD-10-CM (``bedside.coding``); the answer is each non-negated condition's best code(s), best
  linking score first.

Codes are compared normalised: upper case, one dot after the three-character category ("n23" ->
"N23", "q6211" -> "Q62.11"). CodiEsp's codes are the Spanish CIE-10 (ICD-10-CM-based, written in
lower case with dots), so exact matches with ICD-10-CM codes are meaningful; a few CIE-10 codes do
not exist in ICD-10-CM and no linker output can match them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bedside.errors import InputError
from bedside.evaluation.loaders import FieldRules, Item, LoaderDef, Malformed, Records, register_loader
from bedside.evaluation.mentions import json_string_list
from bedside.evaluation.parsers import register_parser
from bedside.evaluation.pipelines import Adapter, register_adapter

_CODE = re.compile(r"^([A-Z][0-9][0-9A-Z])\.?([0-9A-Z]{1,4})?$")
_CODE_IN_TEXT = re.compile(r"(?<![\w.])[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?(?![\w])")
DEFAULT_TEXTS = "text_files_en"


def normalize_code(raw: Any) -> str | None:
    """"n23" -> "N23", "q62.11" / "Q6211" -> "Q62.11"; None for anything not ICD-10-shaped."""
    if not isinstance(raw, str):
        return None
    m = _CODE.match("".join(raw.split()).upper().rstrip("."))
    if m is None:
        return None
    return f"{m.group(1)}.{m.group(2)}" if m.group(2) else m.group(1)


def normalize_codes(raw: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for code in map(normalize_code, raw):
        if code is not None and code not in out:
            out.append(code)
    return out


# -- loader --------------------------------------------------------------------------------------
def codes_table(path: Path) -> Path:
    if path.is_dir():
        tables = sorted(path.glob("*D.tsv"))
        if len(tables) != 1:
            raise InputError(f"{path}: expected one CodiEsp diagnosis table (*D.tsv), found {len(tables)}")
        return tables[0]
    return path


def _texts_dir(table: Path, options: dict[str, Any]) -> Path:
    folder = table.parent / str(options.get("texts") or DEFAULT_TEXTS)
    if not folder.is_dir():
        raise InputError(f"{table}: no folder of case texts beside it ({folder.name}/)")
    return folder


def read_codiesp(path: Path, options: dict[str, Any]) -> Records:
    table = codes_table(path)
    texts = _texts_dir(table, options)
    codes: dict[str, list[str]] = defaultdict(list)
    first_line: dict[str, int] = {}
    try:
        lines = table.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{table} is not UTF-8 text (byte {exc.start}); convert it first") from exc
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        cols = raw.split("\t")
        if len(cols) != 2 or not cols[0].strip():
            yield line_no, Malformed(str(table), line_no, f"expected case-id<TAB>code, got {len(cols)} column(s)")
            continue
        code = normalize_code(cols[1])
        if code is None:
            yield line_no, Malformed(str(table), line_no, "the code is not ICD-10-shaped")
            continue
        doc = cols[0].strip()
        first_line.setdefault(doc, line_no)
        if code not in codes[doc]:
            codes[doc].append(code)
    files = {p.stem: p for p in sorted(texts.glob("*.txt"))}
    for doc in sorted(set(codes) - set(files)):
        line = first_line[doc]
        yield line, Malformed(str(table), line, f"no text file for this case in {texts.name}/")
    for doc, file in files.items():
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            yield 1, Malformed(str(file), 1, f"not UTF-8 (byte {exc.start})")
            continue
        if not text.strip():
            yield 1, Malformed(str(file), 1, "empty case text")
            continue
        gold = codes.get(doc, [])
        line = first_line.get(doc, 0)
        yield line, Item(id=doc, fields={"text": text.strip()}, gold=list(gold), source=f"{file}:1", line=line,
                         answer=json.dumps(gold))


def codiesp_sha256(path: Path, options: dict[str, Any]) -> str:
    """The codes table and every case text: (name, sha256) lines in name order."""
    table = codes_table(path)
    digest = hashlib.sha256()
    for file in [table, *sorted(_texts_dir(table, options).glob("*.txt"))]:
        digest.update(f"{file.name}\t{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


register_loader(LoaderDef("codiesp", read_codiesp, FieldRules(id=None, gold="codes", options=None),
                          options=frozenset({"texts"}), structured=True, folder=True, fingerprint=codiesp_sha256))


# -- parser --------------------------------------------------------------------------------------
@register_parser("icd10_codes")
def parse_codes(text: str, choices: Sequence[str]) -> list[str] | None:
    listed = json_string_list(text, "codes")
    if listed is not None:
        return normalize_codes(listed)
    found = _CODE_IN_TEXT.findall(text)
    return normalize_codes(found) if found else None


# -- pipeline adapter ----------------------------------------------------------------------------
def pipeline_codes(document: Any, text: str, options: dict[str, Any]) -> list[str]:
    """Each condition's top ``per_mention`` codes, conditions with a skipped trait left out, best first."""
    skip = set(options.get("skip_traits", ["NEGATION"]))
    per_mention = int(options.get("per_mention", 1))
    scored: list[tuple[float, int, str]] = []
    for entity in document.entities:
        if entity.category != "MEDICAL_CONDITION" or skip & {t.name for t in entity.traits}:
            continue
        for concept in (entity.icd10cm_concepts or [])[:per_mention]:
            scored.append((-concept.score, len(scored), concept.code))
    return normalize_codes(code for _, _, code in sorted(scored))


register_adapter(Adapter("icd10_codes", pipeline_codes, link_icd10=True,
                         description="ICD-10-CM codes linked to the non-negated conditions, best first"))
