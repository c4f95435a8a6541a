"""Places smaller than a state: hospitals and other facilities, cities, and words after place cues.

- A strong facility suffix ("Hospital", "Medical Center", "Memorial") makes the one to three words
  before it a place name ("CALVERT HOSPITAL", "sacred heart hospital"); a weak one ("Rehab", "House",
  "General") only when those words are no English words or are capitalised in ordinary-case text
  ("Baltimore Rehab", not "possible rehab"). Generic suffixes stay out of the span.
- "St."/"Saint" + a first name is a facility ("St. Mary's"), not the ST segment of an ECG.
- After a cue ("transferred to", "lives in") the next words are a place unless they are English,
  clinical or unit words ("transferred to GH" yes, "to MICU" no); in ordinary-case text two
  capitalised words are ("accepted at Holy Cross"); so is an unknown word right before ER/EW/ED. A bare
  "at"/"from"/"to" is not a cue: on these notes it found 8 more places and 300 false ones.
- Known US cities (GeoNames, several words allowed) are places wherever they are no English words;
  "University of <state>" and "U <state>" are facilities (a state alone is not PHI).
"""

from __future__ import annotations

import re

from bedside.deid.spans import PhiSpan
from bedside.deid.vocab import Vocabulary
from bedside.deid.words import Lexicon, Phrases, Tok, cues, mixed_case, proper_case, tokenize

_WARD_CODE = re.compile(r"[a-z]{1,2}\d+")  # "q2" (every 2 hours), "d5"
_EMERGENCY = {"er", "ew", "ed"}
_UNIVERSITY = {"u", "univ", "university"}
_STREET = {"st", "street", "ave", "avenue", "rd", "road", "blvd", "boulevard", "lane", "ln", "drive", "terrace",
           "parkway", "pkwy", "circle", "highway", "hwy", "row"}
_WARD_AFTER = {"rn", "rns", "nurse", "this", "today", "tonight", "tomorrow", "when", "once", "for", "and", "at", "on"}
_WARD_BEFORE = {"transfer", "transferred", "tx", "to", "from", "per", "on", "at", "in", ":"}
# "at GH", "to BMH", "from UMMC": a short capitalised abbreviation ending like a hospital's
_ABBREV = re.compile(r"[a-z]{1,4}(?:h|mc)")
_ABBREV_BEFORE = {"at", "to", "from", "@"}


