"""FHIR Bundle de-identification on real Synthea bundles: valid afterwards, no original identifiers left."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from deid_helpers import SYNTHEA, VOCAB_CACHE

from bedside.deid.fhir import deidentify_bundle, shift_fhir_date, validate_bundle
from bedside.deid.pipeline import Deidentifier
from bedside.errors import InputError

KEY = b"fhir-test-key-0123456789abcdef!"


def _bundles(n: int) -> list[dict]:
    files = sorted(SYNTHEA.glob("*.json"))[:n]
    if not files:
        pytest.skip(f"Synthea bundles not found under {SYNTHEA}")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


@pytest.fixture(scope="module")
def deid():
    return Deidentifier("surrogate", key=KEY, cache_dir=VOCAB_CACHE)


def _patient(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _originals(bundle: dict) -> list[str]:
    out = []
    for e in bundle["entry"]:
        r = e["resource"]
        for name in r.get("name", []) if isinstance(r.get("name"), list) else []:
            out += [name.get("family", "")] + name.get("given", [])
        for addr in r.get("address", []):
            out += addr.get("line", [])
        out += [t["value"] for t in r.get("telecom", [])]
        out += [i["value"] for i in r.get("identifier", []) if len(i["value"]) >= 7]
    return [o for o in out if o]


@pytest.mark.parametrize("mode", ["surrogate", "mask"])
def test_bundle_validates_and_holds_no_original_identifier(deid, mode):
    for bundle in _bundles(3):
        out = deidentify_bundle(bundle, deid, mode)
        validate_bundle(out)
        text = json.dumps(out, ensure_ascii=False)
        originals = _originals(bundle)
        assert len(originals) >= 6
        for original in originals:
            assert not re.search(rf"(?<![^\W_]){re.escape(original)}(?![^\W_])", text, re.IGNORECASE), original


def test_references_stay_consistent(deid):
    bundle = _bundles(1)[0]
    out = deidentify_bundle(bundle, deid)
    full_urls = {e["fullUrl"] for e in out["entry"]}
    old_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert full_urls.isdisjoint(old_urls) and len(full_urls) == len(old_urls)
    refs = re.findall(r'"reference": "(urn:uuid:[^"]+)"', json.dumps(out))
    assert refs and all(r in full_urls for r in refs)
    for e in out["entry"]:
        assert e["fullUrl"] == f"urn:uuid:{e['resource']['id']}"


def test_all_dates_move_by_the_patients_offset(deid):
    bundle = _bundles(1)[0]
    out = deidentify_bundle(bundle, deid)
    before, after = _patient(bundle)["birthDate"], _patient(out)["birthDate"]
    offset = (date.fromisoformat(after) - date.fromisoformat(before)).days
    assert offset < 0 and offset % 7 == 0
    enc_before = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    enc_after = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Encounter")
    start_b, start_a = enc_before["period"]["start"], enc_after["period"]["start"]
    assert (date.fromisoformat(start_a[:10]) - date.fromisoformat(start_b[:10])).days == offset
    assert start_a[10:] == start_b[10:]  # time of day and zone kept


def test_same_key_same_result(deid):
    bundle = _bundles(1)[0]
    again = Deidentifier("surrogate", key=KEY, cache_dir=VOCAB_CACHE)
    assert deidentify_bundle(bundle, deid) == deidentify_bundle(bundle, again)


def test_input_is_not_modified(deid):
    bundle = _bundles(1)[0]
    copy = json.loads(json.dumps(bundle))
    deidentify_bundle(bundle, deid)
    assert bundle == copy


def test_narrative_is_deidentified_and_stays_xhtml(deid):
    bundle = _bundles(1)[0]
    patient = _patient(bundle)
    name = patient["name"][0]
    patient["text"]["div"] = (f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{name["given"][0]} {name["family"]} '
                              f'was seen by Dr. Okonkwo on 3/4/2015.</p></div>')
    out = deidentify_bundle(bundle, deid, "mask")
    div = _patient(out)["text"]["div"]
    assert div.startswith("<div") and name["family"] not in div and "Okonkwo" not in div and "3/4/2015" not in div
    validate_bundle(out)


@pytest.mark.parametrize("bad, message", [
    ({"resourceType": "Patient"}, "not a FHIR Bundle"),
    ([], "not a FHIR Bundle"),
    ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "Patient",
      "birthDate": "1956-13-45"}}]}, "not a valid FHIR R4 Bundle"),
])
def test_invalid_bundles_are_refused(deid, bad, message):
    with pytest.raises(InputError, match=message):
        deidentify_bundle(bad, deid)


def test_shift_fhir_date_keeps_precision():
    assert shift_fhir_date("1956-08-03", -7) == "1956-07-27"
    assert shift_fhir_date("1991-06-07T23:37:54+00:00", -7) == "1991-05-31T23:37:54+00:00"
    assert shift_fhir_date("1991-06", -371) == "1990-06"
    assert shift_fhir_date("1991", -371) == "1990"
