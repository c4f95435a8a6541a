"""The default detector on sentences written for each PHI class, and on look-alikes that are not PHI."""

from __future__ import annotations

import pytest
from deid_helpers import found, make_detector


@pytest.fixture(scope="module")
def detector():
    return make_detector()



@pytest.mark.parametrize("text, expected", [
    ("Seen on 2/14 for follow-up.", ("DATE", "2/14")),
    ("Admitted 02/14/2003 via the ED.", ("DATE", "02/14/2003")),
    ("Surgery on Feb 14, stable since.", ("DATE", "Feb 14")),
    ("Extubated on the 14th of February without issue.", ("DATE", "14th of February")),
    ("Labs drawn 2003-02-14 showed no change.", ("DATE", "2003-02-14")),
    ("PMH: CAD, s/p MI 1992, CABG x3.", ("DATE", "1992")),
    ("Daughter's cell 410-555-1234, call first.", ("PHONE", "410-555-1234")),
    ("Please fax 617-555-0199 with results.", ("FAX", "617-555-0199")),
    ("Contact jane.doe@example.org for records.", ("EMAIL", "jane.doe@example.org")),
    ("SSN 123-45-6789 on file.", ("SSN", "123-45-6789")),
    ("MRN: 00123456 verified at bedside.", ("MRN", "00123456")),
    ("Portal at https://mychart.example.org/login for results.", ("URL", "https://mychart.example.org/login")),
    ("Workstation 192.168.10.24 printed the label.", ("IP", "192.168.10.24")),
    ("Lives at 19 Clover St. in town.", ("ADDRESS", "19 Clover St.")),
    ("Mailing address Boston, MA 02115 on the form.", ("ZIP", "02115")),
    ("94 yo gentleman admitted with sepsis.", ("AGE", "94")),
    ("PMHX: CVA 74'. CHOLECYSTECTOMY 77'.", ("DATE", "77")),
    ("On CPAP since 10/5, tolerating well.", ("DATE", "10/5")),  # a date word wins over the vent mode
    ("Discussed with Dr. Vasquez this morning.", ("NAME", "Vasquez")),
    ("Mr. Baker was comfortable overnight.", ("NAME", "Baker")),
    ("Pt's wife Mary at bedside all evening.", ("NAME", "Mary")),
    ("Plan reviewed; seen by Dr Okonkwo, who agrees.", ("NAME", "Okonkwo")),
    ("Transferred from Calvert Hospital for cath.", ("HOSPITAL", "Calvert")),
    ("Family lives in Towson and visits daily.", ("LOCATION", "Towson")),
])
def test_each_class_is_found(detector, text, expected):
    assert expected in found(detector, text)


@pytest.mark.parametrize("text, not_phi", [
    ("Dough rose with baker's yeast.", "baker"),
    ("Given at 2130 and again at 0600.", "2130"),
    ("Medicated at 10:30am for pain.", "10:30am"),
    ("Strength 4/5 in the left arm; pain 3/10.", "4/5"),
    ("PSV 10/5 with FiO2 40%, tolerating.", "10/5"),
    ("PSV increased to 10/5 overnight to rest Pt.", "10/5"),  # a ventilator mode nearby
    ("ON 10/5 BIPAP 65% O2.", "10/5"),
    ("Pt on CPAP .4%, 5/18. No vent changes.", "5/18"),
    ("CO/CI 5/3 FICK, SVR 900'S.", "5/3"),
    ("bp 120-140'2/70's overnight.", "2/70"),  # a range of pressures typed over
    ("HOB 30'. Drain placed at 15cm.", "30"),  # degrees and feet, not a year "98'"
    ("AMBULATED 30' WITH 2 ASSIST.", "30"),
    ("ABG 7.43/41/76/28 on 40%.", "41/76"),
    ("65 yo woman with CHF.", "65"),
    ("Foley draining clear yellow urine.", "Foley"),
    ("LIMA to LAD patent on cath.", "LIMA"),
    ("Transfer to MICU for closer monitoring.", "MICU"),
    ("Speaks English; interpreter not needed.", "English"),
])
def test_look_alikes_are_not_phi(detector, text, not_phi):
    assert not any(not_phi.lower() in s.text.lower() for s in detector(text))