class PlaceDetector:
    name = "places"

    def __init__(self, vocab: Vocabulary):
        c = cues()["places"]
        self.lex = Lexicon(vocab)
        self.strong = Phrases(c["suffixes_strong"])
        self.weak_suffix = Phrases(c["suffixes"])
        self.generic = frozenset(c["generic"])
        self.saints = frozenset(c["saints"])
        self.cues = Phrases(c["cues"])
        self.regions = Phrases(c["regions"])
        self.not_places = frozenset(c["not_places"])
        self.single_stop = frozenset(c["not_before_hospital"])
        self.cities = Phrases(sorted(vocab.cities))
        self.states = vocab.states

    def _placeword(self, t: Tok) -> bool:
        return t.alpha and t.base not in self.not_places and t.key not in self.not_places \
            and not _WARD_CODE.fullmatch(t.key)

    def _unknown(self, t: Tok) -> bool:
        if t.text[-1].isdigit():  # "Quartermain2": a ward number glued to the name
            t = tokenize(t.text.rstrip("0123456789"))[0]
        return self.lex.wordlike(t) and not self.lex.english(t)

    def __call__(self, text: str) -> list[PhiSpan]:
        toks = tokenize(text)
        cased = mixed_case(text)
        out: list[PhiSpan] = []
        n = len(toks)
        for i, t in enumerate(toks):
            if not t.alpha:
                continue
            k = self.strong.match(toks, i)
            if k and i > 0:
                out += self._before_suffix(text, toks, i, k, strict=False, cased=cased)
            k = self.weak_suffix.match(toks, i)
            if k and i > 0:
                out += self._before_suffix(text, toks, i, k, strict=True, cased=cased)
            if t.key in self.saints:
                dotted = i + 1 < n and toks[i + 1].text == "."
                j = i + 1 + dotted
                if j < n and toks[j].begin - toks[j - 1].end <= 1 and self.lex.first_name(toks[j]) \
                        and (dotted or t.key == "saint" or (cased and toks[j].text[0].isupper())):
                    out.append(PhiSpan.of(text, t.begin, toks[j].end - (2 if toks[j].key.endswith("'s") else 0),
                                          "HOSPITAL", 0.8, self.name))
                elif cased and t.text in ("St", "Saint") and j + 1 < n and len(toks[j].text) == 1 \
                        and toks[j].text.isupper() and toks[j + 1].text == "." and toks[j].begin - t.end <= 1:
                    out.append(PhiSpan.of(text, t.begin, toks[j].end, "HOSPITAL", 0.7, self.name))  # "a bed @ St A."
            k = self.regions.match(toks, i)
            if k:  # "the Eastern Shore": named areas smaller than a state
                b = toks[i + 1].begin if t.key == "the" else t.begin
                out.append(PhiSpan.of(text, b, toks[i + k - 1].end, "LOCATION", 0.7, self.name))
            if i > 0 and toks[i - 1].key in _ABBREV_BEFORE and _ABBREV.fullmatch(t.key) \
                    and (t.text.isupper() or not cased) and self._placeword(t) and self._unknown(t):
                out.append(PhiSpan.of(text, t.begin, t.end, "HOSPITAL", 0.6, self.name))
            if t.key in _UNIVERSITY:
                j = i + 1 + (i + 1 < n and toks[i + 1].text == ".")
                j += j < n and toks[j].key == "of"
                if j < n and toks[j].key in self.states and len(toks[j].key) > 2:
                    out.append(PhiSpan.of(text, t.begin, toks[j].end, "HOSPITAL", 0.8, self.name))
            k = self.cues.match(toks, i)
            if k and i + k < n:
                j = i + k + (toks[i + k].text in (":", "-"))
                if j < n and cased and self._placeword(toks[j]) and toks[j].text[:1].isupper() \
                        and toks[j].text[1:].islower() and j + 1 < n and toks[j + 1].text[:1].isupper() \
                        and toks[j + 1].alpha and toks[j + 1].key not in self.not_places:
                    # "at Holy Cross": capitalised words after a strong cue in ordinary-case text
                    out.append(PhiSpan.of(text, toks[j].begin, toks[j + 1].end, "LOCATION", 0.7, self.name))
                elif j < n and self._placeword(toks[j]) and self._unknown(toks[j]):
                    e = j + 1
                    while e < n and e - j < 3 and self._placeword(toks[e]) and self._unknown(toks[e]) \
                            and toks[e].begin - toks[e - 1].end <= 1:
                        e += 1
                    out.append(PhiSpan.of(text, toks[j].begin, toks[e - 1].end, "LOCATION", 0.7, self.name))
                elif j < n and cased and proper_case(toks[j]) and self._placeword(toks[j]) \
                        and not self.lex.clinical_term(toks[j]) and toks[j].base not in self.lex.v.medical_words \
                        and toks[j].key not in self.states:
                    # "went to Harbor": one capitalised word after a cue in ordinary-case text (a state is not PHI)
                    out.append(PhiSpan.of(text, toks[j].begin, toks[j].end, "LOCATION", 0.6, self.name))
            if i + 1 < n and toks[i + 1].key in _EMERGENCY and self._placeword(t) and self._unknown(t) \
                    and 2 <= len(t.text) <= 12 and toks[i + 1].begin - t.end == 1:
                out.append(PhiSpan.of(text, t.begin, t.end, "HOSPITAL", 0.6, self.name))
            if t.key in _STREET and i >= 2:
                out += self._town_after_street(text, toks, i, cased)
            if self._ward(toks, i):
                out.append(PhiSpan.of(text, t.begin, t.end, "HOSPITAL", 0.6, self.name))
            k = self.cities.match(toks, i)
            if k:
                words = toks[i:i + k]
                if (k > 1 and not all(self.lex.english(w) for w in words)) or \
                        (self._unknown(t) and (not cased or t.text[0].isupper())):
                    out.append(PhiSpan.of(text, t.begin, words[-1].end, "LOCATION", 0.75, self.name))
        return out

    def _town_after_street(self, text: str, toks: list[Tok], i: int, cased: bool) -> list[PhiSpan]:
        """The town after a street address: "19 Clover St. in Lansdowne", "4 Elm Road, Towson"."""
        name = toks[i - 1]  # the street's name, after the house number ("80-100 ST" is sinus tachycardia)
        if not (name.alpha and len(name.text) >= 3 and any(w.text.isdigit() and len(w.text) <= 5
                                                          for w in toks[max(0, i - 4):i - 1])):
            return []
        n, j = len(toks), i + 1
        while j < n and toks[j].text in ".," and j - i <= 2:
            j += 1
        if j < n and toks[j].key == "in":
            j += 1
        if j >= n or toks[j].begin - toks[i].end > 6 or not self._placeword(toks[j]):
            return []
        w = toks[j]
        if not ((cased and proper_case(w)) or self._unknown(w)) or w.key in self.states:
            return []
        e = j + 1 if j + 1 < n and proper_case(toks[j + 1]) and cased and toks[j + 1].key not in self.not_places \
            and toks[j + 1].begin - w.end == 1 else j
        return [PhiSpan.of(text, w.begin, toks[e].end, "LOCATION", 0.7, self.name)]

    def _ward(self, toks: list[Tok], i: int) -> bool:
        """A ward: a word that is no English or clinical word and a number, after a word that leads to a
        place ("TRANSFER QUARTERMAIN 2", "per Quartermain 3 RN", "plan: QUARTERMAIN 2"); without that
        lead, a word and a number is mostly a measurement ("PCWP 18", "IABP 1:1", "dobut 2.5")."""
        n, t = len(toks), toks[i]
        if not (0 < i and i + 1 < n and t.text.isalpha() and len(t.text) >= 6 and toks[i - 1].key in _WARD_BEFORE):
            return False
        num = toks[i + 1]
        if not (num.text.isdigit() and len(num.text) <= 2 and num.begin - t.end == 1):
            return False
        if i + 2 < n:
            after = toks[i + 2]
            glued = after.begin == num.end
            if glued and (after.text not in ".,;)" or (i + 3 < n and toks[i + 3].begin == after.end
                                                        and toks[i + 3].text.isdigit())):
                return False  # "2.5", "1:1", "40%", "3/5"
            if after.alpha and after.key not in _WARD_AFTER:
                return False  # "10 mg", "2 additional"
        return self._placeword(t) and self._unknown(t) and not self.lex.known(t) and not self.lex.frequent(t)

    def _before_suffix(self, text: str, toks: list[Tok], i: int, k: int, *, strict: bool, cased: bool) -> list[PhiSpan]:
        j = i
        while j > 0 and i - j < 3:
            w = toks[j - 1]
            if not (w.alpha or w.text == "-") or w.key in self.not_places or w.base in self.lex.never:
                break
            if "\n" in text[w.end:toks[j].begin]:
                break
            j -= 1
        if toks[j].text == "-":
            j += 1
        words = [w for w in toks[j:i] if w.alpha]
        if not words:
            return []
        english = [self.lex.english(w) and not (cased and w.text[0].isupper()) for w in words]
        # after a cue English words can name a place too: "taken to LAUREL REGIONAL", "screened by Holy Cross Rehab"
        if strict and any(english) and not (j > 0 and self.cues.ends_at(toks, j - 1)):
            return []
        if not strict and len(words) == 1 and english[0] and words[0].base in self.single_stop:
            return []  # "leave hospital", "day hospital"; "Union Hospital" and "holy cross hospital" pass
        suffix = " ".join(x.key for x in toks[i:i + k])
        end = toks[i - 1].end if suffix in self.generic else toks[i + k - 1].end
        return [PhiSpan.of(text, toks[j].begin, end, "HOSPITAL", 0.8, self.name)]
