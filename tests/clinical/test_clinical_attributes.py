"""Attributes and pattern entities: medication sigs, lab values, condition modifiers, time, social, PHI."""

from __future__ import annotations

import pytest
from clinical_helpers import assert_exact, attributes, detected, entity, shared_pipeline, traits

from bedside.clinical import RulePipeline


@pytest.fixture
def pipeline() -> RulePipeline:
    return shared_pipeline()


def run(pipeline, text):
    doc = pipeline(text)
    assert_exact(doc, text)
    return doc


SIGS = [
    ("Furosemide 40 mg PO daily.", "Furosemide",
     {"DOSAGE": ["40 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["daily"]}),
    ("Metformin 500 mg by mouth twice daily.", "Metformin",
     {"DOSAGE": ["500 mg"], "ROUTE_OR_MODE": ["by mouth"], "FREQUENCY": ["twice daily"]}),
    ("Amoxicillin 500 mg PO q8h for 10 days.", "Amoxicillin",
     {"DOSAGE": ["500 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["q8h"], "DURATION": ["for 10 days"]}),
    ("Lisinopril 10 mg tablet, take 1 tablet orally b.i.d.", "Lisinopril",
     {"STRENGTH": ["10 mg"], "FORM": ["tablet", "tablet"], "DOSAGE": ["1"], "ROUTE_OR_MODE": ["orally"],
      "FREQUENCY": ["b.i.d."]}),
    ("Albuterol 2 puffs inhaled every 4 hours as needed.", "Albuterol",
     {"DOSAGE": ["2 puffs"], "ROUTE_OR_MODE": ["inhaled"], "FREQUENCY": ["every 4 hours as needed"]}),
    ("Insulin glargine 20 units subcutaneously at bedtime.", "Insulin glargine",
     {"DOSAGE": ["20 units"], "ROUTE_OR_MODE": ["subcutaneously"], "FREQUENCY": ["at bedtime"]}),
    ("Heparin drip at 1000 units/hr.", "Heparin", {"FORM": ["drip"], "RATE": ["1000 units/hr"]}),
    ("Normal saline at 100 mL/hr.", "Normal saline", {"RATE": ["100 mL/hr"]}),
    ("Hydrocortisone 1% cream topically TID x 7 days.", "Hydrocortisone",
     {"STRENGTH": ["1%"], "FORM": ["cream"], "ROUTE_OR_MODE": ["topically"], "FREQUENCY": ["TID"],
      "DURATION": ["x 7 days"]}),
    ("Tylenol 650 mg po q6h prn pain.", "Tylenol",
     {"DOSAGE": ["650 mg"], "ROUTE_OR_MODE": ["po"], "FREQUENCY": ["q6h prn"]}),
    # Amounts per body weight / surface / time (oncology and paediatric doses); a hyphenated amount.
    ("Vancomycin 0.5 mg/kg/day orally.", "Vancomycin", {"DOSAGE": ["0.5 mg/kg/day"], "ROUTE_OR_MODE": ["orally"]}),
    ("Dexamethasone 10 mg/m(2)/day for 4 weeks.", "Dexamethasone",
     {"DOSAGE": ["10 mg/m(2)/day"], "DURATION": ["for 4 weeks"]}),
    ("Methotrexate 12 g/m2 IV with rescue.", "Methotrexate", {"DOSAGE": ["12 g/m2"], "ROUTE_OR_MODE": ["IV"]}),
    ("Morphine 450-mg bolus given.", "Morphine", {"DOSAGE": ["450-mg"], "FORM": ["bolus"]}),
    ("Aspirin 325 mg once.", "Aspirin", {"DOSAGE": ["325 mg"], "FREQUENCY": ["once"]}),
    ("Normal saline @ 125 mL/hr.", "Normal saline", {"RATE": ["125 mL/hr"]}),
    ("Albuterol 90 mcg/actuation inhaler 2 puffs q4-6h prn.", "Albuterol",
     {"STRENGTH": ["90 mcg/actuation"], "FORM": ["inhaler"], "DOSAGE": ["2 puffs"], "FREQUENCY": ["q4-6h prn"]}),
    # a dose per interval
    ("Ceftriaxone 1 g/12 h IV.", "Ceftriaxone", {"DOSAGE": ["1 g/12 h"], "ROUTE_OR_MODE": ["IV"]}),
    # thousands separators (the dose had been "000 units")
    ("Heparin 5,000 units SC TID.", "Heparin",
     {"DOSAGE": ["5,000 units"], "ROUTE_OR_MODE": ["SC"], "FREQUENCY": ["TID"]}),
]


@pytest.mark.parametrize(("text", "drug", "expected"), SIGS, ids=[s[1] for s in SIGS])
def test_medication_sig_attributes(pipeline, text, drug, expected):
    doc = run(pipeline, text)
    assert attributes(doc, drug) == expected
    for a in entity(doc, drug).attributes:
        assert a.category == "MEDICATION" and 0.5 <= a.relationship_score <= 1


def test_an_amount_is_the_strength_only_when_the_sig_counts_units(pipeline):
    text = "Tylenol 325 mg, take 2 tablets q6h. Amoxicillin 250 mg/5 mL, 10 mL PO TID. Aspirin 81 mg daily."
    doc = run(pipeline, text)
    assert attributes(doc, "Tylenol") == {"STRENGTH": ["325 mg"], "DOSAGE": ["2"], "FORM": ["tablets"],
                                          "FREQUENCY": ["q6h"]}
    assert attributes(doc, "Amoxicillin") == {"STRENGTH": ["250 mg/5 mL"], "DOSAGE": ["10 mL"], "ROUTE_OR_MODE": ["PO"],
                                              "FREQUENCY": ["TID"]}
    assert attributes(doc, "Aspirin") == {"DOSAGE": ["81 mg"], "FREQUENCY": ["daily"]}


def test_route_before_the_drug_and_two_drugs_in_one_sentence(pipeline):
    text = "Diuresed with IV furosemide 40 mg twice daily, then switched to oral furosemide 40 mg daily."
    doc = run(pipeline, text)
    first, second = [e for e in doc.entities if e.text == "furosemide"]
    assert [(a.type, a.text) for a in first.attributes] == [
        ("ROUTE_OR_MODE", "IV"), ("DOSAGE", "40 mg"), ("FREQUENCY", "twice daily")]
    assert [(a.type, a.text) for a in second.attributes] == [
        ("ROUTE_OR_MODE", "oral"), ("DOSAGE", "40 mg"), ("FREQUENCY", "daily")]


def test_list_of_drugs_on_one_line(pipeline):
    doc = run(pipeline, "Home meds: aspirin 81 mg daily, Toprol XL 50 mg daily, atorvastatin 40 mg qhs.")
    assert attributes(doc, "aspirin") == {"DOSAGE": ["81 mg"], "FREQUENCY": ["daily"]}
    assert attributes(doc, "Toprol XL") == {"DOSAGE": ["50 mg"], "FREQUENCY": ["daily"]}
    assert entity(doc, "Toprol XL").type == "BRAND_NAME"
    assert attributes(doc, "atorvastatin") == {"DOSAGE": ["40 mg"], "FREQUENCY": ["qhs"]}


def test_an_amount_opening_a_list_item_belongs_to_the_drug_right_after_it(pipeline):
    doc = run(pipeline, "Given ondansetron 4mg IV, and 1 L NS bolus. Metoprolol 25 mg aspirin 81 mg daily.")
    assert attributes(doc, "ondansetron") == {"DOSAGE": ["4mg"], "ROUTE_OR_MODE": ["IV"]}
    assert attributes(doc, "NS") == {"DOSAGE": ["1 L"], "FORM": ["bolus"]}
    # without a list break ("," or "and") before it, an amount stays with the drug before it
    assert attributes(doc, "Metoprolol") == {"DOSAGE": ["25 mg"]}


def test_a_medication_and_its_name_in_brackets_share_the_sig(pipeline):
    doc = run(pipeline, "Started warfarin (Coumadin) 5 mg daily; metoprolol 25 mg BID.")
    assert attributes(doc, "warfarin") == attributes(doc, "Coumadin") == {"DOSAGE": ["5 mg"], "FREQUENCY": ["daily"]}
    assert attributes(doc, "metoprolol") == {"DOSAGE": ["25 mg"], "FREQUENCY": ["BID"]}


def test_salt_words_belong_to_the_medication_name(pipeline):
    """"sodium 100 mg" after docusate is the drug's salt and dose, not a sodium lab value."""
    doc = run(pipeline, "Docusate sodium 100 mg PO BID; losartan potassium 50 mg daily. Sodium 135 today.")
    assert attributes(doc, "Docusate sodium") == {"DOSAGE": ["100 mg"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["BID"]}
    assert attributes(doc, "losartan potassium") == {"DOSAGE": ["50 mg"], "FREQUENCY": ["daily"]}
    assert attributes(doc, "Sodium") == {"TEST_VALUE": ["135"]}  # the lab, in its own sentence
    doc = run(pipeline, "Meds: aspirin, potassium chloride 20 mEq daily.")
    assert attributes(doc, "potassium chloride") == {"DOSAGE": ["20 mEq"], "FREQUENCY": ["daily"]}
    assert entity(doc, "aspirin").text == "aspirin"


def test_release_words_and_dose_phrases_keep_the_sig_together(pipeline):
    doc = run(pipeline, "Omeprazole DR 20 mg PO daily.")
    assert {a.relationship_score for e in doc.entities if e.text == "Omeprazole" for a in e.attributes} == {0.95}
    doc = run(pipeline, "She received 190 mg, 175 mg, and 196 mg of methotrexate; then a single 200 mg intravenous "
                        "dose of phenytoin.")
    assert attributes(doc, "methotrexate") == {"DOSAGE": ["190 mg", "175 mg", "196 mg"]}
    assert attributes(doc, "phenytoin") == {"DOSAGE": ["200 mg"], "ROUTE_OR_MODE": ["intravenous"]}


def test_attributes_are_not_guessed_across_other_entities(pipeline):
    text = "AFib on apixaban 5 mg BID, CKD who presents with dyspnea x 3 days. Lasix 40 mg IV, daily weights."
    doc = run(pipeline, text)
    assert attributes(doc, "apixaban") == {"DOSAGE": ["5 mg"], "FREQUENCY": ["BID"]}
    assert entity(doc, "x 3 days").type == "TIME_TO_DX_NAME"
    assert attributes(doc, "Lasix") == {"DOSAGE": ["40 mg"], "ROUTE_OR_MODE": ["IV"]}


def test_once_as_a_conjunction_is_no_frequency(pipeline):
    doc = run(pipeline, "Once stable, start metoprolol 25 mg BID.")
    assert attributes(doc, "metoprolol") == {"DOSAGE": ["25 mg"], "FREQUENCY": ["BID"]}
    assert not doc.unmapped_attributes


def test_sig_without_a_known_drug_is_unmapped_and_lone_words_are_quiet(pipeline):
    doc = run(pipeline, "Take 1 tablet by mouth twice daily. Daily weights.")
    assert [(a.type, a.text) for a in doc.unmapped_attributes] == [
        ("DOSAGE", "1"), ("FORM", "tablet"), ("ROUTE_OR_MODE", "by mouth"), ("FREQUENCY", "twice daily")]
    assert not any(e.category == "ANATOMY" for e in doc.entities)  # "mouth" is part of the route


LABS = [
    ("Creatinine 1.4 mg/dL.", "Creatinine", {"TEST_VALUE": ["1.4"], "TEST_UNIT": ["mg/dL"]}),
    ("BNP 1850 pg/mL.", "BNP", {"TEST_VALUE": ["1850"], "TEST_UNIT": ["pg/mL"]}),
    ("HbA1c 7.2%.", "HbA1c", {"TEST_VALUE": ["7.2"], "TEST_UNIT": ["%"]}),
    ("Hemoglobin of 9.8 g/dL.", "Hemoglobin", {"TEST_VALUE": ["9.8"], "TEST_UNIT": ["g/dL"]}),
    ("Potassium was 3.1 mmol/L.", "Potassium", {"TEST_VALUE": ["3.1"], "TEST_UNIT": ["mmol/L"]}),
    ("WBC 12.3 K/uL.", "WBC", {"TEST_VALUE": ["12.3"], "TEST_UNIT": ["K/uL"]}),
    ("BP 140/90 mmHg.", "BP", {"TEST_VALUE": ["140/90"], "TEST_UNIT": ["mmHg"]}),
    ("Troponin negative.", "Troponin", {"TEST_VALUE": ["negative"]}),
    ("EF 30%.", "EF", {"TEST_VALUE": ["30"], "TEST_UNIT": ["%"]}),
    ("Temp 38.5 C.", "Temp", {"TEST_VALUE": ["38.5"], "TEST_UNIT": ["C"]}),
    ("Lytes: K+ 3.9 mEq/L.", "K", {"TEST_VALUE": ["3.9"], "TEST_UNIT": ["mEq/L"]}),  # an ion's charge
    ("Creatinine increased from 1.0 to 1.8 mg/dL.", "Creatinine",
     {"TEST_VALUE": ["1.0", "1.8"], "TEST_UNIT": ["mg/dL"]}),
    ("Urine output 30 mL/hr overnight.", "Urine output", {"TEST_VALUE": ["30"], "TEST_UNIT": ["mL/hr"]}),
    ("Plt 98 K, INR 1.2.", "Plt", {"TEST_VALUE": ["98"], "TEST_UNIT": ["K"]}),
    ("Platelets 250K.", "Platelets", {"TEST_VALUE": ["250"], "TEST_UNIT": ["K"]}),
    ("Na 140 K 4.0 Cl 101.", "K", {"TEST_VALUE": ["4.0"]}),  # K before a number is potassium, not a unit
    ("Creatinine of 1.9-2.4 mg % before.", "Creatinine", {"TEST_VALUE": ["1.9-2.4"], "TEST_UNIT": ["mg %"]}),
    ("Tumor markers: b-HCG <5.0 mIU/ml.", "b-HCG", {"TEST_VALUE": ["<5.0"], "TEST_UNIT": ["mIU/ml"]}),
    ("LDH: 299 U/L.", "LDH", {"TEST_VALUE": ["299"], "TEST_UNIT": ["U/L"]}),
    # analytes no list holds: a concentration after a word names it a test
    ("Alpha-fetoprotein: 2.07 ng/ml.", "Alpha-fetoprotein", {"TEST_VALUE": ["2.07"], "TEST_UNIT": ["ng/ml"]}),
    ("Chromogranin A 150 ng/mL.", "Chromogranin A", {"TEST_VALUE": ["150"], "TEST_UNIT": ["ng/mL"]}),
    ("IGF-1 level was 230 ng/mL.", "IGF-1", {"TEST_VALUE": ["230"], "TEST_UNIT": ["ng/mL"]}),
]


def test_two_tests_and_their_two_values_joined_by_slashes(pipeline):
    doc = run(pipeline, "Labs: BUN/Cr 20/1.1, ALT 45.")
    assert attributes(doc, "BUN") == {"TEST_VALUE": ["20"]}
    assert attributes(doc, "Cr") == {"TEST_VALUE": ["1.1"]}
    assert attributes(doc, "ALT") == {"TEST_VALUE": ["45"]}


@pytest.mark.parametrize(("text", "test", "expected"), LABS, ids=[lab[1] for lab in LABS])
def test_lab_values_and_units(pipeline, text, test, expected):
    doc = run(pipeline, text)
    e = entity(doc, test, "TEST_TREATMENT_PROCEDURE")
    assert e.type == "TEST_NAME"
    assert attributes(doc, test) == expected


def test_several_values_of_one_test_and_short_names_need_a_value(pipeline):
    doc = run(pipeline, "Creatinine 1.4 mg/dL on admission, 1.2 mg/dL at discharge. K 4.2, Na 134.")
    assert attributes(doc, "Creatinine") == {"TEST_VALUE": ["1.4", "1.2"], "TEST_UNIT": ["mg/dL", "mg/dL"]}
    assert attributes(doc, "K") == {"TEST_VALUE": ["4.2"]}
    assert attributes(doc, "Na") == {"TEST_VALUE": ["134"]}
    quiet = run(pipeline, "Pulse was strong. Check weight and sodium tomorrow.")
    assert not [e for e in quiet.entities if e.type == "TEST_NAME"]


def test_a_concentration_names_a_test_only_after_a_word_that_can_be_one(pipeline):
    doc = run(pipeline, "NS at 125 cc/hr. The peak was 30 mg/L. Tumor 2 cm.")
    assert not [e for e in doc.entities if e.type == "TEST_NAME"]
    # the detector's chemical keeps its category: BC5CDR tags "lithium 1.2 mmol/L" as a chemical
    text = "Lithium 1.2 mmol/L."
    doc = pipeline(text, detected(text, ("Lithium", "MEDICATION")))
    assert [(e.text, e.category) for e in doc.entities] == [("Lithium", "MEDICATION")]


def test_procedures_tests_and_treatments_known_by_their_endings(pipeline):
    doc = run(pipeline, "Left orchiectomy and pleurodesis. Cystogram normal. Started chemotherapy. Joined a program.")
    found = {e.text: e.type for e in doc.entities if e.category == "TEST_TREATMENT_PROCEDURE"}
    assert found == {"orchiectomy": "PROCEDURE_NAME", "pleurodesis": "PROCEDURE_NAME", "Cystogram": "TEST_NAME",
                     "chemotherapy": "TREATMENT_NAME"}
    # a listed term wins over the ending ("laparoscopic cholecystectomy" is one procedure)
    doc = run(pipeline, "S/p laparoscopic cholecystectomy.")
    procedures = [e.text for e in doc.entities if e.category == "TEST_TREATMENT_PROCEDURE"]
    assert procedures == ["laparoscopic cholecystectomy"]
    # the model read a procedure as a condition: its ending says otherwise
    text = "Talc pleurodesis was done."
    doc = pipeline(text, detected(text, ("pleurodesis", "MEDICAL_CONDITION")))
    assert entity(doc, "pleurodesis").type == "PROCEDURE_NAME"


def test_problem_list_items_keep_the_condition_apart_from_the_lab_and_panels_are_tests(pipeline):
    text = "3. Type 2 diabetes - A1c 8.4%. Repeat BMP and creatinine in AM."
    given = detected(text, ("Type 2 diabetes - A1c", "MEDICAL_CONDITION"), ("BMP", "MEDICATION"),
                     ("creatinine", "MEDICATION"))
    doc = pipeline(text, given)
    assert [(e.text, e.category) for e in doc.entities] == [
        ("Type 2 diabetes", "MEDICAL_CONDITION"), ("A1c", "TEST_TREATMENT_PROCEDURE"),
        ("BMP", "TEST_TREATMENT_PROCEDURE"), ("creatinine", "MEDICATION")]  # an analyte stays as tagged
    assert attributes(doc, "A1c") == {"TEST_VALUE": ["8.4"], "TEST_UNIT": ["%"]}


def test_a_value_with_a_percent_or_concentration_may_precede_its_test(pipeline):
    doc = run(pipeline, "Differential: 70% neutrophils, 5% eosinophils; 13.7 g/dl hemoglobin. Repeat 2 troponin.")
    assert attributes(doc, "neutrophils") == {"TEST_VALUE": ["70"], "TEST_UNIT": ["%"]}
    assert attributes(doc, "eosinophils") == {"TEST_VALUE": ["5"], "TEST_UNIT": ["%"]}
    assert attributes(doc, "hemoglobin") == {"TEST_VALUE": ["13.7"], "TEST_UNIT": ["g/dl"]}
    assert attributes(doc, "troponin") == {}  # a bare number before a test counts tests


def test_the_words_of_a_lab_unit_are_no_drug(pipeline):
    text = "Blood pressure of 150/70 mm mercury."
    doc = pipeline(text, detected(text, ("mercury", "MEDICATION")))
    assert [e.text for e in doc.entities] == ["Blood pressure"]
    assert attributes(doc, "Blood pressure") == {"TEST_VALUE": ["150/70"], "TEST_UNIT": ["mm mercury"]}


def test_an_allergy_statement_tagged_as_a_condition_is_one_entity(pipeline):
    text = "Allergies: NKDA."
    doc = pipeline(text, detected(text, ("NKDA", "MEDICAL_CONDITION")))
    assert [(e.text, e.type) for e in doc.entities] == [("NKDA", "ALLERGIES")]


def test_words_that_carry_their_own_negation(pipeline):
    doc = run(pipeline, "Afebrile overnight. Abdomen soft, nontender.")
    assert "NEGATION" in {t.name for t in entity(doc, "Afebrile").traits}
    assert "NEGATION" in {t.name for t in entity(doc, "nontender").traits}
    # the model read "Afebrile" as a drug: the lexicon's category and its trait both apply
    doc = pipeline("Afebrile overnight.", detected("Afebrile overnight.", ("Afebrile", "MEDICATION")))
    e = entity(doc, "Afebrile")
    assert e.category == "MEDICAL_CONDITION" and "NEGATION" in {t.name for t in e.traits}


def test_drug_induced_conditions_from_the_lexicon(pipeline):
    doc = run(pipeline, "Worsening anasarca. Statin myopathy with rhabdomyolysis; no hepatotoxicity.")
    found = {e.text: e.category for e in doc.entities}
    assert {found.get(w) for w in ("anasarca", "myopathy", "rhabdomyolysis", "hepatotoxicity")} == {"MEDICAL_CONDITION"}
    assert "NEGATION" in {t.name for t in entity(doc, "hepatotoxicity").traits}


def test_idioms_hold_no_body_part_and_british_lab_names(pipeline):
    doc = run(pipeline, "On the other hand, the hand. Haematocrit 41%, Leucocytes 20.300.")
    assert [e.begin_offset for e in doc.entities if e.text == "hand"] == [23]
    assert attributes(doc, "Haematocrit") == {"TEST_VALUE": ["41"], "TEST_UNIT": ["%"]}
    assert attributes(doc, "Leucocytes") == {"TEST_VALUE": ["20.300"]}


def test_a_detector_span_that_is_only_a_body_part_is_anatomy(pipeline):
    text = "The mediastinum is unremarkable. LV with purpura."
    doc = pipeline(text, detected(text, ("mediastinum", "MEDICATION"), ("LV", "MEDICAL_CONDITION")))
    assert (entity(doc, "mediastinum").category, entity(doc, "mediastinum").type) == ("ANATOMY", "SYSTEM_ORGAN_SITE")
    assert entity(doc, "LV").category == "MEDICAL_CONDITION"  # an abbreviation keeps the detector's reading


def test_detector_drugs_that_are_conditions_procedures_or_parts_by_their_form(pipeline):
    text = "Left ureterocele. Orchidopexy at 2 years. Narrow pylorus. Mitroflow No. 23 valve."
    given = detected(text, *((w, "MEDICATION") for w in ("ureterocele", "Orchidopexy", "pylorus", "No")))
    doc = pipeline(text, given)
    found = {e.text: (e.category, e.type) for e in doc.entities}
    assert found["ureterocele"] == ("MEDICAL_CONDITION", "DX_NAME")
    assert found["Orchidopexy"] == ("TEST_TREATMENT_PROCEDURE", "PROCEDURE_NAME")
    assert found["pylorus"] == ("ANATOMY", "SYSTEM_ORGAN_SITE")
    assert "No" not in found
    text = "Embolization was done at noon."
    doc = pipeline(text, detected(text, ("Embolization", "MEDICAL_CONDITION"), ("at", "MEDICAL_CONDITION")))
    assert [(e.text, e.type) for e in doc.entities] == [("Embolization", "PROCEDURE_NAME")]  # "at" is no condition
    # condition endings only re-read a detector's span; they find nothing on their own
    assert not [e for e in run(pipeline, "Left ureterocele.").entities if e.category == "MEDICAL_CONDITION"]


def test_detector_spans_that_are_a_time_or_a_form_word_are_no_medication(pipeline):
    text = "Levo added at 0230. Continue amio gtt at .5mg/min."
    doc = pipeline(text, detected(text, *((w, "MEDICATION") for w in ("Levo", "0230", "amio", "gtt"))))
    assert [e.text for e in doc.entities if e.category == "MEDICATION"] == ["Levo", "amio"]
    assert attributes(doc, "amio") == {"FORM": ["gtt"], "RATE": [".5mg/min"]}
    # the unit of an amount is no second drug
    text = "Tiotropium 18 mcg inhaled daily."
    doc = pipeline(text, detected(text, ("Tiotropium", "MEDICATION"), ("mcg", "MEDICATION")))
    assert [e.text for e in doc.entities] == ["Tiotropium"]
    assert attributes(doc, "Tiotropium") == {"DOSAGE": ["18 mcg"], "ROUTE_OR_MODE": ["inhaled"], "FREQUENCY": ["daily"]}
    # an all-caps abbreviation that spells a form word stays a drug (capecitabine in ADE-Corpus-V2)
    text = "Reinitiating CAP alone at 2000 mg/m2."
    doc = pipeline(text, detected(text, ("CAP", "MEDICATION")))
    assert attributes(doc, "CAP") == {"DOSAGE": ["2000 mg/m2"]}


def test_condition_acuity_direction_and_site(pipeline):
    doc = run(pipeline, "Acute on chronic systolic heart failure. Left knee pain. Pain in the right shoulder.")
    assert attributes(doc, "systolic heart failure")["ACUITY"] == ["Acute on chronic"]
    assert attributes(doc, "knee pain") == {"DIRECTION": ["Left"], "SYSTEM_ORGAN_SITE": ["knee"]}
    assert attributes(doc, "Pain") == {"DIRECTION": ["right"], "SYSTEM_ORGAN_SITE": ["shoulder"]}
    assert entity(doc, "knee pain").attributes[1].category == "ANATOMY"


def test_sites_no_condition_claims_are_anatomy_entities(pipeline):
    doc = run(pipeline, "Incision over the left hip. Chest X-ray clear.")
    assert entity(doc, "hip").category == "ANATOMY"
    assert not any(e.text == "Chest" for e in doc.entities)  # part of the test's name


TIMES = ["for one week", "3 days ago", "in 1 week", "over the past 2 days", "since yesterday", "on admission",
         "last night", "postoperative day 2"]


@pytest.mark.parametrize("phrase", TIMES)
def test_time_expressions(pipeline, phrase):
    text = f"Cough {phrase}."
    doc = run(pipeline, text)
    assert entity(doc, phrase).category == "TIME_EXPRESSION"
    assert entity(doc, phrase).type == "TIME_TO_DX_NAME"


def test_a_word_amount_needs_a_space_before_its_unit(pipeline):
    # "an" + "d" (days) had read "DM2 and prior MI" as the time "and prior"; "2d" and "an hour" still count
    doc = run(pipeline, "HTN, DM2 and prior MI. Cough for 2d, fever an hour later.")
    times = [e.text for e in doc.entities if e.category == "TIME_EXPRESSION"]
    assert times == ["for 2d", "an hour later"]


SOCIAL = [
    ("Smokes 1 ppd.", "Smokes 1 ppd", "TOBACCO_USE", set()),
    ("Smokes 1/2 ppd x 10 years.", "Smokes 1/2 ppd", "TOBACCO_USE", set()),  # had been "2 ppd"
    ("40 pack-year history.", "40 pack-year history", "TOBACCO_USE", set()),
    ("Former smoker.", "Former smoker", "TOBACCO_USE", {"PAST_HISTORY"}),
    ("Nonsmoker.", "Nonsmoker", "TOBACCO_USE", {"NEGATION"}),
    ("Never smoked.", "smoked", "TOBACCO_USE", {"NEGATION"}),
    ("Drinks 2 beers per day.", "Drinks 2 beers per day", "ALCOHOL_CONSUMPTION", set()),
    ("She drinks alcohol socially.", "drinks alcohol socially", "ALCOHOL_CONSUMPTION", set()),
    ("Denies alcohol use.", "alcohol use", "ALCOHOL_CONSUMPTION", {"NEGATION"}),
    ("History of IV drug use.", "IV drug use", "REC_DRUG_USE", {"PAST_HISTORY"}),
    ("Uses marijuana daily.", "Uses marijuana", "REC_DRUG_USE", set()),
    ("Allergic to penicillin.", "Allergic to penicillin", "ALLERGIES", set()),
    ("Sulfa allergy.", "Sulfa allergy", "ALLERGIES", set()),
    ("NKDA.", "NKDA", "ALLERGIES", {"NEGATION"}),
    ("No known drug allergies.", "No known drug allergies", "ALLERGIES", {"NEGATION"}),
]


@pytest.mark.parametrize(("text", "span", "type_", "expected"), SOCIAL, ids=[s[0] for s in SOCIAL])
def test_social_history(pipeline, text, span, type_, expected):
    doc = run(pipeline, text)
    e = entity(doc, span, "BEHAVIORAL_ENVIRONMENTAL_SOCIAL")
    assert e.type == type_
    assert traits(doc, span) == expected


def test_phi_patterns(pipeline):
    doc = run(pipeline, "72-year-old seen 03/15/2023 and on March 3, 2024; call 555-123-4567 or x@example.org.")
    found = {(e.type, e.text) for e in doc.entities if e.category == "PROTECTED_HEALTH_INFORMATION"}
    assert found == {("AGE", "72"), ("DATE", "03/15/2023"), ("DATE", "March 3, 2024"),
                     ("PHONE_OR_FAX", "555-123-4567"), ("EMAIL", "x@example.org")}
    assert not [e for e in run(pipeline, "BP 140/90, ratio 1/2.").entities if e.type == "DATE"]


def test_profession_after_the_words_that_introduce_it(pipeline):
    doc = run(pipeline, "Works as a carpenter. She is a retired teacher. Occupation: nurse. The nurse was called. "
                        "Former smoker; seen by the physician.")
    found = [(e.type, e.text) for e in doc.entities if e.category == "PROTECTED_HEALTH_INFORMATION"]
    assert found == [("PROFESSION", "carpenter"), ("PROFESSION", "teacher"), ("PROFESSION", "nurse")]


def test_a_lexicon_condition_tagged_as_a_medication_takes_the_lexicon_category(pipeline):
    text = "Ascites improved after CP was stopped."
    given = [{"begin_offset": 0, "end_offset": 7, "category": "MEDICATION"},
             {"begin_offset": 23, "end_offset": 25, "category": "MEDICATION"}]
    doc = pipeline(text, given)
    by_text = {e.text: e.category for e in doc.entities}
    assert by_text["Ascites"] == "MEDICAL_CONDITION"
    assert by_text["CP"] == "MEDICATION"  # an ambiguous abbreviation keeps the detector's reading
    text = "History of DVT and PE on warfarin."
    given = [{"begin_offset": 11, "end_offset": 14, "category": "MEDICATION"},
             {"begin_offset": 19, "end_offset": 21, "category": "MEDICATION"}]
    assert {e.text: e.category for e in pipeline(text, given).entities}["PE"] == "MEDICAL_CONDITION"
    assert {e.text: e.category for e in pipeline(text, given).entities}["DVT"] == "MEDICAL_CONDITION"


def test_room_air_after_a_saturation_is_no_medication(pipeline):
    text = "SpO2 98% on RA. Sats 95% room air. Retinoic acid (RA) was given."
    given = [{"begin_offset": 12, "end_offset": 14, "category": "MEDICATION"},
             {"begin_offset": 25, "end_offset": 33, "category": "MEDICATION"},
             {"begin_offset": 35, "end_offset": 48, "category": "MEDICATION"},
             {"begin_offset": 50, "end_offset": 52, "category": "MEDICATION"}]
    doc = pipeline(text, given)
    assert [e.text for e in doc.entities if e.category == "MEDICATION"] == ["Retinoic acid", "RA"]
    assert attributes(doc, "SpO2") == {"TEST_VALUE": ["98"], "TEST_UNIT": ["%"]}


def test_the_allergy_word_is_no_condition_inside_an_allergy_entity(pipeline):
    text = "No known drug allergies. Allergies: penicillin (hives)."
    given = [{"begin_offset": 9, "end_offset": 23, "category": "MEDICAL_CONDITION"},  # drug allergies
             {"begin_offset": 48, "end_offset": 53, "category": "MEDICAL_CONDITION"}]
    doc = pipeline(text, given)
    assert [(e.text, e.category) for e in doc.entities if e.category != "MEDICATION"] == [
        ("No known drug allergies", "BEHAVIORAL_ENVIRONMENTAL_SOCIAL"), ("hives", "MEDICAL_CONDITION")]


def test_sig_abbreviations_are_cut_from_another_detectors_spans(pipeline):
    """The entity model read "PO Q6H" as a medication and "prn fever" as a condition."""
    text = "Tylenol 1 g PO Q6H prn fever. Given SC - 48334 daily."
    given = [{"begin_offset": 0, "end_offset": 7, "category": "MEDICATION"},
             {"begin_offset": 12, "end_offset": 18, "category": "MEDICATION"},  # PO Q6H
             {"begin_offset": 19, "end_offset": 28, "category": "MEDICAL_CONDITION"},  # prn fever
             {"begin_offset": 36, "end_offset": 46, "category": "MEDICATION"}]  # SC - 48334, a compound's code
    doc = pipeline(text, given)
    found = {(e.text, e.category) for e in doc.entities}
    assert ("fever", "MEDICAL_CONDITION") in found and ("SC - 48334", "MEDICATION") in found
    assert not any("Q6H" in t for t, _ in found)
    assert attributes(doc, "Tylenol") == {"DOSAGE": ["1 g"], "ROUTE_OR_MODE": ["PO"], "FREQUENCY": ["Q6H prn"]}


def test_a_detector_span_ending_in_function_words_ends_before_them(pipeline):
    """The entity model tagged "Stage IIIA adenocarcinoma of the" and left the site after it."""
    text = "Diagnosis: Stage IIIA adenocarcinoma of the right upper lobe. Vitamin A and zinc."
    given = [{"begin_offset": 11, "end_offset": 43, "category": "MEDICAL_CONDITION"},
             {"begin_offset": 62, "end_offset": 75, "category": "MEDICATION"}]  # "Vitamin A and"
    doc = pipeline(text, given)
    found = [(e.text, e.category) for e in doc.entities if e.category in ("MEDICAL_CONDITION", "MEDICATION")]
    assert ("Stage IIIA adenocarcinoma", "MEDICAL_CONDITION") in found
    assert ("Vitamin A", "MEDICATION") in found  # a capital "A" is the vitamin's, not an article
    assert attributes(doc, "Stage IIIA adenocarcinoma") == {"SYSTEM_ORGAN_SITE": ["right upper lobe"]}


def test_a_time_expression_between_a_drug_and_its_dose_is_no_wall(pipeline):
    doc = run(pipeline, "Warfarin was held on admission and resumed at 2.5 mg daily on discharge.")
    assert attributes(doc, "Warfarin") == {"DOSAGE": ["2.5 mg"], "FREQUENCY": ["daily"]}
    # a condition still is: the duration is the dyspnea's
    doc = run(pipeline, "Apixaban 5 mg BID, CKD, dyspnea x 3 days.")
    assert "DURATION" not in attributes(doc, "Apixaban")


def test_triage_shorthand(pipeline):
    doc = run(pipeline, "Used albuterol inhaler x3 w/o relief. On OCPs.\nDx: r/o PE.")
    assert "DURATION" not in attributes(doc, "albuterol")  # "x3 w" of "w/o" had read as three weeks
    assert entity(doc, "OCPs").category == "MEDICATION"
    assert not any(e.text == "Dx" for e in doc.entities)  # a heading, not an entity
    assert "HYPOTHETICAL" in traits(doc, "PE")
