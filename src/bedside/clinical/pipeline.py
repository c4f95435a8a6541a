"""The rule pipeline: sections -> sentences -> pattern entities -> attributes -> traits -> Document.

Entity spans from another detector (the trained model) may be passed in; they are kept as given and
rule entities that overlap them give way, with one exception: a lab test followed by its value
("Creatinine 1.4 mg/dL") beats a MEDICATION span over the same words, because chemical corpora tag
analytes as chemicals. ``fallback=False`` keeps the medication and condition lexicons out, for when
the model alone should decide those categories (tests, time, social history, PHI patterns and
anatomy are still found by rules: the public corpora do not annotate them).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bedside.clinical import resources
from bedside.clinical.context import ConText
from bedside.clinical.doc import Analyzer, Doc
from bedside.clinical.external import DEFAULT_TYPES, coerce
from bedside.clinical.labs import LabValues
from bedside.clinical.lexicon import Lexicon, Salts, Term
from bedside.clinical.modifiers import ConditionModifiers
from bedside.clinical.patterns import Patterns
from bedside.clinical.regex import Rx
from bedside.clinical.schema import Document, Trait
from bedside.clinical.sig import Sig
from bedside.clinical.spans import Occupied, Overlapping, Span, drop_overlaps
from bedside.errors import InputError

CONDITION, MEDICATION, TEST = "MEDICAL_CONDITION", "MEDICATION", "TEST_TREATMENT_PROCEDURE"
ANATOMY, TIME = "ANATOMY", "TIME_EXPRESSION"
_CORE = (CONDITION, MEDICATION, TEST)
_SWAPPABLE = {CONDITION, MEDICATION}  # a test name tagged as a chemical is handled by lab values instead
_ALLERGY_WORDS = ("allerg", "hypersensitiv", "intoleran")  # the head words of social.json's ALLERGIES
_KIND_SCORE, _SECTION_KIND_SCORE = 0.8, 0.6
_QUANTITIES = frozenset({"AMOUNT", "DOSAGE", "STRENGTH", "RATE"})
_FUNCTION_WORDS = frozenset({"no", "at", "in", "on", "of", "to", "the", "a", "an", "and", "or", "for", "with", "by",
                             "is", "was", "as"})
# lower case only: "hepatitis A", "vitamin A", "AT" end gold mentions
_TRAILING = re.compile(r"(?:[\s,;(]+(?:of|the|and|or|with|in|to|for|by|on|an|as|is|was))+[\s,;(]*$")
_TIME_WINDOW = 300  # characters
# Which entity category each attribute type belongs to (Comprehend's attribute Category).
_ATTRIBUTE_CATEGORY = {
    "TEST_VALUE": TEST, "TEST_UNIT": TEST, "ACUITY": CONDITION, "DIRECTION": CONDITION, "SYSTEM_ORGAN_SITE": ANATOMY,
}


class _Found:
    """Attributes gathered for one note: entity span -> [(attribute span, relationship score)]."""

    def __init__(self) -> None:
        self.by_entity: dict[Span, list[tuple[Span, float]]] = {}
        self.unmapped: list[Span] = []

    def add(self, entity: Span, attribute: Span, relationship: float) -> None:
        self.by_entity.setdefault(entity, []).append((attribute, relationship))

    def spans(self) -> list[Span]:
        return [a for attrs in self.by_entity.values() for a, _ in attrs]


def _words(folder: Path | None, file: str, key: str, field: str) -> frozenset[str]:
    table = resources.require(resources.load(file, folder), key, file)
    return frozenset(resources.require(table, field, f"{file} {key}"))


class RulePipeline:
    """Rule-based clinical extraction over a note, optionally around another detector's entities."""

    def __init__(self, folder: Path | None = None, *, fallback: bool = True):
        self.fallback = fallback
        self.analyze = Analyzer(folder)
        self.context = ConText(folder)
        self.lexicon = Lexicon(("medications.json", "tests.json", "conditions.json"), folder)
        self.anatomy = Lexicon(("anatomy.json",), folder)
        self.salts = Salts(folder)
        self.patterns = Patterns(("time.json", "phi.json", "social.json"), folder)
        self.labs = LabValues(folder)
        self.sig = Sig(folder)
        self.modifiers = ConditionModifiers(folder)
        # word lists the rules apply to another detector's spans (each list's "_why" is in its file)
        self.ambiguous = _words(folder, "conditions.json", "ambiguous_abbreviations", "terms")
        self.not_before = {w.lower() for w in _words(folder, "conditions.json", "not_before", "words")}
        self.room_air_words = _words(folder, "tests.json", "room_air", "words")
        after = resources.require(resources.load("tests.json", folder), "room_air", "tests.json")
        self.room_air_after = Rx(resources.require(after, "after", "tests.json room_air"), "tests.json room_air")

    def __call__(self, text: str, entities: Iterable[Any] | None = None) -> Document:
        return self.run(text, entities)

    def run(self, text: str, entities: Iterable[Any] | None = None) -> Document:
        """The document for ``text``; ``entities`` are another detector's spans (see ``external``)."""
        if not isinstance(text, str):
            raise InputError(f"note text must be a str, not {type(text).__name__} (decode bytes first)")
        doc = self.analyze(text)
        # a span without a letter is no drug or disease ("levo added at 0230": a time), nor is a function
        # word ("No" of "Mitroflow No. 23", "at"); all-caps stays: nitric oxide is written "NO"
        external = _unique(sorted((self._typed(doc, s) for s in coerce(text, entities)
                                   if s.category not in _SWAPPABLE
                                   or (any(c.isalpha() for c in s.text) and s.text.lower() not in _FUNCTION_WORDS)
                                   or s.text.isupper()), key=_order))
        external, senses = self._one_sense_per_note(doc, [_without_trailing_words(s) for s in external])
        # words the model's training corpora wrote often and never tagged: dropped unless a lexicon knows them
        external = [s for s in external if not (s.meta.get("untagged") and self.lexicon.lookup(doc, s) is None)]
        sig_pool = self.sig.every_candidate(doc)  # found once: it trims the detector's spans, then becomes attributes
        external = self._without_room_air(doc, self._without_anatomy_words(doc, external))
        external = self._without_sig_edges(doc, external, sig_pool)
        found = _Found()
        spans = self._entities(doc, external, found, senses)
        sites, words, sig = self._attribute_candidates(doc, spans, found, sig_pool)
        spans = self._condition_attributes(doc, spans, sites + words, found)
        spans = self._medication_attributes(doc, spans, sig, found)
        return self._document(doc, self._time_types(doc, spans), found)

    def run_many(self, texts: Iterable[str]) -> Iterator[Document]:
        for text in texts:
            yield self.run(text)

    def traits_for(self, text: str, entities: Iterable[Any]) -> list[list[Trait]]:
        """Traits of each given entity (same order): the ConText layer alone, for any detector."""
        if not isinstance(text, str):
            raise InputError(f"note text must be a str, not {type(text).__name__} (decode bytes first)")
        doc = self.analyze(text)
        return self._traits(doc, [self._typed(doc, s) for s in coerce(text, entities)])

    # -- entities -------------------------------------------------------------------------------

    def _typed(self, doc: Doc, span: Span) -> Span:
        """An external span with a type: the lexicon's when it knows the words, else the category's default.

        A span that is exactly a lexicon condition or medication takes the lexicon's category: the entity
        model trained on PubMed tagged "ascites" and "hepatitis B" as chemicals (dev strict F1 through the
        pipeline +0.03 BC5CDR-disease, +0.07 chemical), and "DVT" or "PE" in a clinical note. Abbreviations
        that mean a condition in one field and a chemical in another (conditions.json
        ``ambiguous_abbreviations``: "CP" is chest pain here, cyclophosphamide in PubMed) keep the model's."""
        if span.type:
            return span
        if span.category in _SWAPPABLE and not _abbreviation(span.text) and self.anatomy.lookup(doc, span) is not None:
            # a body part alone is no drug or disease: the model read "mediastinum" and "albuginea" as ones.
            # An abbreviation keeps the model's reading: "LV" is leukocytoclastic vasculitis in BC5CDR.
            return span.with_(category=ANATOMY, type="SYSTEM_ORGAN_SITE")
        term = self.lexicon.lookup(doc, span) if span.category in _CORE else None
        if term is not None and term.category != span.category and {term.category, span.category} <= _SWAPPABLE \
                and span.text not in self.ambiguous:
            return span.with_(category=term.category, type=term.type, meta=_with_traits(span, term))
        if term is not None and term.over_chemical and span.category == MEDICATION:
            # a panel or study the model read as a chemical ("Repeat BMP in AM": bone morphogenetic protein in
            # PubMed); analytes ("creatinine", "urea") stay chemicals, as BC5CDR tags them
            return span.with_(category=TEST, type=term.type)
        if term is not None and term.type == "PROCEDURE_NAME" and span.category == CONDITION:
            return span.with_(category=TEST, type=term.type)  # a listed procedure ("embolization")
        if term is not None and term.by_suffix and term.category == TEST and span.category in _SWAPPABLE:
            # one word with a procedure's or test's ending ("pleurodesis", "orchidopexy", "urography"): no
            # corpus the model learnt from tags one, yet it reads some as conditions or drugs
            return span.with_(category=term.category, type=term.type)
        if term is not None and term.category == span.category:
            return span.with_(type=term.type, meta=_with_traits(span, term))
        return span.with_(type=DEFAULT_TYPES.get(span.category, span.category))

    def _one_sense_per_note(self, doc: Doc, spans: list[Span]) -> tuple[list[Span], dict[str, str]]:
        """An ambiguous abbreviation ("GAD", "CP") read both ways in one note takes its most frequent reading
        (ties: the condition's), as one writer means one thing by it (one sense per discourse, Gale, Church
        and Yarowsky 1992): "MDD and GAD" was a condition and "2. GAD - start hydroxyzine" a medication.
        An occurrence the detector left alone counts with the lexicon's reading, which the fallback gives it
        (and which follows the chosen reading: see ``_entities``). Returns the spans and the readings chosen."""
        readings: dict[str, list[str]] = {}
        for s in spans:
            if s.text in self.ambiguous and s.category in _SWAPPABLE:
                readings.setdefault(s.text, []).append(s.category)
        if self.fallback and readings:
            taken = Occupied(spans)
            for text, cats in readings.items():
                for m in re.finditer(rf"(?<![\w-]){re.escape(text)}(?![\w-])", doc.text):
                    if not taken.hits(m.start(), m.end()):
                        term = self.lexicon.lookup(doc, Span.of(doc.text, m.start(), m.end()))
                        if term is not None and term.category in _SWAPPABLE:
                            cats.append(term.category)
        chosen = {}
        for text, cats in readings.items():
            if len(set(cats)) > 1:
                chosen[text] = max(sorted(set(cats)), key=lambda c: (cats.count(c), c == CONDITION))
        return [_as(s, chosen[s.text]) if s.text in chosen else s for s in spans], chosen

    def _without_anatomy_words(self, doc: Doc, spans: list[Span]) -> list[Span]:
        """Without conditions that describe anatomy ("The cardiomediastinal silhouette is normal"): the
        next word is one of conditions.json's ``not_before``."""
        def described(s: Span) -> bool:
            if s.category != CONDITION:
                return False
            k = bisect_left(doc.tokens.starts, s.end)
            return k < len(doc.tokens) and doc.tokens.keys[k] in self.not_before
        return [s for s in spans if not described(s)]

    def _without_room_air(self, doc: Doc, spans: list[Span]) -> list[Span]:
        """Without "RA" / "room air" tagged as a medication right after an oxygen saturation ("98% on RA")."""
        def room_air(s: Span) -> bool:
            if s.category != MEDICATION or " ".join(s.text.lower().split()) not in self.room_air_words:
                return False
            lo = max(0, s.begin - 40)
            folded = doc.folded[lo:s.begin] if doc.folded is not None else None
            return self.room_air_after.search(doc.text[lo:s.begin], folded) is not None
        return [s for s in spans if not room_air(s)]

    @staticmethod
    def _without_allergy_words(patterned: list[Span], external: list[Span]) -> list[Span]:
        """Without the detector's conditions that are the words of an ALLERGIES entity: "No known drug
        allergies" is one entity, not also a "drug allergies" condition. A drug or a reaction inside one
        stays ("allergic to penicillin (hives)"). Substance words are left as the model tags them:
        "denied alcohol" yields ALCOHOL_CONSUMPTION and an alcohol MEDICATION, because BC5CDR tags
        cocaine and ethanol as chemicals and dropping them cost 0.7 dev chemical F1."""
        whole = {(s.begin, s.end) for s in patterned if s.type == "ALLERGIES"}  # "NKDA" tagged as a condition
        allergies = Occupied(s for s in patterned if s.type == "ALLERGIES")
        return [e for e in external if not (e.category == CONDITION and (
            (e.begin, e.end) in whole
            or (any(w.lower().startswith(_ALLERGY_WORDS) for w in e.text.split()) and allergies.hits(e.begin, e.end))))]

    def _without_sig_edges(self, doc: Doc, spans: list[Span], sig_pool: list[Span]) -> list[Span]:
        """Another detector's spans without sig abbreviations at their edges: the entity model, trained on
        PubMed, read "PO Q6H" as a medication and "prn fever" as a condition. Only frequencies and short
        route abbreviations ("po", "iv", "sl") are cut; "oral contraceptives" keeps its route word."""
        # a medication that is nothing but a form word ("amio gtt": the model read "gtt" as a second drug)
        forms = {(c.begin, c.end) for c in sig_pool if c.type == "FORM"}
        # (an all-caps abbreviation stays: "CAP" is capecitabine in ADE-Corpus-V2, not a capsule)
        spans = [s for s in spans
                 if not (s.category == MEDICATION and (s.begin, s.end) in forms and not s.text.isupper())]
        # nor is the unit of an amount ("tiotropium 18 mcg inhaled": the model read "mcg" as a second drug)
        amounts = Occupied(c for c in sig_pool if c.type in _QUANTITIES)
        spans = [s for s in spans if not (s.category == MEDICATION and amounts.covers(s.begin, s.end))]
        cut = [c for c in sig_pool if c.type == "FREQUENCY"
               or (c.type == "ROUTE_OR_MODE" and len(c.text) <= 3 and c.text.replace(".", "").isalpha())]
        if not cut:
            return spans
        out = []
        for s in spans:
            b, e = s.begin, s.end
            changed = True
            while changed and b < e:
                changed = False
                for c in cut:  # a sig phrase at the span's start or end, or reaching into it ("q6h prn" + "prn fever")
                    if c.begin <= b < c.end and c.end <= e and _word_follows(doc.text, c.end, e):
                        b, changed = c.end, True
                    elif c.begin < e <= c.end and c.begin >= b:
                        e, changed = c.begin, True
                    while b < e and doc.text[b].isspace():
                        b += 1
                    while e > b and doc.text[e - 1].isspace():
                        e -= 1
            if e <= b:
                continue  # nothing but sig words
            out.append(s if (b, e) == (s.begin, s.end) else s.with_(begin=b, end=e, text=doc.text[b:e]))
        return out

    def _entities(self, doc: Doc, external: list[Span], found: _Found, senses: dict[str, str]) -> list[Span]:
        lexical = [s for s in self.lexicon.find(doc) if self.fallback or s.category == TEST]
        if senses:
            lexical = [_as(s, senses[s.text]) if s.text in senses and s.category in _SWAPPABLE else s for s in lexical]
        starts = {s.begin for s in lexical if s.category == MEDICATION}
        external, grown = self.salts.extend(doc, external, MEDICATION, starts)
        lexical, more = self.salts.extend(doc, lexical, MEDICATION, starts)
        # the salt words a medication took in are no lab test or entity of their own ("docusate sodium")
        grown += more
        external = [e for e in external if not any(e.within(b, x) for b, x in grown)]
        lexical = [s for s in lexical if not any(s.within(b, x) for b, x in grown)]
        patterned = _longest_per_category(self.patterns.find(doc))
        external = self._without_allergy_words(patterned, external)
        # a string the model's training corpora nearly always tagged, which the model itself left alone, is
        # the weakest reading: a pattern or another category's list entry wins ("CA 125", "Alcohol: none")
        known, listed = Occupied(patterned), Overlapping(lexical)
        external = [e for e in external if not (e.meta.get("memory") and (known.hits(e.begin, e.end) or any(
            s.category != e.category for s in listed(e.begin, e.end))))]
        # an analyte no list knows, before a concentration ("Alpha-fetoprotein: 2.07 ng/ml"), unless a
        # detector or a list already named those words (the model's chemicals stay chemicals)
        named = Occupied(lexical + external + patterned)
        lexical += [s for s in self.labs.unnamed(doc) if not named.hits(s.begin, s.end)]
        tests = sorted((s for s in lexical + external if s.type == "TEST_NAME"), key=lambda s: s.begin)
        for link in self.labs.attach(doc, tests):
            found.add(tests[link.entity], link.attribute, link.relationship_score)
        # the words of a lab unit are no drug: "150/70 mm mercury" had given a mercury MEDICATION
        units = Occupied(a for a in found.spans() if a.type == "TEST_UNIT")
        external = [e for e in external if not (e.category in _SWAPPABLE and units.hits(e.begin, e.end))]
        valued = {t for t in tests if t in found.by_entity and t.source != "external"}
        lexical = [s for s in lexical if not s.meta.get("requires_value") or s in found.by_entity]
        beaten = Occupied(valued)
        external = [e for e in external if not (e.category == MEDICATION and beaten.hits(e.begin, e.end))]
        by_begin = sorted(valued, key=lambda t: t.begin)
        begins = [t.begin for t in by_begin]
        external = [t for t in (_cut_before_tests(doc, e, by_begin, begins) for e in external) if t is not None]
        external = _grown_to_terms(external, lexical)
        core = Occupied(e for e in external if e.category in _CORE)
        lexical = [s for s in lexical if s in valued or not core.hits(s.begin, s.end)]
        kept = []
        for cat in {s.category for s in patterned}:
            same = Occupied(e for e in external if e.category == cat)
            kept += [s for s in patterned if s.category == cat and not same.hits(s.begin, s.end)]
        return sorted(external + lexical + kept, key=_order)

    def _attribute_candidates(
        self, doc: Doc, spans: list[Span], found: _Found, sig_pool: list[Span],
    ) -> tuple[list[Span], ...]:
        """Body sites, acuity/direction words and sig attributes that no entity or lab value covers.

        Where a site and a sig phrase share words the longer wins: "by mouth" is a route, "oral cavity" a site.
        """
        others = Occupied(s for s in spans if s.category != CONDITION)
        sites = [a for a in self.anatomy.find(doc) if not others.hits(a.begin, a.end)]
        sig = self.sig.candidates(doc, spans + found.spans(), sig_pool)
        kept = {id(s) for s in drop_overlaps(sites + sig)}
        sites = [a for a in sites if id(a) in kept]
        sig = [a for a in sig if id(a) in kept]
        taken = Occupied(sites + sig)
        words = [w for w in self.modifiers.candidates(doc)
                 if not taken.hits(w.begin, w.end) and not others.hits(w.begin, w.end)]
        return sites, words, sig

    def _condition_attributes(self, doc: Doc, spans: list[Span], words: list[Span], found: _Found) -> list[Span]:
        """ACUITY, DIRECTION and body sites onto conditions; unclaimed sites become ANATOMY entities."""
        conditions = [s for s in spans if s.category == CONDITION]
        links, left = self.modifiers.link(doc, conditions, words)
        for link in links:
            found.add(conditions[link.entity], link.attribute, link.relationship_score)
        new = [s for s in left if s.category == ANATOMY]
        return sorted(spans + new, key=_order)

    def _medication_attributes(self, doc: Doc, spans: list[Span], candidates: list[Span], found: _Found) -> list[Span]:
        """Sig attributes onto medications; unclaimed durations become time expressions."""
        meds = [s for s in spans if s.category == MEDICATION]
        # a time expression owns no dose: "Warfarin was held on admission and resumed at 2.5 mg daily"
        walls = [s for s in spans if s.category not in (MEDICATION, TIME)]
        links, left = self.sig.link(doc, meds, candidates, walls)
        for link in links:
            found.add(meds[link.entity], link.attribute, link.relationship_score)
        kinds: dict[int | None, set[str]] = {}
        for a in candidates:
            kinds.setdefault(doc.sentence(a.begin), set()).add(a.type)
        new: list[Span] = []
        for a in left:
            if a.type == "DURATION":
                new.append(a.with_(category=TIME, type=TIME, score=0.8, source="sig"))
            elif len(kinds.get(doc.sentence(a.begin), ())) > 1:
                found.unmapped.append(a)
        return sorted(spans + new, key=_order)

    def _time_types(self, doc: Doc, spans: list[Span]) -> list[Span]:
        """TIME_TO_<type> of the nearest medication, condition or test in the sentence (Comprehend's types)."""
        core = [s for s in spans if s.category in _CORE]
        begins = [s.begin for s in core]
        out = []
        for span in spans:
            if span.category != TIME:
                out.append(span)
                continue
            si = doc.sentence(span.begin)
            best: tuple[int, Span] | None = None
            # Only entities within a few hundred characters can be nearest in practice; bounded for long notes.
            for s in core[bisect_left(begins, span.begin - _TIME_WINDOW):bisect_right(begins, span.end + _TIME_WINDOW)]:
                if doc.sentence(s.begin) == si:
                    distance = s.begin - span.end if s.begin >= span.end else span.begin - s.end
                    if best is None or abs(distance) < best[0]:
                        best = (abs(distance), s)
            out.append(span.with_(type=f"TIME_TO_{best[1].type}" if best else TIME))
        return out

    # -- traits and output ----------------------------------------------------------------------

    def _traits(self, doc: Doc, spans: list[Span]) -> list[list[Trait]]:
        scored = self.context.traits(doc, spans)
        return [[Trait(**t) for t in self._trait_list(doc, s, d)] for s, d in zip(spans, scored, strict=True)]

    def _trait_list(self, doc: Doc, span: Span, traits: dict[str, float]) -> list[dict[str, Any]]:
        """ConText's traits plus a pattern's fixed ones and, for conditions, DIAGNOSIS / SIGN / SYMPTOM."""
        for name in span.meta.get("traits", ()):
            traits[name] = max(traits.get(name, 0.0), span.score)
        if span.category == CONDITION:
            kind = self._kind(doc, span)
            if kind is not None:
                traits[kind[0]] = max(traits.get(kind[0], 0.0), kind[1])
        return [{"name": k, "score": v} for k, v in sorted(traits.items())]

    def _kind(self, doc: Doc, span: Span) -> tuple[str, float] | None:
        """DIAGNOSIS / SIGN / SYMPTOM: the last lexicon term inside the condition, else its section's default."""
        kind = None
        for m in self.lexicon.matches(doc, span.begin, span.end):
            if m.payload.kind and span.begin <= m.begin and m.end <= span.end:
                kind = m.payload.kind
        if kind is not None:
            return kind, _KIND_SCORE
        section = doc.section(span.begin)
        if section is not None and section.kind.condition_kind:
            return section.kind.condition_kind, _SECTION_KIND_SCORE
        return None

    def _document(self, doc: Doc, spans: list[Span], found: _Found) -> Document:
        """Entities numbered in text order, then their attributes, then unmapped attributes (Comprehend's ids)."""
        spans = _unique(spans)
        traits = self.context.traits(doc, spans)
        next_id = len(spans)
        entities: list[dict[str, Any]] = []
        for i, (span, scored) in enumerate(zip(spans, traits, strict=True)):
            attributes = []
            for attr, relationship in sorted(found.by_entity.get(span, ()), key=lambda x: (x[0].begin, x[0].end)):
                attributes.append(_attribute(next_id, attr, relationship, span.category))
                next_id += 1
            entities.append({
                "id": i, "text": span.text, "category": span.category, "type": span.type, "begin_offset": span.begin,
                "end_offset": span.end, "score": round(span.score, 4), "traits": self._trait_list(doc, span, scored),
                "attributes": attributes, "icd10cm_concepts": [] if span.category == CONDITION else None,
            })
        unmapped = []
        for attr in sorted(found.unmapped, key=lambda a: a.begin):
            unmapped.append(_attribute(next_id, attr, 0.0, MEDICATION))
            next_id += 1
        sections = [{"name": s.name, "begin_offset": s.begin, "end_offset": s.end,
                     "heading_begin_offset": s.heading_begin, "heading_end_offset": s.heading_end}
                    for s in doc.sections if s.end > s.begin]
        # One validation of the whole tree: much cheaper than a model per entity, attribute and trait.
        return Document.model_validate({"entities": entities, "unmapped_attributes": unmapped, "sections": sections})


