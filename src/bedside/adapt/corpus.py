"""A domain corpus for continual pre-training: files and folders -> documents -> packed token blocks.

- **Documents**: a ``.txt`` file is one document (one note a file); a ``.jsonl`` file holds one
  document a line, ``{"text": ...}``. Folders are searched recursively for both (hidden entries
  skipped); a file named explicitly is read as text whatever its suffix. Order is the order given,
  folders sorted, so the same inputs give the same blocks.
- **Bad input** is skipped, counted and named (``path: reason`` or ``path:line: reason``, never the
  text, which may hold PHI): a binary or non-UTF-8 file, an empty one, a JSONL line that is not an
  object with a non-empty string ``text``. ``strict`` makes the first one an error. A path that
  does not exist, or inputs with no document at all, are always an error.
- **Data hash**: sha256 over the sha256 of each file read, in reading order. It is the hash of
  the files as given; de-identification (on by default, as for ``adapt lora``) happens after.
- **Packing**: documents are tokenized without special tokens, joined by a separator (EOS for a
  decoder, SEP for an encoder) and cut into blocks of exactly ``max_len`` tokens, so a block may
  span documents and no token is padding. A decoder block starts with BOS where the tokenizer
  adds one itself (Gemma, Llama); an encoder block is ``[CLS] ... [SEP]``. The last partial block
  is kept when it holds at least a quarter of a block's text, else dropped and counted: a block of
  a few tokens would take a whole row of a batch for almost nothing to learn.
- **Held out**: a fraction of the documents (drawn with the seed), or an explicit eval corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedside.adapt.features import Example
from bedside.errors import InputError

log = logging.getLogger("bedside.adapt")

SUFFIXES = (".txt", ".jsonl")
LOGGED_PROBLEMS = 5  # named in the log, then a count
STORED_PROBLEMS = 20  # named in the metadata
_SNIFF = 8192  # bytes looked at for NUL: text files have none


@dataclass(frozen=True)
class Document:
    text: str
    source: str  # "path" or "path:line"


@dataclass
class Corpus:
    documents: list[Document]
    inputs: list[str]  # as given
    sha256: str
    files: int  # read (some of their lines may have been skipped)
    bytes: int
    skipped: list[str] = field(default_factory=list)  # "path: reason" / "path:line: reason"

    def summary(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "sha256": self.sha256, "files": self.files, "bytes": self.bytes,
                "documents": len(self.documents), "characters": sum(len(d.text) for d in self.documents),
                "skipped": {"count": len(self.skipped), "first": self.skipped[:STORED_PROBLEMS]}}


def read_corpus(paths: Sequence[Path], what: str = "corpus", *, strict: bool = False) -> Corpus:
    """Every document under ``paths``; see the module docstring for what is skipped."""
    if not paths:
        raise InputError(f"no {what} given: name text files or folders")
    files: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{what} not found: {path}")
        if path.is_dir():
            found = _walk(path)
            if not found:
                _skip(f"{path}: no *.txt or *.jsonl files", skipped, strict)
            files += found
        else:
            files.append(path)
    seen: set[Path] = set()
    digest = hashlib.sha256()
    docs: list[Document] = []
    n_files = n_bytes = 0
    for f in files:
        if f.resolve() in seen:  # named twice, or also inside a folder given
            continue
        seen.add(f.resolve())
        read = _read(f, skipped, strict)
        if read is None:
            continue
        raw, text = read
        digest.update(hashlib.sha256(raw).hexdigest().encode() + b"\n")
        n_files, n_bytes = n_files + 1, n_bytes + len(raw)
        if f.suffix == ".jsonl":
            docs += _jsonl_documents(f, text, skipped, strict)
        else:
            docs.append(Document(text, str(f)))
    _log_skipped(skipped, what)
    if not docs:
        first = f"; {len(skipped)} skipped, first: {skipped[0]}" if skipped else ""
        raise InputError(f"{what} has no text to train on{first}")
    return Corpus(docs, [str(p) for p in paths], digest.hexdigest(), n_files, n_bytes, skipped)


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _read(path: Path, skipped: list[str], strict: bool) -> tuple[bytes, str] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _skip(f"{path}: cannot read ({exc.strerror or type(exc).__name__})", skipped, strict)
    if b"\0" in raw[:_SNIFF]:
        return _skip(f"{path}: binary file (NUL bytes), not text", skipped, strict)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _skip(f"{path}: not UTF-8 text (byte {exc.start})", skipped, strict)
    if not text.strip():
        return _skip(f"{path}: empty", skipped, strict)
    return raw, text


def _jsonl_documents(path: Path, text: str, skipped: list[str], strict: bool) -> list[Document]:
    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            _skip(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})", skipped, strict)
            continue
        body = value.get("text") if isinstance(value, dict) else None
        if not isinstance(body, str) or not body.strip():
            _skip(f"{path}:{number}: needs a JSON object with a non-empty string 'text'", skipped, strict)
            continue
        docs.append(Document(body, f"{path}:{number}"))
    return docs


def _skip(problem: str, skipped: list[str], strict: bool) -> None:
    if strict:
        raise InputError(f"{problem} (--strict; without it this is skipped and counted)")
    skipped.append(problem)


def _log_skipped(skipped: list[str], what: str) -> None:
    for problem in skipped[:LOGGED_PROBLEMS]:
        log.warning("%s: skipped %s", what, problem)
    if len(skipped) > LOGGED_PROBLEMS:
        log.warning("%s: ... and %d more skipped", what, len(skipped) - LOGGED_PROBLEMS)


def deidentified(corpus: Corpus, settings: Any) -> Corpus:
    """The corpus with each document de-identified on its own; the data hash stays the files'.

    One document at a time: a name found in one note says nothing about another patient's note.
    """
    from bedside.deid.guard import guard

    g = guard(settings)
    docs = [Document(g.text(d.text), d.source) for d in corpus.documents]
    return Corpus(docs, corpus.inputs, corpus.sha256, corpus.files, corpus.bytes, corpus.skipped)


def held_out(docs: list[Document], fraction: float, seed: int) -> tuple[list[Document], list[Document]]:
    """(train, eval): ``fraction`` of the documents, at least one, drawn with ``seed``; none if
    fewer than two documents or ``fraction`` is 0. Both keep the corpus order."""
    if fraction <= 0 or len(docs) < 2:
        return docs, []
    n_eval = min(len(docs) - 1, max(1, round(fraction * len(docs))))
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:n_eval])
    return ([d for k, d in enumerate(docs) if k not in chosen], [d for k, d in enumerate(docs) if k in chosen])


@dataclass
class Packed:
    examples: list[Example]  # blocks; labels == input_ids (which positions score is the objective's)
    documents: int
    tokens: int  # document tokens and separators
    block_len: int
    dropped_tail_tokens: int

    def summary(self) -> dict[str, Any]:
        return {"documents": self.documents, "tokens": self.tokens, "blocks": len(self.examples),
                "block_len": self.block_len, "dropped_tail_tokens": self.dropped_tail_tokens}


def pack(token_docs: Sequence[Sequence[int]], max_len: int, separator: int, *, prefix: Sequence[int] = (),
         suffix: Sequence[int] = ()) -> Packed:
    """Documents joined by ``separator`` and cut into ``prefix + chunk + suffix`` blocks of ``max_len``."""
    room = max_len - len(prefix) - len(suffix)
    if room < 1:
        raise InputError(f"max_len {max_len} leaves no room for text in a block")
    stream: list[int] = []
    for ids in token_docs:
        stream.extend(ids)
        stream.append(separator)
    min_tail = max(2, room // 4)  # 2: a block needs two tokens for one prediction
    blocks, dropped = [], 0
    for start in range(0, len(stream), room):
        chunk = stream[start:start + room]
        if len(chunk) < room and len(chunk) < min_tail:
            dropped = len(chunk)
            break
        ids = [*prefix, *chunk, *suffix]
        blocks.append(Example(ids, list(ids), f"block {len(blocks) + 1}"))
    return Packed(blocks, len(token_docs), len(stream), max_len, dropped)


def tokenize(tokenizer: Any, docs: list[Document], batch: int = 64) -> list[list[int]]:
    """Token ids of each document, no special tokens, no truncation (packing cuts the blocks)."""
    out: list[list[int]] = []
    for i in range(0, len(docs), batch):
        # verbose=False: "longer than the model's maximum" is expected; blocks are cut afterwards.
        enc = tokenizer([d.text for d in docs[i:i + batch]], add_special_tokens=False, verbose=False)
        out += [list(ids) for ids in enc["input_ids"]]
    return out


def pack_causal(tokenizer: Any, docs: list[Document], max_len: int) -> Packed:
    """Decoder blocks: documents joined by EOS, each block led by BOS if the tokenizer adds BOS itself."""
    if tokenizer.eos_token_id is None:
        raise InputError("the tokenizer has no EOS token to separate documents with")
    bos = tokenizer.bos_token_id
    adds_bos = bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
    return pack(tokenize(tokenizer, docs), max_len, tokenizer.eos_token_id, prefix=[bos] if adds_bos else [])


def pack_masked(tokenizer: Any, docs: list[Document], max_len: int) -> Packed:
    """Encoder blocks: ``[CLS] text [SEP] text ... [SEP]``, documents joined by SEP."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls is None or sep is None or tokenizer.mask_token_id is None:
        raise InputError("the tokenizer lacks a CLS, SEP or MASK token: not a masked-LM tokenizer")
    return pack(tokenize(tokenizer, docs), max_len, sep, prefix=[cls], suffix=[sep])


def packed_or_error(pack_fn: Callable[[Any, list[Document], int], Packed], tokenizer: Any, docs: list[Document],
                    max_len: int, what: str) -> Packed:
    packed = pack_fn(tokenizer, docs, max_len)
    if not packed.examples:
        raise InputError(f"{what}: {packed.tokens} tokens, not enough for one block of {max_len}; "
                         "add text or lower --max-len")
    if packed.dropped_tail_tokens:
        log.info("%s: dropped the last %d token(s), too few for a block", what, packed.dropped_tail_tokens)
    return packed
