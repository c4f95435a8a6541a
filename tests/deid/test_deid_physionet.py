"""On the PhysioNet deid gold standard (skipped when the shared data is absent).

The no-leak check searches each de-identified note for the text of every gold PHI span: a span the
detector found must never survive, in mask or surrogate mode. Spans the detector missed do survive
(that is what recall measures); the test keeps them apart so a leak from the transformation itself
cannot hide among them. The score floors guard against regressions; they are dev-set numbers
(the rules were tuned on these notes).
"""

from __future__ import annotations

import re

import pytest
from deid_helpers import VOCAB_CACHE, make_detector, physionet_or_skip

from bedside.deid import physionet
from bedside.deid.evaluate import Scorer
from bedside.deid.pipeline import Deidentifier
from bedside.deid.transform import Mode, replacement


@pytest.fixture(scope="module")
def physionet_notes():
    return physionet_or_skip()


@pytest.fixture(scope="module")
def detector():
    return make_detector(tagger=True)  # the default: rules + the shipped PHI tagger



def test_reader_matches_gold_text(physionet_notes):
    assert len(physionet_notes) == 1450
    assert sum(len(n.gold) for n in physionet_notes) == 999
    for note in physionet_notes:
        for g in note.gold:
            assert note.text[g.begin:g.end] == g.text


@pytest.fixture(scope="module")
def detected(physionet_notes, detector):
    return [(note, detector(note.text)) for note in physionet_notes]


def _word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![^\W_]){re.escape(text.strip())}(?![^\W_])", re.IGNORECASE)


def _deidentify(text, spans, mode, deid, offset):
    """The de-identified text and, for each of its characters, whether it was written by a replacement."""
    out, written, pos = [], [], 0
    for s in spans:
        out.append(text[pos:s.begin])
        written += [False] * (s.begin - pos)
        new = replacement(s, mode, deid.surrogates if mode is Mode.surrogate else None, offset)
        out.append(new)
        written += [True] * len(new)
        pos = s.end
    out.append(text[pos:])
    written += [False] * (len(text) - pos)
    return "".join(out), written


@pytest.mark.parametrize("mode", [Mode.mask, Mode.surrogate])
def test_no_detected_gold_span_survives(detected, mode):
    """Every gold span the detector found is gone: its text occurs only where the note has the same
    words as ordinary text, or inside a surrogate (a shifted year may equal another original year)."""
    deid = Deidentifier(mode, key=b"physionet-test-key-0123456789", cache_dir=VOCAB_CACHE)
    leaks, checked = [], 0
    for note, spans in detected:
        out, written = _deidentify(note.text, spans, mode, deid, deid.offset(note.patient))
        hit = [any(s.begin < g.end and g.begin < s.end for s in spans) for g in note.gold]
        missed = {g.text.strip().lower() for g, h in zip(note.gold, hit, strict=True) if not h}
        plain = {m.group().lower() for m in re.finditer(r"[^\W_]+", _outside_text(note, spans))}
        for g, h in zip(note.gold, hit, strict=True):
            word = g.text.strip()
            if not word or not h or word.lower() in missed or word.lower().strip(".") in plain:
                continue  # missed (recall) or also ordinary text here ("SATS 92%"; the initial "S." and "40'S.")
            checked += 1
            for m in _word(word).finditer(out):
                if not all(written[m.start():m.end()]):
                    leaks.append((note.key, g.category))
    assert checked > 800
    assert leaks == []


def _outside_text(note, spans) -> str:
    """The note's text covered by neither a gold nor a detected span."""
    cuts = sorted([(g.begin, g.end) for g in note.gold] + [(s.begin, s.end) for s in spans])
    parts, pos = [], 0
    for b, e in cuts:
        if b > pos:
            parts.append(note.text[pos:b])
        pos = max(pos, e)
    parts.append(note.text[pos:])
    return " ".join(parts)


def test_scores_do_not_regress(detected):
    scorer = Scorer()
    for note, spans in detected:
        scorer.add(note.key, note.text,
                   [(g.begin, g.end, physionet.gold_class(g.category)) for g in note.gold],
                   [(s.begin, s.end, physionet.bedside_class(s.type)) for s in spans])
    report = scorer.report()
    overall = report["overall"]["span_overlap"]
    assert overall["gold"] == 999
    assert overall["recall"] >= 0.935 and overall["precision"] >= 0.90
    assert report["per_class"]["DATE"]["span_overlap"]["recall"] >= 0.95
    assert report["per_class"]["PHONE"]["span_overlap"]["recall"] == 1.0


def test_brat_conversion_round_trips(physionet_notes, tmp_path):
    from bedside.ner.data import CorpusRef, read_corpus

    train, dev = physionet.split_by_patient(physionet_notes)
    assert {n.patient for n in train}.isdisjoint({n.patient for n in dev}) and dev
    counts = physionet.write_brat(dev, tmp_path / "dev")
    corpus = read_corpus(CorpusRef(tmp_path / "dev"), strict=True)
    assert corpus.counts["documents"] == len(dev)
    assert sum(len(ex.spans) for ex in corpus.examples) + corpus.counts["overlaps_dropped"] == sum(counts.values())
    assert corpus.categories <= {"NAME", "LOCATION", "DATE", "PHONE", "AGE", "ID"}