def test_offsets_point_into_the_original(detector):
    text = "Mrs. Nicholson\twas seen by Dr. Healey on 7/22; call 410-555-1234."
    spans = detector(text)
    assert spans
    for s in spans:
        assert text[s.begin:s.end] == s.text
        assert 0 <= s.score <= 1 and s.source
    assert [s.begin for s in spans] == sorted(s.begin for s in spans)


def test_a_name_found_once_is_found_everywhere_in_the_note(detector):
    text = "Mr. Przybylo arrived at 2pm. Later Przybylo asked for water."
    assert [s.text for s in detector(text) if s.type == "NAME"] == ["Przybylo", "Przybylo"]


def test_all_caps_and_lower_case_notes(detector):
    assert ("NAME", "HEALEY") in found(detector, "PT SEEN BY DR HEALEY, PLAN UNCHANGED.")
    assert ("NAME", "healey") in found(detector, "pt seen by dr healey, plan unchanged.")


def test_site_gazetteer(tmp_path):
    import json

    from deid_helpers import VOCAB_CACHE

    from bedside.deid.detect import default_detector
    from bedside.deid.gazetteer import Gazetteer
    from bedside.errors import InputError

    path = tmp_path / "site.json"
    path.write_text(json.dumps({"entries": [{"text": "Quartermain", "type": "HOSPITAL"},
                                            {"text": "Holy Cross", "type": "HOSPITAL"}]}), encoding="utf-8")
    gazetteer = Gazetteer.load(path)
    text = "Transfer QUARTERMAIN 2 today; seen at holy cross before; quartermaine is not it."
    assert [(s.type, s.text) for s in gazetteer(text)] == [("HOSPITAL", "QUARTERMAIN"), ("HOSPITAL", "holy cross")]
    with_site = default_detector(cache_dir=VOCAB_CACHE, gazetteer=path)
    assert ("HOSPITAL", "holy cross") in found(with_site, text)
    bad = tmp_path / "bad.json"
    bad.write_text('{"names": []}', encoding="utf-8")
    with pytest.raises(InputError, match="gazetteer"):
        Gazetteer.load(bad)


