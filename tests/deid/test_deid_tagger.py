"""The PHI tagger that ships in the package, run beside the rules, and the vetting of its spans."""

from __future__ import annotations

import pytest
from deid_helpers import VOCAB_CACHE, found

from bedside.deid.detect import NerDetector, default_detector, shipped_tagger
from bedside.deid.spans import PhiSpan


@pytest.fixture(scope="module")
def vetter():
    from bedside.deid import vocab
    from bedside.deid.vet import Vetter
    from bedside.deid.words import Lexicon

    return Vetter(Lexicon(vocab.load(VOCAB_CACHE)))


@pytest.fixture(scope="module")
def default():
    return default_detector(cache_dir=VOCAB_CACHE)


@pytest.fixture(scope="module")
def rules():
    return default_detector(cache_dir=VOCAB_CACHE, tagger=False)


def _span(text: str, piece: str, kind: str, nth: int = 0) -> PhiSpan:
    b = -1
    for _ in range(nth + 1):
        b = text.index(piece, b + 1)
    return PhiSpan.of(text, b, b + len(piece), kind, 0.95, "ner")


def test_the_package_ships_a_phi_tagger_and_runs_it_by_default(default, rules):
    folder = shipped_tagger()
    assert folder is not None and (folder / "model.onnx").stat().st_size < 30 * 2**20
    assert [d.name for d in default.detectors][-1] == "ner"
    assert "ner" not in [d.name for d in rules.detectors]
    tagger = default.detectors[-1]
    assert set(tagger.model.categories) >= {"NAME", "DATE", "LOCATION"}


@pytest.mark.parametrize("text, expected", [
    # context that no rule reads: a first name in capitals before "IS ON VACA", a hospice's name
    ("CASE MANAGEMENT TO CALL ON MONDAY (LUCY IS ON VACA) AND GIVE THE LIST.", ("NAME", "LUCY")),
    ("hospice care co.- stella maris will be assessing pt in the am.", ("NAME", "stella")),
])
def test_the_tagger_finds_what_the_rules_miss(default, rules, text, expected):
    assert expected not in found(rules, text)
    assert expected in found(default, text)


@pytest.mark.parametrize("text, piece, kind", [
    ("c/o 3/10 l back pain in am", "3/10", "DATE"),  # a pain score
    ("formula changed to 3/4 str Nepro", "3/4", "DATE"),
    ("HCT down to 25.2 (from 28.9 on 4/23)", "28", "DATE"),  # a piece of a number
    ("abg good (7.40/40/95/26)", "95/26", "DATE"),
    ("nsr in the 90's with rare pvc's", "90", "DATE"),
    ("Labs: 5.8>27.0<183", "5.8", "DATE"),
    ("CVP goal 14-16 per resident", "14-16", "DATE"),  # no month 14
    ("PT HAS FALLEN X 3 SINCE 8/7", "3", "DATE"),
    ("Will stop pressors after Rabbi sees pt.", "Rabbi", "NAME"),  # a role, not a name
    ("Brady and hypotensive on dopamine.", "Brady", "NAME"),  # a clinical abbreviation
    ("Dr. Kaufman aware.", ".", "NAME"),
    ("Patient (MRN 04567123), DOB 3/4/1950", "MRN", "PHONE"),  # a label, not a number
    ("A sister in Illinois was called.", "Illinois", "LOCATION"),  # a state: Safe Harbor keeps it
])
def test_vetting_drops_look_alikes_the_rules_know(vetter, text, piece, kind):
    assert not vetter(text, _span(text, piece, kind))


@pytest.mark.parametrize("text, piece, kind", [
    ("states 24 ( page showing 12/25)", "24", "DATE"),
    ("Extubated 12/11, sent to floor 12/13.", "12/13", "DATE"),
    ("Reported to Dr. Przybylo, plan unchanged.", "Przybylo", "NAME"),
    ("LUCY IS ON VACA", "LUCY", "NAME"),
    ("transferred from Kessler-Adventist Hosp", "Kessler", "LOCATION"),
    ("Pager 4-5521 for questions", "4-5521", "PHONE"),
    ("insulin drip following U Maryland scale", "U Maryland", "LOCATION"),  # a facility named for a state
    ("son Al called, will visit", "Al", "NAME"),  # also Alabama's code
])
def test_vetting_keeps_phi(vetter, text, piece, kind):
    assert vetter(text, _span(text, piece, kind))


def test_tagger_spans_are_vetted_inside_the_default_detector(default):
    """A pain score the tagger may call a date never comes out of the default detector."""
    text = "PT STATED HE HAD 3/10 INCISIONAL PAIN. Pain 8/10 this morning, 4/10 after tylenol."
    assert not [s for s in default(text) if s.type == "DATE"]


def test_tagger_without_vetting_is_the_model_alone():
    folder = shipped_tagger()
    text = "Pt seen by Dr. Przybylo on 7/22; wife Mary at bedside."
    spans = NerDetector(folder, threads=1)(text)
    assert spans and all(s.source == "ner" and text[s.begin:s.end] == s.text for s in spans)


def test_a_rule_names_the_class_of_a_span_the_tagger_also_found():
    from bedside.deid.spans import resolve

    text = "MRN 04567123, seen at Holy Cross."
    mrn, place = _span(text, "04567123", "MRN"), _span(text, "Holy Cross", "HOSPITAL")
    tagged = [PhiSpan.of(text, mrn.begin, mrn.end, "PHONE", 0.99, "ner"),
              PhiSpan.of(text, place.begin, place.end, "LOCATION", 0.98, "ner")]
    rules = [PhiSpan.of(text, mrn.begin, mrn.end, "MRN", 0.9, "pattern"),
             PhiSpan.of(text, place.begin, place.end, "HOSPITAL", 0.8, "places")]
    assert [(s.type, s.score, s.source) for s in resolve(text, tagged + rules)] == [
        ("MRN", 0.99, "ner+pattern"), ("HOSPITAL", 0.98, "ner+places")]
    assert [s.type for s in resolve(text, tagged)] == ["PHONE", "LOCATION"]  # the tagger alone names its own
