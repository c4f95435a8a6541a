"""The PhysioNet deid gold standard: ``id.text`` notes and ``id-phi.phrase`` PHI spans.

``id.text`` holds records ``START_OF_RECORD=<patient>||||<note>||||`` + newline + note text +
``||||END_OF_RECORD``. ``id-phi.phrase`` lines are ``patient note start end category text`` with
offsets into the note text (the newline after the header is not part of it). Every gold span is
checked against the text, so a misread format fails loudly instead of scoring garbage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from bedside import textio
from bedside.errors import InputError

_RECORD = re.compile(r"START_OF_RECORD=([^|\n]+)\|\|\|\|([^|\n]+)\|\|\|\|\n?(.*?)\|\|\|\|END_OF_RECORD", re.S)


@dataclass(frozen=True)
class GoldSpan:
    begin: int
    end: int
    category: str  # as in the phrase file (HCPName, Location, ...)
    text: str


@dataclass
class Note:
    patient: str
    note: str
    text: str
    gold: list[GoldSpan] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.patient}-{self.note}"


@cache
def class_map() -> dict[str, dict[str, str]]:
    raw = resources.files("bedside").joinpath("resources/deid/physionet.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    return {"gold": data["gold_classes"], "bedside": data["bedside_classes"]}


def gold_class(category: str) -> str:
    return class_map()["gold"].get(category, "ID")


def bedside_class(span_type: str) -> str:
    return class_map()["bedside"].get(span_type, "ID")


def find_files(data: Path) -> tuple[Path, Path | None]:
    """``(notes, phrases)`` for a folder holding ``*.text`` (+ ``*-phi.phrase``) or a ``.text`` file."""
    if data.is_dir():
        texts = sorted(data.glob("*.text"))
        if len(texts) != 1:
            raise InputError(f"{data}: expected one *.text file (PhysioNet format), found {len(texts)}")
        text = texts[0]
    elif data.is_file():
        text = data
    else:
        raise InputError(f"PhysioNet data not found: {data}")
    phrase = text.with_name(text.stem + "-phi.phrase")
    return text, phrase if phrase.is_file() else None


def read_notes(data: Path, *, need_gold: bool = True) -> list[Note]:
    text_path, phrase_path = find_files(data)
    raw = textio.read_text(text_path, "PhysioNet notes file")
    notes = [Note(m.group(1), m.group(2), m.group(3)) for m in _RECORD.finditer(raw)]
    if not notes:
        raise InputError(f"{text_path}: no START_OF_RECORD=...||||END_OF_RECORD records")
    if phrase_path is None:
        if need_gold:
            raise InputError(f"{text_path}: no gold file {text_path.stem}-phi.phrase beside it")
        return notes
    by_key = {(n.patient, n.note): n for n in notes}
    for lineno, line in enumerate(textio.read_text(phrase_path, "PhysioNet phrase file").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(" ", 5)
        where = f"{phrase_path}:{lineno}"
        if len(parts) < 6 or not parts[2].isdigit() or not parts[3].isdigit():
            raise InputError(f"{where}: expected 'patient note start end category text'")
        note = by_key.get((parts[0], parts[1]))
        if note is None:
            raise InputError(f"{where}: no record {parts[0]}/{parts[1]} in {text_path.name}")
        b, e = int(parts[2]), int(parts[3])
        if note.text[b:e] != parts[5]:
            raise InputError(f"{where}: gold text does not match the note at {b}-{e} (offsets misread?)")
        note.gold.append(GoldSpan(b, e, parts[4], parts[5]))
    return notes


def write_brat(notes: list[Note], out: Path) -> dict[str, int]:
    """One ``.txt``/``.ann`` pair per note (entity types: bedside classes), readable by ``bedside train ner``."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for note in notes:
        stem = out / f"{note.patient}-{note.note}"
        stem.with_suffix(".txt").write_text(note.text, encoding="utf-8")
        lines = []
        for i, g in enumerate(sorted(note.gold, key=lambda g: g.begin), 1):
            b, e = g.begin, g.end
            while e > b and note.text[e - 1].isspace():  # "S. " -> "S."
                e -= 1
            cls = gold_class(g.category)
            counts[cls] = counts.get(cls, 0) + 1
            lines.append(f"T{i}\t{cls} {b} {e}\t{note.text[b:e]}")
        stem.with_suffix(".ann").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return counts


def split_by_patient(notes: list[Note], dev_fraction: float = 0.2) -> tuple[list[Note], list[Note]]:
    """Train/dev by patient (a hash of the patient id), so no patient's notes are on both sides."""
    import hashlib

    def is_dev(patient: str) -> bool:
        h = int.from_bytes(hashlib.sha256(f"split:{patient}".encode()).digest()[:4], "big")
        return h / 2**32 < dev_fraction

    dev = [n for n in notes if is_dev(n.patient)]
    return [n for n in notes if not is_dev(n.patient)], dev


def main(argv: list[str] | None = None) -> int:
    """``python -m bedside.deid.physionet DATA OUT``: BRAT ``OUT/train`` and ``OUT/dev`` for ``bedside train ner``,
    and ``OUT/gazetteer.json`` (names and places of the training patients) for ``--gazetteer``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bedside.deid.physionet", description=main.__doc__)
    parser.add_argument("data", type=Path, help="PhysioNet folder (id.text + id-phi.phrase)")
    parser.add_argument("out", type=Path, help="output folder (train/ and dev/ are written)")
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    args = parser.parse_args(argv)
    train, dev = split_by_patient(read_notes(args.data), args.dev_fraction)
    summary = {"train": {"notes": len(train), "spans": write_brat(train, args.out / "train")},
               "dev": {"notes": len(dev), "spans": write_brat(dev, args.out / "dev")},
               "gazetteer": write_gazetteer(train, args.out / "gazetteer.json")}
    print(json.dumps(summary, indent=2))
    return 0


def write_gazetteer(notes: list[Note], path: Path, cache_dir: Path | None = None) -> int:
    """A site gazetteer (``bedside.deid.gazetteer``) of the names and places in these notes' gold spans."""
    from bedside.deid import vocab
    from bedside.deid.gazetteer import entries_from_gold
    from bedside.deid.words import Lexicon

    lexicon = Lexicon(vocab.load(cache_dir))
    keep = {"NAME", "LOCATION"}
    entries = entries_from_gold(((g.text, gold_class(g.category)) for n in notes for g in n.gold
                                 if gold_class(g.category) in keep), lexicon)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"_about": "PHI names and places from PhysioNet gold spans (training patients)",
                                "entries": entries}, indent=1) + "\n", encoding="utf-8")
    return len(entries)


if __name__ == "__main__":
    raise SystemExit(main())