def _word_follows(text: str, pos: int, end: int) -> bool:
    """Whether a word starts after white space at ``pos`` (not "SC - 48334", a compound's code)."""
    rest = text[pos:end]
    return rest[:1].isspace() and rest.lstrip()[:1].isalpha()


def _attribute(id_: int, attr: Span, relationship: float, owner: str) -> dict[str, Any]:
    return {"id": id_, "type": attr.type, "category": _ATTRIBUTE_CATEGORY.get(attr.type, owner), "text": attr.text,
            "begin_offset": attr.begin, "end_offset": attr.end, "score": round(attr.score, 4),
            "relationship_score": round(relationship, 4)}


def _as(span: Span, category: str) -> Span:
    """``span`` read as ``category`` (that category's default type), unchanged if it already is."""
    if span.category == category:
        return span
    return span.with_(category=category, type=DEFAULT_TYPES[category], meta={})


def _without_trailing_words(span: Span) -> Span:
    """A condition or drug without the function words it ends with: the model tagged "Stage IIIA
    adenocarcinoma of the" and left the site after it. No gold mention of NCBI-disease or BC5CDR
    (14,519 in train) ends with "of", "the", "and", "with", "in" or "or"; a capital stays ("hepatitis A")."""
    if span.category not in _SWAPPABLE or not (m := _TRAILING.search(span.text)) or m.start() == 0:
        return span
    return span.with_(end=span.begin + m.start(), text=span.text[:m.start()])


