"""Masking, redaction, surrogates, date shifting and the key: what comes out of the text pipeline."""

from __future__ import annotations

from datetime import date

import pytest
from deid_helpers import VOCAB_CACHE

from bedside.deid import dateshift, keys
from bedside.deid.pipeline import Deidentifier
from bedside.errors import InputError

NOTE = ("Mr. Nicholson seen by Dr. Vasquez on 7/22/2003; Dr. Vasquez called his wife Mary at 410-555-1234. "
        "Nicholson is a 94 yo man, MRN 00123456. Follow-up 8/5/2003 at Calvert Hospital.")
ORIGINALS = ["Nicholson", "Vasquez", "Mary", "410-555-1234", "00123456", "7/22/2003", "8/5/2003", "Calvert", "94"]
KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def deid():
    return Deidentifier("surrogate", key=KEY, cache_dir=VOCAB_CACHE)


@pytest.mark.parametrize("mode", ["mask", "surrogate", "redact"])
def test_no_original_identifier_survives(deid, mode):
    out = deid(NOTE, patient="15", mode=mode).text
    for original in ORIGINALS:
        assert original not in out.split() and f" {original}" not in out, (mode, original)


def test_mask_writes_the_class(deid):
    out = deid(NOTE, mode="mask").text
    assert out.startswith("Mr. [NAME] seen by Dr. [NAME] on [DATE];")
    assert "[AGE] yo man" in out and "[MRN]" in out and "[PHONE]" in out


def test_surrogates_are_consistent_within_a_document(deid):
    result = deid(NOTE, patient="15")
    names = [s for s in result.spans if s.type == "NAME"]
    assert [s.text for s in names].count("Vasquez") == 2
    out = result.text
    fake = out.split("seen by Dr. ")[1].split(" ")[0]
    assert fake != "Vasquez" and out.count(f"Dr. {fake}") == 2
    fake_patient = out.split("Mr. ")[1].split(" ")[0]
    assert f"{fake_patient} is a 90+ yo man" in out


def test_same_key_same_surrogates_across_documents(deid):
    again = Deidentifier("surrogate", key=KEY, cache_dir=VOCAB_CACHE)
    assert deid(NOTE, patient="15").text == again(NOTE, patient="15").text
    other_key = Deidentifier("surrogate", key=b"another key of enough length!!", cache_dir=VOCAB_CACHE)
    assert other_key(NOTE, patient="15").text != deid(NOTE, patient="15").text


def test_date_shift_keeps_intervals_and_format(deid):
    out = deid(NOTE, patient="15").text
    first = out.split(" on ")[1].split(";")[0]
    second = out.split("Follow-up ")[1].split(" ")[0]
    m1, d1, y1 = (int(x) for x in first.split("/"))
    m2, d2, y2 = (int(x) for x in second.split("/"))
    assert (date(y2, m2, d2) - date(y1, m1, d1)).days == (date(2003, 8, 5) - date(2003, 7, 22)).days
    offset = (date(y1, m1, d1) - date(2003, 7, 22)).days
    assert offset == keys.date_offset(KEY, "15") and offset % 7 == 0 and offset < 0


def test_offset_is_per_patient_and_stable():
    assert keys.date_offset(KEY, "15") == keys.date_offset(KEY, "15")
    offsets = {keys.date_offset(KEY, str(p)) for p in range(50)}
    assert len(offsets) > 20 and all(-1092 <= o <= -371 for o in offsets)


@pytest.mark.parametrize("text, expected", [
    ("7/22", "5/3"), ("07/22/2003", "05/02/2002"), ("7/02/03", "04/12/02"), ("Feb 14", "Nov 25"),
    ("14th of February", "25th of November"),
    ("February 14th, 2003", "November 25th, 2001"), ("1992", "1991"), ("'95", "'94"), ("2003-02-14", "2001-11-25"),
])
def test_dateshift_formats(text, expected):
    assert dateshift.shift(text, -446) == expected


def test_dateshift_refuses_what_it_cannot_shift():
    assert dateshift.shift("christmas", -400) is None
    assert dateshift.shift("sept", -400) is None  # a month alone would often stay the same


def test_key_never_in_output_or_repr(deid):
    result = deid(NOTE, patient="15")
    blob = result.text + repr(result.to_dict()) + repr(deid)
    assert KEY.decode() not in blob and KEY.hex() not in blob


def test_key_file(tmp_path):
    short = tmp_path / "short"
    short.write_bytes(b"abc\n")
    with pytest.raises(InputError, match="at least 16 random bytes") as exc:
        keys.load_key(short)
    assert "abc" not in str(exc.value)
    good = tmp_path / "key"
    good.write_bytes(KEY + b"\n")
    assert keys.load_key(good) == KEY
    with pytest.raises(InputError, match="not found"):
        keys.load_key(tmp_path / "missing")


@pytest.mark.parametrize("bad", ["", "   \n", b"bytes"])
def test_bad_text(deid, bad):
    with pytest.raises(InputError):
        deid(bad)
