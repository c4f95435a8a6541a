"""Person names: words after titles, relatives and staff roles, signatures, and known first/last names.

Clinical notes are often all capitals or all lower case, so capitalisation is only a hint. A word
is judged by the company it keeps:

- after a title ("Dr.", "Mrs") it is a name unless it never is one ("aware", "in", "called");
- after a relative or a staff role ("daughter", "case manager") it is a name if it is a known first
  name or no English word ("son Bill" and "NP Carol" yes, "son concerned" no);
- after a verb that takes a person ("seen by", "spoke with") it must be no English word; after the
  weak ones ("by", "with", "per") it must also be a known name;
- on its own, a known first or last name that is no English or clinical word ("Nicholson" yes,
  "Baker", "Foley" no) is a name with a lower score;
- before a credential ("DAN A. FORMAN-LYONS, RRT", "Emily Parker,RN") the name-like words are one.

A name grows over following initials and surname-like words, and over lists ("Sons Smokey, Morris
and Roger", "Drs Ferullo and Saeed").
"""

from __future__ import annotations

from bedside.deid.spans import PhiSpan
from bedside.deid.vocab import Vocabulary
from bedside.deid.words import Lexicon, Phrases, Tok, capitals_inform, cues, mixed_case, proper_case, tokenize

_SKIP = {":", ",", "-", "(", "is", "named", "=", "was", "--", "---", "name"}
_LIST = {",", "and", "&", "/"}
_WEAK_TITLES = {"ms", "miss", "sister", "father", "attending", "pcp"}


def _surname_shape(w: str) -> bool:
    """Long enough, with a vowel, no hyphen: "hoeller", not "mgmt" or "response-increased"."""
    return len(w) > 3 and "-" not in w and any(c in "aeiouy" for c in w)


