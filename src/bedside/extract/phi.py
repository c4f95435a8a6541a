"""PROTECTED_HEALTH_INFORMATION entities from the de-identifier's precise parts: NAME, ID, ADDRESS.

The rule layer's ``phi.json`` already finds dates, ages, phone numbers, e-mail addresses and URLs.
The de-identifier (``bedside.deid``) finds more, but it is tuned for recall: on 200 CodiEsp case
reports, which hold no patient names, it reported 96 names and 46 places at any score. Extraction
keeps only what it is sure of:

- numbers after their context words (MRN, account, licence, SSN, ...) -> ID;
- street addresses and ZIP codes -> ADDRESS, and a town or state name right after one on the same
  line ("42 Oak Street, Springfield, MA");
- a name after a title ("Dr. Maria Lopez", score 0.9): on those 200 reports two such spans, where the
  de-identifier's other name rules gave 94.

A NAME wins over the entity model's span on the same words ("Dr. Maria Lopez" was a MEDICATION).
Names need the ``deid`` extra's vocabularies; without it only the pattern types are found.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

CATEGORY = "PROTECTED_HEALTH_INFORMATION"
_ID = {"MRN", "ID", "ACCOUNT", "LICENSE", "DEVICE", "VEHICLE", "SSN", "IP"}
_ADDRESS = {"ADDRESS", "ZIP"}
_PLACE = {"LOCATION", "HOSPITAL"}
_NAME_MIN_SCORE = 0.9  # title-cued names; relatives' and staff names score 0.75-0.85
_PLACE_AFTER_ADDRESS = 40  # characters, same line


class PhiSpans:
    def __init__(self, cache_dir: Path | None = None):
        from bedside.deid.detect import Combined
        from bedside.deid.patterns import PatternDetector

        # no propagation: a name spread to its other mentions is where the recall-first rules err
        self.patterns = Combined([PatternDetector(types=frozenset(_ID | _ADDRESS))])  # phi.json has the rest
        self.names = self.places = None
        try:
            from bedside.deid import vocab
            from bedside.deid.names import NameDetector
            from bedside.deid.places import PlaceDetector
            from bedside.deid.words import cues

            v = vocab.load(cache_dir)
            self.names, self.places = Combined([NameDetector(v)]), Combined([PlaceDetector(v)])
            titles = sorted((re.escape(t) for t in cues()["titles"]), key=len, reverse=True)
            self._title = re.compile(rf"(?i)\b(?:{'|'.join(titles)})\b")
        except ImportError as exc:  # the deid extra (word lists) is not installed
            log.info("PHI names and places in extraction need the deid extra (%s)", exc.name)

    def spans(self, text: str) -> list[dict]:
        # The name and place rules are the slow part (a pass over every word): run them only where a
        # title or an address gives them something to find (10 -> 2 ms per 2 kB note).
        found = self.patterns(text)
        if self.names is not None and self._title.search(text):
            found += self.names(text)
        if self.places is not None and any(s.type in _ADDRESS for s in found):
            found += self.places(text)
        addresses = sorted(s.end for s in found if s.type in _ADDRESS)
        out = []
        for s in found:
            if s.type in _ID:
                kind = "ID"
            elif s.type in _ADDRESS or (s.type in _PLACE and _after_address(text, s.begin, addresses)):
                kind = "ADDRESS"
            elif s.type == "NAME" and s.score >= _NAME_MIN_SCORE and s.source == "names":
                kind = "NAME"
            else:
                continue
            out.append({"begin_offset": s.begin, "end_offset": s.end, "category": CATEGORY, "type": kind,
                        "score": s.score, "text": s.text})
        return out


def _after_address(text: str, begin: int, address_ends: list[int]) -> bool:
    return any(0 <= begin - end <= _PLACE_AFTER_ADDRESS and "\n" not in text[end:begin] for end in address_ends)


def merge(model: list[dict], phi: list[dict]) -> list[dict]:
    """The model's spans without those that overlap a PHI name, plus the PHI spans."""
    names = [(p["begin_offset"], p["end_offset"]) for p in phi if p["type"] == "NAME"]
    kept = [m for m in model if not any(m["begin_offset"] < e and b < m["end_offset"] for b, e in names)]
    return kept + phi
