"""Synthetic notes with injected PHI (bedside.deid.synth): offsets, classes, determinism, BRAT round trip."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from bedside.deid import synth
from bedside.deid.physionet import bedside_class
from bedside.deid.spans import TYPES
from bedside.ner.brat import read_brat

FINE = {"NAME", "HOSPITAL", "LOCATION", "ADDRESS", "ZIP", "DATE", "AGE", "PHONE", "MRN", "SSN", "ACCOUNT", "EMAIL",
        "URL"}


@pytest.fixture(scope="module")
def notes():
    return synth.generate(300, seed=7)


def _read_ann(path):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tid, typ_off, text = line.split("\t")
        typ, b, e = typ_off.split(" ")
        out.append((typ, int(b), int(e), text))
    return out


def test_every_span_is_phi_text_of_a_known_type(notes):
    for note in notes:
        last_end = -1
        for s in note.spans:
            assert s.type in TYPES
            value = note.text[s.begin:s.end]
            assert value and value == value.strip(), (note.name, value)
            assert s.begin >= last_end, f"{note.name}: overlapping spans"
            last_end = s.end


def test_all_classes_and_both_styles_occur(notes):
    assert {s.type for n in notes for s in n.spans} == FINE
    assert {n.style for n in notes} == set(synth.STYLES)
    # all-caps and all-lowercase nursing notes, as in ICU notes
    nursing = [n.text for n in notes if n.style == "nursing"]
    assert any(t == t.upper() for t in nursing) and any(t == t.lower() for t in nursing)


def test_clinicians_relatives_and_old_ages(notes):
    before = [(n.text[max(0, s.begin - 12):s.begin].lower(), s) for n in notes for s in n.spans if s.type == "NAME"]
    assert any(re.search(r"\bdr\.? $", b) for b, _ in before)
    relations = synth.templates()["relations"]
    assert any(b.rstrip().endswith(r.lower()) for b, _ in before for r in relations)
    ages = [int(n.text[s.begin:s.end]) for n in notes for s in n.spans if s.type == "AGE"]
    assert ages and min(ages) >= 90
    # ages a note may state are still there as plain text, so the model learns both
    assert any(re.search(r"\b[1-8]\d ?(?:yo|y/o|year)", n.text, re.I) for n in notes)


def test_brat_spans_match_text_and_read_back(notes, tmp_path):
    counts = synth.write_brat(notes[:60], tmp_path)
    assert set(counts) <= {"NAME", "LOCATION", "DATE", "PHONE", "AGE", "ID"}
    for ann in sorted(tmp_path.glob("*.ann")):
        text = ann.with_suffix(".txt").read_text(encoding="utf-8")
        for typ, b, e, value in _read_ann(ann):
            assert text[b:e] == value
            assert typ == bedside_class(typ)
    corpus = read_brat(tmp_path, strict=True)
    assert corpus.counts["documents"] == 60 and not corpus.problems
    assert sum(len(ex.spans) for ex in corpus.examples) == sum(counts.values())


def test_fine_types_are_kept_when_asked(notes, tmp_path):
    counts = synth.write_brat(notes, tmp_path, fine=True)
    assert set(counts) == FINE


def test_same_seed_same_notes_other_seed_other_notes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synth.write_brat(synth.generate(25, seed=3), a)
    synth.write_brat(synth.generate(25, seed=3), b)
    synth.write_brat(synth.generate(25, seed=4), c)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir()) and len(files) == 50
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    texts_c = {p.read_text(encoding="utf-8") for p in c.glob("*.txt")}
    assert not texts_c & {(a / f).read_text(encoding="utf-8") for f in files if f.endswith(".txt")}
    # note i depends on (seed, i) only: a shorter run is a prefix of a longer one
    assert [n.text for n in synth.generate(5, seed=3)] == [n.text for n in synth.generate(25, seed=3)[:5]]


def test_dates_format_without_platform_flags():
    from datetime import date

    d = date(2014, 3, 2)
    assert synth.format_date(d, "%-m/%-d/%y") == "3/2/14"
    assert synth.format_date(d, "%B %-dth") == "March 2nd"
    assert synth.format_date(date(2014, 3, 13), "%B %-dth") == "March 13th"


def test_cli_writes_brat_and_summary(tmp_path):
    from bedside.cli.deid import synth_deid

    app = typer.Typer()
    app.command()(synth_deid)
    result = CliRunner().invoke(app, ["--n", "4", "--out", str(tmp_path / "out"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["notes"] == 4 and sum(summary["spans"].values()) > 0
    assert len(list((tmp_path / "out").glob("*.ann"))) == 4


def test_recipe_trains_on_physionet_and_synthetic_scores_on_real(tmp_path):
    from bedside.ner.recipe import load_recipe

    recipe = load_recipe("deid_physionet_synth", tmp_path)
    assert [r.path for r in recipe.train] == [tmp_path / "train", tmp_path / "synth"]
    assert [r.path for r in recipe.dev] == [tmp_path / "dev"]
    assert 0 < recipe.params.time_limit_min <= 30


def test_registered_cli_command_writes_brat(tmp_path):
    from typer.testing import CliRunner

    from bedside.cli import app

    result = CliRunner().invoke(app, ["deid-synth", "--n", "2", "--out", str(tmp_path / "s"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").glob("*.ann"))) == 2