class NameDetector:
    name = "names"

    def __init__(self, vocab: Vocabulary):
        c = cues()
        self.lex = Lexicon(vocab)
        # the cue words themselves are never names ("Met with dtr privately")
        self.lex.never = self.lex.never | {w for w in c["titles"] + c["relations"] + c["staff"] if " " not in w}
        self.titles = Phrases(c["titles"])
        self.fields = Phrases(c["name_fields"])
        self.relations = Phrases(c["relations"])
        self.staff = Phrases(c["staff"])
        self.verbs = Phrases([v for v in c["verbs"] if v not in c["weak_verbs"]])
        self.weak = Phrases(c["weak_verbs"])
        self.credentials = Phrases(c["credentials"])
        self.strong_credentials = Phrases(c["strong_credentials"])
        self.after_name = Phrases(c["after_name"])
        self.person_verbs = Phrases(c["person_verbs"])

    def _surname_like(self, t: Tok, cased: bool, caps: bool = False) -> bool:
        lex = self.lex
        if not lex.wordlike(t) or len(t.base) < 2 or (cased and not t.text[0].isupper()):
            return False
        if lex.clinical_term(t):
            return False
        # a capitalised rare word after a name is a surname ("Ferdinand Halfpenny"), also in a note
        # otherwise typed in lower case ("dtr-in-law Rita Hickey")
        proper = cased or (caps and proper_case(t))
        return not lex.english(t, proper) or (proper and (lex.known(t) or not lex.frequent(t)))

    def _proper_unknown(self, t: Tok) -> bool:
        lex = self.lex
        return proper_case(t) and lex.wordlike(t) and _surname_shape(t.base) and not lex.english(t, True) \
            and not lex.clinical_term(t) and t.base not in lex.v.cities and not lex.frequent(t)

    def _listed(self, t: Tok, cased: bool = False) -> bool:
        """A word after a relative or in a list of names: a first name, no English word, or a rare one."""
        lex = self.lex
        if not lex.wordlike(t) or lex.clinical_term(t):
            return False
        proper = cased and t.text[0].isupper() and t.text[1:].islower()
        return lex.first_name(t) or not lex.english(t, proper) or (
            not lex.frequent(t) and not lex.inflected(t.base) and len(t.base) > 2)

    def _grow(self, toks: list[Tok], i: int, cased: bool, caps: bool = False) -> int:
        """Index one past the last token of a name starting at ``toks[i]``."""
        j, extra = i + 1, 0
        if len(toks[i].text) == 1 and j < len(toks) and toks[j].text == ".":
            j += 1  # "L. RUUSKA": the initial's full stop
        while j < len(toks) and extra < 3:
            t = toks[j]
            if t.begin - toks[j - 1].end > 2 or "\n" in t.text:
                break
            if len(t.text) == 1 and t.alpha and j + 1 < len(toks) and toks[j + 1].text == ".":
                j += 2  # middle initial "A."
            elif self._surname_like(t, cased, caps):
                j += 1
            elif self.lex.first_name(t) and not self.lex.clinical_term(t) and j + 1 < len(toks) \
                    and toks[j + 1].begin - t.end <= 2 and self._surname_like(toks[j + 1], cased, caps):
                j += 2  # a middle name before the surname: "KAREN ANN YANULIS"
            else:
                break
            extra += 1
        return j

    def _first_names_before(self, toks: list[Tok], i: int, cased: bool) -> int:
        """Index of the name's first token after taking in up to two first names right before it
        ("martin carey", "mary theresa kondouli": the surname alone was the evidence)."""
        lex = self.lex
        start = i
        while start > 0 and i - start < 2:
            t = toks[start - 1]
            if not (lex.wordlike(t) and lex.first_name(t) and not lex.clinical_term(t) and len(t.base) > 2) \
                    or toks[start].begin - t.end > 2 or (cased and not proper_case(t)):
                break
            start -= 1
        return start

    def _after(self, toks: list[Tok], i: int) -> int:
        """Skip punctuation and linking words after a cue; the index of the first candidate word."""
        while i < len(toks) - 1 and toks[i].key in _SKIP:
            i += 1
        return i

    def __call__(self, text: str) -> list[PhiSpan]:
        toks = tokenize(text)
        cased = mixed_case(text)
        caps = capitals_inform(text)
        lex = self.lex
        out: list[PhiSpan] = []
        n = len(toks)

        def add(i: int, score: float) -> int:
            while True:
                j = self._grow(toks, i, cased, caps)
                b, e = toks[self._first_names_before(toks, i, cased)].begin, toks[j - 1].end
                if toks[j - 1].key.endswith("'s"):
                    e -= 2
                out.append(PhiSpan.of(text, b, e, "NAME", score, self.name))
                # "Smokey, Morris and Roger": the next listed word is a name too
                k = j
                while k < n and toks[k].key in _LIST and k - j < 2:
                    k += 1
                if k == j or k >= n or not self._listed(toks[k], cased) or toks[k].begin - toks[j - 1].end > 6:
                    return j
                i = k

        i = 0
        while i < n:
            t = toks[i]
            if not t.alpha:
                i += 1
                continue
            k = self.titles.match(toks, i)
            if k and i + k < n and toks[i + k].text == "." and len(toks[i + k - 1].text) > 4:
                k = 0  # a whole word and a full stop ends a sentence: "... the friend professor. CD is"
            j = i + k + (i + k < n and toks[i + k].text == ".")  # the word after the title (and its full stop)
            if k and cased and j < n and not toks[j].text[:1].isupper() and (len(t.text) > 3 or t.key == "fr"):
                k = 0  # not "family doctor revealed", "6.5 Fr. phlexometallic tube" (nurses do write "dr. griffin")
            if k:
                close = j < n and toks[j].begin - toks[j - 1].end <= 2
                if close and lex.wordlike(toks[j]) and self._title_ok(toks, i, j):
                    i = add(j, 0.9)
                    continue
                if close and len(toks[j].text) == 1 and toks[j].text.isupper() and j + 1 < n \
                        and toks[j + 1].text == "." and toks[j + 1].begin == toks[j].end:
                    i = add(j, 0.85)  # a title and an initial: "MS S. CARE", "Dr. K."
                    continue
            k = self.fields.match(toks, i)
            if k and i + k + 1 < n and toks[i + k].text == ":" \
                    and "\n" not in text[toks[i + k].end:toks[i + k + 1].begin]:
                w = toks[i + k + 1]  # "Patient Name: Maria Lopez", "Attending: Kwame Mensah"
                if lex.wordlike(w) and not lex.clinical_term(w) and (not cased or w.text[0].isupper()) \
                        and (lex.first_name(w) or lex.known(w) or not lex.english(w, cased)):
                    i = add(i + k + 1, 0.9)
                    continue
            k = self.relations.match(toks, i) or self.staff.match(toks, i)
            if k:
                score = 0.85 if self.relations.match(toks, i) else 0.75
                j = self._after(toks, i + k)
                while j < n and self.relations.match(toks, j):  # "proxy is granddaughter: Irene"
                    j = self._after(toks, j + self.relations.match(toks, j))
                # a capitalised first name after a relative even if it is also an abbreviation ("Son, Ed,")
                short = j < n and caps and proper_case(toks[j]) and toks[j].base in lex.v.first_names \
                    and bool(self.relations.match(toks, i))
                if j < n and (self._listed(toks[j], cased) or short) and toks[j].begin - toks[i + k - 1].end < 6:
                    i = add(j, score)
                    continue
            k = self.verbs.match(toks, i) or self.weak.match(toks, i)
            if k:
                strong = bool(self.verbs.match(toks, i))
                j = i + k
                if j < n and lex.wordlike(toks[j]) and not lex.english(toks[j]) and (strong or lex.known(toks[j])):
                    i = add(j, 0.7 if strong else 0.6)
                    continue
                if j + 1 < n and lex.wordlike(toks[j]) and lex.first_name(toks[j]) and not lex.clinical_term(toks[j]) \
                        and toks[j + 1].begin - toks[j].end == 1 and lex.wordlike(toks[j + 1]) \
                        and _surname_shape(toks[j + 1].base) and not lex.english(toks[j + 1]) \
                        and not lex.clinical_term(toks[j + 1]):
                    i = add(j, 0.65)  # "consult with patty hoeller": a first name that is also a word, and a surname
                    continue
            if "-" in t.key:  # "DAUGHTER-KRISSY": a cue and a name joined by a hyphen
                head, _, rest = t.text.partition("-")
                if self.relations.match(tokenize(head), 0) and rest.isalpha():
                    inner = tokenize(rest)[0]
                    if self._listed(inner, cased):
                        b = t.begin + len(head) + 1
                        out.append(PhiSpan.of(text, b, t.end, "NAME", 0.85, self.name))
                        i += 1
                        continue
            initial = len(t.text) == 1 and (t.begin == 0 or text[t.begin - 1] in " \t\n(-")  # not "90's." or "N/V."
            if initial and i + 2 < n and toks[i + 1].text == "." and toks[i + 2].begin - toks[i + 1].end <= 1:
                w = toks[i + 2]  # "W. MAROTTA", "J. Yi"
                proper = cased and w.text[0].isupper() and w.text[1:].islower()
                if lex.wordlike(w) and not lex.clinical_term(w) and (
                        (not lex.english(w, proper) and (proper or (len(w.base) > 3 and not lex.frequent(w))))
                        or w.base in lex.v.last_names):
                    i = add(i, 0.65)
                    continue
            if lex.wordlike(t) and lex.first_name(t) and not lex.clinical_term(t) and i + 1 < n \
                    and self.person_verbs.match(toks, i + 1) \
                    and toks[i + 1].begin - t.end <= 2 \
                    and (i == 0 or not toks[i - 1].alpha or toks[i - 1].key in _LIST):
                i = add(i, 0.6)  # "bill called", "bob visited" at the start of a clause
                continue
            if lex.first_name(t) and not lex.clinical_term(t) and i + 1 < n and len(t.base) > 2 \
                    and (not lex.frequent(t) or (cased and t.text[0].isupper())):
                w = toks[i + 1]  # "Hank Przybylo", "Mary Rueping": a first name and a surname-like word
                if w.begin - t.end <= 2 and len(w.base) > 2 and lex.wordlike(w) and not lex.english(w, cased) \
                        and (not cased or (t.text[0].isupper() and w.text[0].isupper())):
                    i = add(i, 0.65)
                    continue
            if i + 1 < n and toks[i + 1].key == "family" and toks[i + 1].begin - t.end == 1 and lex.wordlike(t) \
                    and len(t.base) > 2 and not lex.clinical_term(t) and lex.known(t):
                i = add(i, 0.7)  # "keep ROMERO FAMILY aware" (not "supprt family")
                continue
            if cased and i + 1 < n and self._proper_unknown(t) and self._proper_unknown(toks[i + 1]) \
                    and toks[i + 1].begin - t.end == 1:
                i = add(i, 0.6)  # "Lopie Certusi": two capitalised words that are no English, clinical or place words
                continue
            if lex.wordlike(t) and len(t.base) > 2 and not lex.english(t):
                if lex.known(t):
                    i = add(i, 0.6)
                    continue
                nxt = i + 1
                if nxt < n and self._after_name(toks, nxt) and not lex.clinical_term(t):  # "W. MAROTTA AWARE"
                    out += self._initial_before(text, toks, i)
                    out.append(PhiSpan.of(text, t.begin, t.end, "NAME", 0.7, self.name))
            i += 1
        return out + self._signatures(text, toks, cased, caps)

    def _after_name(self, toks: list[Tok], i: int) -> bool:
        """A word that follows a person ("aware", "notified"), also glued to the next by a hyphen
        ("MAROTTA AWARE-WILL START PROTONIX", as all-capitals nursing notes write it)."""
        if self.after_name.match(toks, i):
            return True
        head = toks[i].text.split("-")[0]
        return head.isalpha() and head != toks[i].text and bool(self.after_name.match(tokenize(head), 0))

    def _initial_before(self, text: str, toks: list[Tok], i: int) -> list[PhiSpan]:
        """The first initial before a surname: "W. MAROTTA", also after a hyphen ("CARAFATE-W. MAROTTA")."""
        if i < 2 or toks[i - 1].text != ".":
            return []
        prev = toks[i - 2]
        head, _, last = prev.text.rpartition("-")
        if len(last) == 1 and last.isalpha() and (not head or last.isupper()):
            return [PhiSpan.of(text, prev.end - 1, prev.end, "NAME", 0.7, self.name)]
        return []

    def _title_ok(self, toks: list[Tok], i: int, j: int) -> bool:
        """Weak titles ("ms" is also mental status) need a word that is no English word, and no colon."""
        if toks[i].key in _WEAK_TITLES:
            return not self.lex.english(toks[j]) and toks[i + 1].text != ":"
        return not self.lex.clinical_term(toks[j]) or self.lex.known(toks[j])

    def _signatures(self, text: str, toks: list[Tok], cased: bool, caps: bool = False) -> list[PhiSpan]:
        """Name-like words right before a credential: "Bernard Foley CRT", "J. Yi, MD", "Mary Hulse, R.N.".

        "PA", "DO" and "PT" are also clinical abbreviations, so before them the words need a known first
        name or a word that is no English word; nursing credentials ("RN", "RRT") accept initials too.
        """
        lex = self.lex
        out = []
        for i in range(1, len(toks)):
            if not self.credentials.match(toks, i) or (cased and toks[i].text.islower()):
                continue
            strong_credential = bool(self.strong_credentials.match(toks, i))
            j = i - 1
            if toks[j].text == ",":
                j -= 1
            start, evidence, first = None, 0, False
            while j >= 0 and i - j <= 6 and "\n" not in text[toks[j].end:toks[j + 1].begin]:
                w = toks[j]
                if w.text == "." and j > 0 and len(toks[j - 1].text) == 1 and toks[j - 1].alpha:
                    j -= 1  # an initial
                    start = j
                    evidence += strong_credential
                elif lex.wordlike(w) and len(w.base) > 2 and (
                        not lex.english(w, caps and proper_case(w)) or lex.first_name(w)):
                    start = j
                    first = first or lex.first_name(w)
                    evidence += not lex.clinical_term(w) or lex.first_name(w)
                elif lex.wordlike(w) and len(w.base) > 2 and lex.known(w):  # "Bernard Foley": needs a first name
                    start = j
                elif strong_credential and lex.wordlike(w) and len(w.base) > 2 and not lex.clinical_term(w):
                    start = j  # "Q. LANDER RRT": an English surname, if an initial or a name vouches for it
                else:
                    break
                j -= 1
            if start is None or not evidence:
                continue
            end_tok = i - 1 if toks[i - 1].text != "," else i - 2
            if end_tok < start:
                continue
            words = [w for w in toks[start:end_tok + 1] if w.alpha and len(w.text) > 1]
            if any(lex.clinical_term(w) for w in words) and not first:
                continue
            out.append(PhiSpan.of(text, toks[start].begin, toks[end_tok].end, "NAME", 0.8, self.name))
        return out