def _longest_per_category(spans: list[Span]) -> list[Span]:
    """Overlapping matches of one category (two alcohol regexes on one phrase) keep the longest."""
    out: list[Span] = []
    for cat in {s.category for s in spans}:
        out += drop_overlaps(s for s in spans if s.category == cat)
    return out


def _cut_before_tests(doc: Doc, span: Span, valued: list[Span], begins: list[int]) -> Span | None:
    """A condition that runs into a lab test with its value ends before the test: the model read the problem
    list item "Type 2 diabetes - A1c 8.4%" as one condition. Without a letter left it is dropped.

    ``valued`` is sorted by begin (``begins``): only the tests that start inside the span are looked at,
    since a long note has thousands of each."""
    if span.category != CONDITION:
        return span
    end = None
    for k in range(bisect_right(begins, span.begin), bisect_left(begins, span.end)):
        if span.end <= valued[k].end:
            end = valued[k].begin
            break
    if end is None:
        return span
    while end > span.begin and (doc.text[end - 1].isspace() or doc.text[end - 1] in "-–—:,;("):
        end -= 1
    if not any(c.isalpha() for c in doc.text[span.begin:end]):
        return None
    return span.with_(end=end, text=doc.text[span.begin:end])


def _grown_to_terms(external: list[Span], lexical: list[Span]) -> list[Span]:
    """A detector's condition or medication inside a longer lexicon term of its category takes the term.

    The model, trained on PubMed, tagged "heart failure" of "acute on chronic systolic heart failure"
    and "shock" of "cardiogenic shock"; the list names them in full, and ICD-10-CM codes the type
    (I50.23, not I50.813 "right heart failure"). A term holding two of the detector's spans stays two
    entities: "nausea and vomiting" is two conditions, as the corpora tag them.
    """
    terms = Overlapping(t for t in lexical if t.category in _SWAPPABLE)
    detected = Overlapping(external)
    out = []
    for e in external:
        if e.category in _SWAPPABLE:
            around = [t for t in terms(e.begin, e.end) if t.category == e.category and e.within(t.begin, t.end)
                      and t.end - t.begin > e.end - e.begin
                      and sum(o.category == e.category for o in detected(t.begin, t.end)) == 1]
            if around:
                t = max(around, key=lambda t: t.end - t.begin)
                e = e.with_(begin=t.begin, end=t.end, text=t.text, type=t.type)
        out.append(e)
    return out


def _with_traits(span: Span, term: Term) -> dict:
    """The span's meta plus the traits its lexicon term carries inside itself ("afebrile": NEGATION)."""
    return {**span.meta, "traits": term.traits} if term.traits else span.meta


def _abbreviation(text: str) -> bool:
    return len(text) <= 4 and text.isupper()


def _order(s: Span) -> tuple[int, int, str, str]:
    # Category and type break ties so that output order never depends on set iteration order.
    return s.begin, s.end, s.category, s.type


def _unique(spans: list[Span]) -> list[Span]:
    seen: set[Span] = set()
    return [s for s in spans if not (s in seen or seen.add(s))]
