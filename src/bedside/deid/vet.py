"""The rules' knowledge applied to a trained tagger's spans before they join the union.

The PHI tagger (:class:`~bedside.deid.detect.NerDetector`) reads context that the rules cannot, but on
held-out PhysioNet patients most of its spans that the rules had not also found were look-alikes
that the rules already refuse: pain scores and ratios read as dates ("3/10 pain", "3/4 str"), pieces
of a number ("28" of "28.9", "95/26" of a blood gas), and cue or clinical words read as names
("Rabbi", "Brady", "Illinois": a role, a clinical abbreviation, a state, which Safe Harbor keeps).
This module applies the same tests to the tagger's spans; what passes is added, recall first.
"""

from __future__ import annotations

import re

from bedside.deid.patterns import month_day, not_ratio
from bedside.deid.spans import PhiSpan
from bedside.deid.words import Lexicon, cues, tokenize

_MONTH_DAY = re.compile(r"(\d{1,2})[/-](\d{1,2})")
_DOTTED_DATE = re.compile(r"\d{1,2}\.\d{1,2}\.\d{2,4}")
_CONTEXT = 60
_PERSON_PLACE = frozenset({"NAME", "LOCATION", "HOSPITAL", "ORGANIZATION"})
# Classes whose values are numbers: a span of them without a digit is a label ("MRN" in "(MRN 0456...)").
_NUMBERS = frozenset(
    {"PHONE", "FAX", "ID", "MRN", "SSN", "ACCOUNT", "LICENSE", "DEVICE", "VEHICLE", "IP", "ZIP", "AGE"}
)


class Vetter:
    """``Vetter(lexicon)(text, span)``: whether a tagger span may stand as PHI."""

    def __init__(self, lexicon: Lexicon):
        c = cues()
        words = set(c["never_names"])
        for key in ("titles", "relations", "staff", "credentials"):
            words |= {w for w in c[key] if " " not in w}
        self.cue_words = frozenset(words)
        self.lex = lexicon

    def __call__(self, text: str, span: PhiSpan) -> bool:
        b, e = span.begin, span.end
        piece = text[b:e]
        if not any(ch.isalnum() for ch in piece):
            return False
        if (b > 0 and text[b - 1].isalnum()) or (e < len(text) and text[e].isalnum()):
            return False  # a piece of a word or a number
        if re.match(r"[.,/:-]\d|'s", text[e:e + 2]) or re.search(r"\d[.,/:-]$", text[max(0, b - 2):b]):
            return False  # "28" of "28.9", "95/26" of "7.40/40/95/26", "3" of "3-7", "the 90's"
        if span.type in _NUMBERS and not any(ch.isdigit() for ch in piece):
            return False
        if span.type in ("DATE", "AGE") and not any(ch.isalpha() for ch in piece):
            return self._date(text, b, e, piece)
        if span.type in _PERSON_PLACE:
            place = span.type != "NAME"
            return not all(self._not_phi(t, place) for t in tokenize(piece) if t.alpha)
        return True

    def _date(self, text: str, b: int, e: int, piece: str) -> bool:
        # The pattern checks read at most 40 characters either side: lower-case a window, not the
        # whole text for every span (a 1 MB note holds thousands of dates).
        lo = max(0, b - _CONTEXT)
        window = text[lo:e + _CONTEXT]
        lower = window.lower()
        if len(lower) != len(window):  # offsets must stay in step for the pattern checks
            return True
        b, e = b - lo, e - lo
        m = _MONTH_DAY.fullmatch(piece)
        if m:
            return 1 <= int(m.group(1)) <= 12 and month_day(lower, b, e)
        if "." in piece and not _DOTTED_DATE.fullmatch(piece):
            return False  # a lab value, not a date
        return not_ratio(lower, b, e)

    def _not_phi(self, t, place: bool) -> bool:
        lex = self.lex
        # a state's name, for a place only: its two-letter code is also a first name ("son Al")
        state = place and len(t.key) > 2 and t.key in lex.v.states
        return t.key in self.cue_words or t.base in self.cue_words or lex.clinical_term(t) \
            or (t.base in lex.v.medical_words and not lex.known(t)) or state
