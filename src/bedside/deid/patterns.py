"""PHI found by regular expressions kept as data (``resources/deid/patterns.json``).

The file may ``include`` pattern groups of the clinical rule layer (``resources/clinical/phi.json``)
with a type map, so the calendar-date, phone, e-mail and URL patterns live in one place. Regexes
are written in lower case and run over a lower-cased copy of the text (see ``clinical.regex``).
A pattern's ``check`` names a function below that rejects matches a regex cannot judge alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bedside.clinical import resources as clinical_resources
from bedside.clinical.patterns import compile_all
from bedside.clinical.regex import Rx, fold
from bedside.deid.spans import PhiSpan
from bedside.errors import ConfigError

_WORD_BEFORE = re.compile(r"([a-z][a-z0-9/:]*)\W{0,3}$")
_WORD_AFTER = re.compile(r"^\W{0,2}([a-z][a-z0-9]*)")

# Words around "n/m" that make it a ratio, score or setting rather than a date: "PS 10/5", "strength 4/5".
_RATIO_BEFORE = frozenset(
    "ps psv peep cpap bipap imv simv ac prvc vent settings strength str pain scale grade motor gcs ratio "
    "i:e bp b/p abp nbp sbp cvp pap pcwp map hr rr sat sats fio2 o2 tv vt ve x score murmur apgar co ci "
    "rass cam ciwa bs sounds equal was at of take takes about approx approximately flowby mode "
    "reflexes dtr dtrs power lue rue lle rle le ue bue ble".split()
)
_RATIO_AFTER = frozenset(
    "strength str pain ps peep mmhg cm cmh2o l lpm nc fm units unit u mg mcg ml cc tab tabs tablet "
    "of ns nss ns's murmur sem hsm grade times scale power".split()
)
_YEAR_CUES = frozenset(
    "in since of year yr yrs from until till during circa born dob is was mi cabg cva tia dx diagnosed "
    "s/p hx h/o repair surgery ptca pci stent avr mvr ca cancer ablation".split()
)
_TIME_AFTER = frozenset(
    "hrs hr h pm am cc ml mg mcg units u kcal cal calories meters m feet ft x min mins minutes - to".split()
)


# Ventilator modes: "PSV increased to 10/5", "ON 10/5 BIPAP", "cpap/ps mode decreased to 8/5" are
# pressures, not dates, unless a word that only introduces a date comes right before.
_VENT = re.compile(r"\b(?:psv?|peep|cpap|bipap|ipap|epap|ips|imv|simv|prvc)\b")
# A procedure or diagnosis before a year written "77'" ("CHOLECYSTECTOMY 77'"), not "HOB 30'" or "AMBULATED 30'".
_PROCEDURE_SUFFIXES = ("ectomy", "otomy", "ostomy", "plasty", "scopy", "graft", "pexy")


def _before(lower: str, b: int) -> str:
    """The word right before ``b`` in the same clause ("" past a full stop, semicolon or line end)."""
    m = _WORD_BEFORE.search(lower, max(0, b - 40), b)
    if not m or any(c in lower[m.end(1):b] for c in ".;\n"):
        return "@" if lower[max(0, b - 2):b].strip().endswith(("@", "->", ">")) else ""
    return m.group(1)


def _after(lower: str, e: int) -> str:
    m = _WORD_AFTER.match(lower[e:e + 30])
    return m.group(1) if m else ""


def _ventilator(lower: str, b: int, e: int) -> bool:
    start = max(lower.rfind("\n", 0, b) + 1, b - 30)
    end = lower.find("\n", e, e + 12)
    return bool(_VENT.search(lower, start, b) or _VENT.search(lower, e, e + 12 if end < 0 else end))


def not_ratio(lower: str, b: int, e: int) -> bool:
    if lower[e:e + 1] in ("%", "/") or lower[b - 1:b] == "'":  # "120-140'2/70's": a typed-over range
        return False
    before = _before(lower, b)
    if before in _RATIO_BEFORE or any(p in _RATIO_BEFORE for p in before.split("/")):
        return False
    return _after(lower, e) not in _RATIO_AFTER


_DATE_CUES = frozenset(
    "on since until till til dated date from thru through by of before after starting started last next "
    "admitted admit adm discharged d/c dc'd extubated intubated placed done transferred readmitted seen born "
    "dob dos ( - seen post pre or".split()
)


_STRONG_DATE_CUES = frozenset("since until till dated date dob dos admitted readmitted born".split())
_ANOTHER_DATE = re.compile(r"\b\d{1,2}/\d{1,2}\s*(?:or|and|to|-|,|&|thru)\s*$")


def month_day(lower: str, b: int, e: int) -> bool:
    """'7/23' is a date; '1/2', '5/5', '3/10' are fractions or scores unless a date word or another date
    comes first ("8/9 or 8/10"). A clear month/day is refused only before a unit or a percent sign."""
    m, d = (int(x) for x in re.split(r"[/-]", lower[b:e])[:2])
    if lower[b - 1:b] == "'" or re.match(r"(?:-\d+)?'s", lower[e:e + 5]):  # "bp 120-140'2/70's": ranges
        return False
    if _ventilator(lower, b, e) and _before(lower, b) not in _STRONG_DATE_CUES:
        return False
    ambiguous = d == 0 or m == d or d == 10 or (m < d <= 4) or (d == 5 and m <= 5)
    if not ambiguous and d > 12:  # "AC 11/17": no vent setting or score has a second number this large
        return lower[e:e + 1] not in ("%", "/") and _after(lower, e) not in _RATIO_AFTER
    if not not_ratio(lower, b, e):
        return False
    if not ambiguous:
        return True
    if m == d:  # "5/5": strength, CPAP/PEEP; only after a word that introduces a date
        return _before(lower, b) in _STRONG_DATE_CUES
    if _ANOTHER_DATE.search(lower, max(0, b - 16), b):
        return True
    return _before(lower, b) in _DATE_CUES or lower[max(0, b - 20):b].rstrip().endswith(("(", "-")) \
        or "\n" in lower[max(0, b - 3):b]


def year(lower: str, b: int, e: int) -> bool:
    value = int(lower[b:b + 4])
    as_time = value % 100 < 60 and value // 100 < 24  # 1900-1959, 2000-2023 also read as 24-hour times
    after = lower[e:e + 12]
    if re.match(r"\s*(?:-|->|to)\s*\d{3,4}\b", after) or _after(lower, e) in _TIME_AFTER:
        return False
    if not as_time:
        return True
    return _before(lower, b) in _YEAR_CUES or lower[e - 1] == "s"


def year_cue(lower: str, b: int, e: int) -> bool:
    before = _before(lower, b)
    return before in _YEAR_CUES or before.endswith(_PROCEDURE_SUFFIXES)


def age_over_89(lower: str, b: int, e: int) -> bool:
    return lower[b:e].isdigit() and 90 <= int(lower[b:e]) <= 125


CHECKS: dict[str, Callable[[str, int, int], bool]] = {
    "not_ratio": not_ratio, "month_day": month_day, "year": year, "year_cue": year_cue,
    "age_over_89": age_over_89,
}


@dataclass(frozen=True)
class _Rule:
    type: str
    score: float
    check: Callable[[str, int, int], bool] | None
    regexes: tuple[Rx, ...]


def _rules_of(
    data: dict, where: str, type_map: dict[str, str] | None = None, checks: dict[str, str] | None = None,
) -> list[_Rule]:
    placeholders = dict(data.get("placeholders", {}))
    out = []
    for i, raw in enumerate(data.get("patterns", [])):
        what = f"{where} pattern {i + 1}"
        kind = raw["type"]
        if type_map is not None:
            if kind not in type_map:
                continue
            kind = type_map[kind]
        check = raw.get("check") or (checks or {}).get(kind)
        if check is not None and check not in CHECKS:
            raise ConfigError(f"{what}: unknown check '{check}' (known: {', '.join(CHECKS)})")
        out.append(_Rule(kind, float(raw.get("score", 0.8)), CHECKS.get(check) if check else None,
                         tuple(compile_all(raw["regex"], placeholders, what))))
    return out


def load_rules(path: Path | None = None) -> list[_Rule]:
    try:
        if path is None:
            ref = resources.files("bedside").joinpath("resources/deid/patterns.json")
            data, where = json.loads(ref.read_text(encoding="utf-8")), "deid/patterns.json"
        else:
            data, where = json.loads(path.read_text(encoding="utf-8")), str(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"de-identification pattern file unreadable: {exc}") from None
    rules = []
    include = data.get("include")
    if include:
        rules += _rules_of(
            clinical_resources.load(include["file"]), include["file"], include["types"], include.get("checks"),
        )
    return rules + _rules_of(data, where)


class PatternDetector:
    name = "pattern"

    def __init__(self, path: Path | None = None, *, types: frozenset[str] | None = None):
        self.rules = [r for r in load_rules(path) if types is None or r.type in types]

    def __call__(self, text: str) -> list[PhiSpan]:
        folded = fold(text)
        lower = folded if folded is not None else text.lower()
        if len(lower) != len(text):  # 'İ' and friends: checks read offsets, keep them in step
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        out: list[PhiSpan] = []
        for rule in self.rules:
            for rx in rule.regexes:
                groups = [g for g in rx.groupindex if g.startswith("span")]
                for m in rx.finditer(text, folded):
                    ranges = [m.span(g) for g in groups if m.group(g)] if groups else [m.span()]
                    for b, e in ranges:
                        if e <= b or (rule.check is not None and not rule.check(lower, b, e)):
                            continue
                        out.append(PhiSpan.of(text, b, e, rule.type, rule.score, self.name))
        return out