def test_tagger_min_score_keeps_only_confident_spans():
    """The tagger's threshold: a real exported model (the shipped entity model stands in for a PHI tagger)."""
    from bedside.deid.detect import NerDetector
    from bedside.extract.spans import shipped_model_dir

    text = "Started heparin for suspected pulmonary embolism; no history of diabetes or asthma ."
    every = NerDetector(shipped_model_dir(), threads=1)(text)
    assert every and all(s.source == "ner" for s in every)
    cut = sorted(s.score for s in every)[len(every) // 2]
    kept = NerDetector(shipped_model_dir(), threads=1, min_score=cut)(text)
    assert kept == [s for s in every if s.score >= cut]
    assert 0 < len(kept) < len(every) or min(s.score for s in every) >= cut


_LOWER_NOTE = ("pt resting in bed with eyes closed, easily roused, follows commands and moves all extremities. "
               "lungs coarse, suctioned for small amounts of thick white secretions. no changes made overnight, "
               "abg pending this morning. ")


@pytest.mark.parametrize("text, expected", [
    # a capitalised word stands out in a note typed in lower case, even one edit from an English word
    (_LOWER_NOTE + "resp- Arthur Pepples,md aware of the plan.", ("NAME", "Arthur Pepples")),
    (_LOWER_NOTE + "dtr-in-law Rita Wheeler was in to visit last night.", ("NAME", "Rita Wheeler")),
    # first names taken in before the surname that was the evidence
    ("conversation was made with martin sheppard of the ethics team.", ("NAME", "martin sheppard")),
    ("will consult with patty kessling re home care.", ("NAME", "patty kessling")),
    ("KEEP BAKER FAMILY UPDATED ON PLAN.", ("NAME", "BAKER")),
    ("Family: Brother, Ed, was called by the team today.", ("NAME", "Ed")),
    ("Children very involved. Darva Quintello cell 410-555-0101.", ("NAME", "Darva Quintello")),
    ("Husband works for Raytheon and travels often.", ("LOCATION", "Raytheon")),
    ("TAKEN TO MAPLE REGIONAL WHERE ENZYMES WERE POSITIVE.", ("HOSPITAL", "MAPLE REGIONAL")),
    ("Per Zakimow 4 RN, urine output has been low.", ("HOSPITAL", "Zakimow")),
    ("Pt went to Summit on 3/6 with abdominal pain.", ("LOCATION", "Summit")),
    ("Lives at 42 Juniper Road in Ellicott with her son.", ("LOCATION", "Ellicott")),
    # one letter from a frequent word that is itself a name ("dominic") is no misspelling of English
    ("PLAN TO MEET R. DOMINICO FROM THE AGENCY.", ("NAME", "R. DOMINICO")),
    # "aware" glued to the next word, and the initial glued to the word before
    ("GIVEN SUCRALFATE-T. PELUSIO AWARE-WILL RECHECK.", ("NAME", "PELUSIO")),
    ("GIVEN SUCRALFATE-T. PELUSIO AWARE-WILL RECHECK.", ("NAME", "T")),
    ("HAS NOT SPOKEN WITH MRS K. ABOUT DISCHARGE.", ("NAME", "K.")),
    ("Family drove up from the Western Shore overnight.", ("LOCATION", "Western Shore")),
    ("Came from the VA in Towsonville last week.", ("LOCATION", "Towsonville")),
    ("Family prefers St K. over the others.", ("HOSPITAL", "St K")),
    ("FOLLOWED BY THE RENAL TEAM AT BMH FOR YEARS.", ("HOSPITAL", "BMH")),
    ("nursing progress note 3->4 dec", ("DATE", "3")),
    ("HAD TREATMENTS 10/03/10/04 AND DUE AGAIN.", ("DATE", "10/03/10/04")),  # two dates run together
    ('pt states "im at the general hospital."', ("HOSPITAL", "general")),
    # form labels
    ("Patient Name: Maria Lopez. Seen in clinic for follow-up of hypertension.", ("NAME", "Maria Lopez")),
    ("Attending: Kwame Mensah, MD. Seen in clinic for follow-up of hypertension.", ("NAME", "Kwame Mensah")),
])
def test_context_finds_names_and_places(detector, text, expected):
    assert expected in found(detector, text)


@pytest.mark.parametrize("text, not_phi", [
    ("Specimen sent for C. diff; contact precautions.", "diff"),
    ("Pt was sent to Pharmacy window, then went to Dialysis.", "Pharmacy"),
    ("Pt presented to Emergency with chest pain.", "Emergency"),
    ("Pt went to California last year to visit.", "California"),  # a state is not PHI
    ("Continue to supprt family through the process.", "supprt"),
    ("Wedge 18 on PCWP 18, dobut 2.5 and IABP 1:1.", "PCWP"),
    ("Given on FIO2 40% with sats at 95.", "FIO2"),
    ("Keep SBP < 130 per Csurg. Freq Pulm Toilet.", "Freq"),
    ("Diuresed with 20 lasix with little response-increased to 40.", "little"),
    ("Will call case mgmt to start the process.", "mgmt"),
    ("HR 90-110 ST. Stable BP off neo.", "Stable"),
    ("OOB UP TO CH. TOL WELL.", "CH"),  # the chair
    ("Pt given NPH to cover; ST A. FIB on monitor.", "NPH"),
    ("May take 1-2 may be needed at night.", "1"),
    ("He trusted the friend professor. CD is susceptible to friends.", "CD"),  # a full stop ends the sentence
    ("A test by his family doctor revealed microhematuria.", "revealed"),
    ("Intubated with a 6.5 Fr. phlexometallic tube.", "phlexometallic"),  # French gauge, not Father
    ("Patient: Alert and oriented, resting comfortably in bed.", "Alert"),
    ("SOCIAL=DAUGHTER CALLED-UPDATE GIVEN.", "UPDATE"),  # words glued by a hyphen are words
    ("FAMILY IN DURING EVENINGS-DAUGHTER CALL AM-UPDATE GIVEN.", "AM-UPDATE"),
    ("G.U-FOLEY WITH ADEQ. AMT. CLEAR AMBER URINE.", "FOLEY"),
])
def test_context_look_alikes_are_not_phi(detector, text, not_phi):
    assert not any(not_phi.lower() in s.text.lower() for s in detector(text))
