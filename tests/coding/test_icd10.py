"""ICD-10-CM linking (bedside.coding) against the real tabular list shipped by simple-icd-10-cm.

Expected codes were checked by hand against the April 2026 tabular list (code and description), and
test_expected_codes_are_billable guards them against typos and future code-set changes.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import simple_icd_10_cm as icd

from bedside.clinical.schema import Attribute, Concept, Document, Entity, Trait
from bedside.coding import Icd10Linker, link_document
from bedside.coding.index import cache_path
from bedside.coding.text import Vocabulary, default_dir
from bedside.errors import ConfigError, InputError

# mention -> code expected first
TOP1 = {
    "hypertension": "I10",
    "essential hypertension": "I10",
    "type 2 diabetes mellitus": "E11.9",
    "type 2 diabetes": "E11.9",
    "type 2 diabetes mellitus with hyperglycemia": "E11.65",
    "asthma": "J45.909",
    "pneumonia": "J18.9",
    "congestive heart failure": "I50.9",
    "atrial fibrillation": "I48.91",
    "chronic obstructive pulmonary disease": "J44.9",
    "COPD with acute exacerbation": "J44.1",
    "urinary tract infection": "N39.0",
    "acute kidney injury": "N17.9",
    "hypothyroidism": "E03.9",
    "hyperlipidemia": "E78.5",
    "gastroesophageal reflux disease": "K21.9",
    "coronary artery disease": "I25.10",
    "sepsis": "A41.9",
    "obstructive sleep apnea": "G47.33",
    "major depressive disorder": "F32.9",
    "migraine": "G43.909",
    "anemia": "D64.9",
    "chest pain": "R07.9",
    "stroke": "I63.9",
    "deep vein thrombosis": "I82.409",
    "breast cancer": "C50.919",
    "right femur fracture": "S72.91XA",
    "cellulitis of left leg": "L03.116",
    "chronic kidney disease stage 3": "N18.30",
    # clinical wordings rewritten into the tabular list's (resources/coding/abbreviations.json)
    "leg swelling": "R22.40",  # was I83.899, varicose veins
    "pedal edema": "R60.0",
}
# mention -> code expected within the first five
TOP5 = {
    "pneumonia of the left lower lobe": "J18.9",
    "CHF exacerbation": "I50.9",
    "right knee osteoarthritis": "M17.11",
    "hepatitis C": "B19.20",
}
ABBREVIATIONS = {
    "HTN": "I10", "T2DM": "E11.9", "DM2": "E11.9", "CHF": "I50.9", "AFib": "I48.91", "a-fib": "I48.91",
    "COPD": "J44.9", "UTI": "N39.0", "CAD": "I25.10", "GERD": "K21.9", "OSA": "G47.33", "MI": "I21.9",
    "HIV": "B20", "AKI": "N17.9", "CKD stage 3": "N18.30",
    # clinical wordings: "chest pressure" had been L98.449 (non-pressure ulcer of chest), "ST depressions"
    # F32.A (depression), "ACS" I20.0 (unstable angina, via "intermediate coronary syndrome")
    "chest pressure": "R07.89", "ST depressions": "R94.31", "ACS": "I24.9", "NSTEMI": "I21.4",
    "ST-elevation MI": "I21.3", "non ST elevation myocardial infarction": "I21.4",
    "SI": "R45.851", "OCD": "F42.9", "GI bleeding": "K92.2",  # had been R58
}
SPELLING = {"anaemia": "D64.9", "oedema": "R60.9", "pnuemonia": "J18.9", "diabetis mellitus type 2": "E11.9"}


def codes(concepts: list[Concept]) -> list[str]:
    return [c.code for c in concepts]


def test_expected_codes_are_billable():
    for code in {*TOP1.values(), *TOP5.values(), *ABBREVIATIONS.values(), *SPELLING.values()}:
        assert icd.is_valid_item(code) and icd.is_leaf(code), code


@pytest.mark.parametrize("mention,code", TOP1.items())
def test_common_conditions_link_first(linker: Icd10Linker, mention: str, code: str):
    result = linker.link(mention)
    assert codes(result)[:1] == [code], [(c.code, c.description, c.score) for c in result]


@pytest.mark.parametrize("mention,code", TOP5.items())
def test_harder_mentions_link_within_five(linker: Icd10Linker, mention: str, code: str):
    assert code in codes(linker.link(mention, 5))


@pytest.mark.parametrize("mention,code", ABBREVIATIONS.items())
def test_abbreviations(linker: Icd10Linker, mention: str, code: str):
    assert codes(linker.link(mention))[:1] == [code]


@pytest.mark.parametrize("mention,code", SPELLING.items())
def test_british_spelling_and_typos(linker: Icd10Linker, mention: str, code: str):
    assert codes(linker.link(mention))[:1] == [code]


def test_tumour_names_the_tabular_list_lacks_link_by_behaviour_not_by_spelling(linker: Icd10Linker):
    # "seminoma" is nowhere in the tabular list; it had been read as a typo of "semicoma" (R40.1, stupor)
    assert codes(linker.link("seminoma", context="testis"))[0].startswith("C62")
    assert not any(c.startswith("R40") for c in codes(linker.link("seminoma")))
    assert codes(linker.link("astrocytoma", context="brain"))[:1] == ["C71.9"]
    assert codes(linker.link("schwannoma"))[0].startswith("D")  # benign


def test_valve_disease_is_acquired_unless_the_mention_says_otherwise(linker: Icd10Linker):
    # "Nonrheumatic" states the default case; congenital (Q23) and rheumatic (I05-I06) codes had come first
    assert codes(linker.link("aortic stenosis"))[:1] == ["I35.0"]
    assert codes(linker.link("mitral regurgitation"))[:1] == ["I34.0"]
    assert codes(linker.link("congenital aortic stenosis"))[:1] == ["Q23.0"]
    assert codes(linker.link("rheumatic mitral stenosis"))[:1] == ["I05.0"]


def test_exam_findings_link_to_the_tabular_wording(linker: Icd10Linker):
    assert codes(linker.link("crackles"))[:1] == ["R09.89"]  # "rales"; had been K03.81, cracked tooth
    assert codes(linker.link("PND"))[:1] == ["R06.00"]  # not paroxysmal nocturnal hemoglobinuria


def test_codes_for_a_population_or_circumstance_need_the_mention_to_say_it(linker: Icd10Linker):
    # "pregnancy", "newborn", "congenital", "postprocedural" are common words in the tabular list; a mention
    # without them had landed on O24.919, P25.2...
    assert not codes(linker.link("diabetes mellitus"))[0].startswith("O")
    # ICD-10-CM guideline I.C.4.a.2: diabetes of undocumented type is coded as type 2
    assert codes(linker.link("diabetes mellitus"))[:1] == ["E11.9"]
    assert codes(linker.link("diabetic nephropathy"))[:1] == ["E11.21"]
    assert codes(linker.link("type 1 diabetes"))[:1] == ["E10.9"]
    assert codes(linker.link("diabetes insipidus"))[:1] == ["E23.2"]
    assert codes(linker.link("gestational diabetes"))[:1] == ["O24.419"]
    assert codes(linker.link("newborn jaundice"))[:1] == ["P59.9"]
    assert codes(linker.link("jaundice"))[:1] == ["R17"]
    # behaviour and spread are said or not: a tumor is not malignant, a cancer is not secondary
    assert codes(linker.link("lung cancer"))[:1] == ["C34.90"]  # had been C78.00, secondary
    assert codes(linker.link("metastatic breast cancer"))[:1] == ["C79.81"]
    assert codes(linker.link("tumor"))[:1] == ["D49.9"]
    assert codes(linker.link("Aspergillus"))[:1] == ["B44.9"]  # an organism alone is no pneumonia


def test_clinical_words_the_tabular_list_writes_otherwise(linker: Icd10Linker):
    assert codes(linker.link("pollakiuria"))[:1] == ["R35.0"]
    assert codes(linker.link("seminoma"))[0].startswith("C62")
    assert codes(linker.link("macroscopic hematuria"))[:1] == ["R31.9"]  # not "microscopic", by spelling


def test_a_stage_counts_only_where_the_tabular_list_stages_the_condition(linker: Icd10Linker):
    # cancers and hypertension have no code per stage: "stage IIIA" had read as CKD stage 3a (N18.31)
    assert codes(linker.link("Stage IIIA adenocarcinoma"))[:1] == ["C80.1"]
    assert codes(linker.link("stage IIIb melanoma"))[:1] == ["C43.9"]
    assert codes(linker.link("stage 2 hypertension"))[:1] == ["I10"]  # had been L89.92, pressure ulcer
    assert codes(linker.link("stage IIIA NSCLC"))[0].startswith("C34")
    # chronic kidney disease and pressure ulcers do
    assert codes(linker.link("CKD stage IIIb"))[:1] == ["N18.32"]
    assert codes(linker.link("stage 3 CKD"))[:1] == ["N18.30"]
    assert codes(linker.link("stage II pressure ulcer"))[0].startswith("L89") \
        and codes(linker.link("stage II pressure ulcer"))[0].endswith("2")


def test_a_lobe_is_the_lungs_unless_the_mention_says_otherwise(linker: Icd10Linker):
    # "right upper lobe" as the site of an adenocarcinoma had given C76.41, right upper limb
    assert codes(linker.link("adenocarcinoma", context="right upper lobe"))[:1] == ["C34.11"]
    assert codes(linker.link("nodule", context="right middle lobe"))[:1] == ["R91.1"]
    # a condition of the lung already says so: "lung" added to pneumonia read as J85.2, abscess of lung
    assert codes(linker.link("pneumonia", context="left lower lobe"))[:1] == ["J18.9"]


def test_mass_is_a_lump_not_a_body_mass_index_or_a_fracture(linker: Icd10Linker):
    assert codes(linker.link("mass"))[:1] == ["R22.9"]  # had been Z68.51, then S12.040A (lateral mass fracture)
    assert codes(linker.link("BMI 32"))[:1] == ["Z68.32"]


def test_a_generic_word_alone_links_as_coders_code_it(linker: Icd10Linker):
    assert linker.link("lesion") == [] and linker.link("Lesions") == []  # had been M75.90, shoulder lesion
    assert linker.link("hypodense lesion") == []  # imaging descriptors are stopwords
    assert codes(linker.link("necrosis"))[:1] == ["I96"]
    assert codes(linker.link("hematoma"))[:1] == ["T14.8XXA"]
    assert codes(linker.link("focal consolidation"))[:1] == ["R91.8"]  # had been H30.003, chorioretinal
    # only the word alone: inside a longer mention it keeps its meaning
    assert codes(linker.link("acute tubular necrosis"))[:1] == ["N17.0"]
    assert linker.link("liver lesion")


def test_place_and_activity_codes_are_never_returned(linker: Icd10Linker):
    for mention in ("free fluid", "free weights", "activity", "place of occurrence"):
        assert not any(c.startswith(("Y92", "Y93", "Y99")) for c in codes(linker.link(mention, 5)))
    assert "W19.XXXA" in codes(linker.link("fall", 5))  # other external causes stay


def test_an_organ_label_is_the_site_of_a_generic_finding_on_its_line(linker: Icd10Linker):
    note = "Liver: 1.2 cm simple cyst.\nKidneys: 4 mm calculus.\nGallbladder: acute cholecystitis.\nsimple cyst"
    ents = [Entity(id=i, text=t, category=c, type="DX_NAME" if c == "MEDICAL_CONDITION" else "SYSTEM_ORGAN_SITE",
                   begin_offset=b, end_offset=b + len(t), score=0.9)
            for i, (t, c, b) in enumerate([
                ("Liver", "ANATOMY", 0), ("simple cyst", "MEDICAL_CONDITION", 14),
                ("Kidneys", "ANATOMY", 27), ("calculus", "MEDICAL_CONDITION", 41),
                ("Gallbladder", "ANATOMY", 51), ("acute cholecystitis", "MEDICAL_CONDITION", 64),
                ("simple cyst", "MEDICAL_CONDITION", 85)])]
    linked = {(e.text, e.begin_offset): codes(e.icd10cm_concepts or [])[:1]
              for e in link_document(Document(entities=ents), note, linker).entities}
    assert linked[("simple cyst", 14)] == ["K76.89"]  # not an ovarian cyst
    assert linked[("calculus", 41)] == ["N20.0"]
    assert linked[("acute cholecystitis", 64)] == ["K81.0"]  # a specific code keeps its own
    assert linked[("simple cyst", 85)] != ["K76.89"]  # another line: no organ


def test_a_stage_written_before_the_condition_is_linked_with_it(linker: Icd10Linker):
    note = "SKIN: STAGE 2 PRESSURE ULCER ON SACRUM. Stage IV breast cancer."
    ents = [Entity(id=i, text=t, category="MEDICAL_CONDITION", type="DX_NAME", begin_offset=note.index(t),
                   end_offset=note.index(t) + len(t), score=0.9)
            for i, t in enumerate(["PRESSURE ULCER", "breast cancer"])]
    ulcer, cancer = link_document(Document(entities=ents), note, linker).entities
    assert codes(ulcer.icd10cm_concepts)[:1] == ["L89.152"]  # sacral region, stage 2 (had been L89.159)
    assert codes(cancer.icd10cm_concepts)[:1] == codes(linker.link("breast cancer"))[:1]


def test_alcoholism_is_alcohol_dependence(linker: Icd10Linker):
    # with the acuity word as context it had linked to K86.0, alcohol-induced chronic pancreatitis
    assert codes(linker.link("alcoholism", context="chronic"))[:1] == ["F10.20"]


def test_case_sensitive_abbreviations_need_their_case(linker: Icd10Linker):
    assert codes(linker.link("PE"))[:1] == ["I26.99"]  # Other pulmonary embolism without acute cor pulmonale
    assert not any(c.startswith("I26") for c in codes(linker.link("pe")))


def test_description_of_a_category_maps_to_its_default_billable_code(linker: Icd10Linker):
    # E11, I50 and J45 are categories (not billable); their own descriptions link to the default child.
    for category, code in [("E11", "E11.9"), ("I50", "I50.9"), ("J45", "J45.909"), ("C50", "C50.919")]:
        assert not icd.is_leaf(category)
        result = linker.link(icd.get_description(category))
        assert result[0].code == code and result[0].score >= 0.9
        assert category not in codes(result)


def test_only_billable_codes_are_returned(linker: Icd10Linker):
    for mention in [*TOP1, *TOP5, "diabetes", "heart failure", "fracture of femur", "malignant neoplasm of breast"]:
        for c in linker.link(mention, 10):
            assert icd.is_leaf(c.code), (mention, c.code)
            assert c.description == icd.get_description(c.code)


def test_exact_descriptions_score_high_and_come_first(linker: Icd10Linker):
    billable = linker.index.codes
    sample = random.Random(20260401).sample(billable, 300)
    first = 0
    for code in sample:
        description = icd.get_description(code)
        result = linker.link(description)
        assert result and result[0].score >= 0.9, (code, description, result[:1])
        # Several codes can share a description (or differ only in a parenthesis); any of them is right.
        first += result[0].code == code or result[0].description == description
    assert first / len(sample) >= 0.97


@pytest.mark.parametrize("mention", ["", "   ", "\n\t", "xyzzy", "qwxz plorkt", "12345", "!!!", "the of and"])
def test_empty_or_garbage_input_links_to_nothing(linker: Icd10Linker, mention: str):
    assert linker.link(mention) == []


def test_garbage_words_lower_the_score_of_a_real_one(linker: Icd10Linker):
    clean = linker.link("pneumonia")[0]
    noisy = linker.link("pneumonia xyzzy plorkt")
    assert noisy and noisy[0].code == clean.code and noisy[0].score < clean.score - 0.2


def test_output_shape(linker: Icd10Linker):
    for k in (1, 3, 5, 12):
        result = linker.link("diabetes with kidney complications", k)
        assert 0 < len(result) <= k
        assert all(isinstance(c, Concept) and 0 <= c.score <= 1 for c in result)
        assert [c.score for c in result] == sorted((c.score for c in result), reverse=True)
        assert len(set(codes(result))) == len(result)
        assert all("." in c.code or len(c.code) == 3 for c in result)
    assert linker.link("asthma", 0) == []


def test_non_text_mention_is_an_input_error(linker: Icd10Linker):
    with pytest.raises(InputError):
        linker.link(None)  # type: ignore[arg-type]


def test_deterministic_across_calls_and_processes(linker: Icd10Linker, icd10_cache_dir: Path):
    mentions = ["CHF exacerbation", "fracture", "diabetes", "pain", "infection", "neoplasm", "cough"]
    first = [linker.link(m, 5) for m in mentions]
    assert [linker.link(m, 5) for m in mentions] == first
    again = Icd10Linker(cache_dir=icd10_cache_dir)  # loaded from the cache this time
    assert [again.link(m, 5) for m in mentions] == first
    built = Icd10Linker(cache_dir=None)  # built in memory, no cache
    assert [built.link(m, 5) for m in mentions[:3]] == first[:3]


def test_context_words_rank_codes_that_have_them_first(linker: Icd10Linker):
    plain = linker.link("fracture")
    assert not plain[0].code.startswith("S72")
    with_site = linker.link("fracture", context="right femur")
    assert with_site[0].code == "S72.91XA"
    # Context the tabular list never mentions changes nothing.
    assert linker.link("pneumonia", context="xyzzy") == linker.link("pneumonia")
    # A site the tabular list has no code for lowers every score alike; the condition stays first.
    assert codes(linker.link("pneumonia", context="left lower lobe"))[:1] == ["J18.9"]


def test_a_second_process_loads_the_cache_without_parsing_the_tabular_list(linker: Icd10Linker, icd10_cache_dir: Path):
    assert cache_path(icd10_cache_dir, Vocabulary.load()).is_file()
    code = (
        "import sys; from pathlib import Path; from bedside.coding import Icd10Linker; "
        f"lk = Icd10Linker(cache_dir=Path({str(icd10_cache_dir)!r})); print(lk.link('HTN')[0].code); "
        "print('simple_icd_10_cm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["I10", "False"]


def test_a_corrupt_cache_is_rebuilt(linker: Icd10Linker, tmp_path: Path, icd10_cache_dir: Path):
    good = cache_path(icd10_cache_dir, Vocabulary.load())
    bad = cache_path(tmp_path, Vocabulary.load())
    bad.parent.mkdir(parents=True)
    bad.write_bytes(good.read_bytes()[:5000])  # a truncated file, as after a crash mid-copy
    lk = Icd10Linker(cache_dir=tmp_path)
    assert codes(lk.link("asthma"))[:1] == ["J45.909"]
    assert bad.stat().st_size == good.stat().st_size  # rewritten whole


def test_every_abbreviation_expands_to_words_the_tabular_list_uses(linker: Icd10Linker):
    vocab = Vocabulary.load()
    unknown = {}
    for key, words in [*vocab.abbreviations.items(), *vocab.exact.items()]:
        missing = [t.stem for t in vocab.terms(" ".join(words)) if t.stem not in linker.index.vocab]
        if missing:
            unknown[" ".join(key)] = missing
    assert unknown == {}


def _copy_resources(tmp_path: Path) -> Path:
    folder = tmp_path / "coding"
    shutil.copytree(default_dir(), folder)
    return folder


def test_malformed_vocabulary_file_is_a_config_error(tmp_path: Path):
    folder = _copy_resources(tmp_path)
    (folder / "vocabulary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="vocabulary.json"):
        Icd10Linker(vocabulary_dir=folder).link("asthma")


def test_duplicate_abbreviation_is_a_config_error(tmp_path: Path):
    folder = _copy_resources(tmp_path)
    path = folder / "abbreviations.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["terms"]["CHF"] = "heart failure"  # the same key as "chf": "terms" ignore case
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="twice"):
        Vocabulary.load(folder)


# -- link_document -----------------------------------------------------------------------------

NOTE = "No pneumonia. Pneumonia of the left lower lobe. Started metformin for T2DM."


def _entity(id_: int, text: str, category: str, traits=(), attributes=()) -> Entity:
    begin = NOTE.index(text)
    kind = "DX_NAME" if category == "MEDICAL_CONDITION" else "GENERIC_NAME"
    return Entity(id=id_, text=text, category=category, type=kind, begin_offset=begin, end_offset=begin + len(text),
                  score=0.9, traits=list(traits), attributes=list(attributes))


def test_link_document_codes_conditions_and_ignores_negation(linker: Icd10Linker):
    site = Attribute(id=5, type="SYSTEM_ORGAN_SITE", category="MEDICAL_CONDITION", text="left lower lobe",
                     begin_offset=NOTE.index("left lower lobe"), end_offset=NOTE.index("left lower lobe") + 15,
                     score=0.9, relationship_score=0.9)
    doc = Document(entities=[
        _entity(0, "pneumonia", "MEDICAL_CONDITION", traits=[Trait(name="NEGATION", score=0.9)]),
        _entity(1, "Pneumonia", "MEDICAL_CONDITION", attributes=[site]),
        _entity(2, "metformin", "MEDICATION"),
        _entity(3, "T2DM", "MEDICAL_CONDITION"),
    ])
    out = link_document(doc, NOTE, linker)
    negated, affirmed, drug, diabetes = out.entities
    assert codes(negated.icd10cm_concepts)[:1] == ["J18.9"]
    assert codes(negated.icd10cm_concepts) == codes(linker.link("pneumonia"))  # the NEGATION trait changes nothing
    assert "J18.9" in codes(affirmed.icd10cm_concepts)
    assert drug.icd10cm_concepts is None
    assert codes(diabetes.icd10cm_concepts)[:1] == ["E11.9"]
    assert all(len(e.icd10cm_concepts) <= 5 for e in (negated, affirmed, diabetes))
    assert doc.entities[0].icd10cm_concepts is None  # the input document is left as it was
    comprehend = out.to_dict(style="comprehend")["Entities"][0]["ICD10CMConcepts"][0]
    assert set(comprehend) == {"Code", "Description", "Score"}


def test_link_document_rejects_a_document_of_another_note(linker: Icd10Linker):
    doc = Document(entities=[_entity(0, "pneumonia", "MEDICAL_CONDITION")])
    with pytest.raises(InputError, match="does not match"):
        link_document(doc, "Something else entirely, longer than the offsets.", linker)


def test_a_condition_with_its_complication_takes_the_combination_code(linker: Icd10Linker):
    note = "Type 2 diabetes mellitus with hyperglycemia. Headache with nausea. Type 2 diabetes mellitus."

    def condition(id_: int, words: str, start: int = 0) -> Entity:
        b = note.index(words, start)
        return Entity(id=id_, text=words, category="MEDICAL_CONDITION", type="DX_NAME", begin_offset=b,
                      end_offset=b + len(words), score=0.9)

    doc = Document(entities=[condition(0, "Type 2 diabetes mellitus"), condition(1, "hyperglycemia"),
                             condition(2, "Headache"), condition(3, "nausea"),
                             condition(4, "Type 2 diabetes mellitus", 60)])
    diabetes, hyperglycemia, headache, nausea, alone = link_document(doc, note, linker).entities
    assert codes(diabetes.icd10cm_concepts)[:1] == ["E11.65"]  # "... with hyperglycemia": one code
    assert codes(hyperglycemia.icd10cm_concepts)[:1] == codes(linker.link("hyperglycemia"))[:1]
    assert codes(alone.icd10cm_concepts)[:1] == ["E11.9"]
    # R11.2 ("Nausea with vomiting") is no code of headache's category: each keeps its own
    assert codes(headache.icd10cm_concepts)[:1] == codes(linker.link("Headache"))[:1]
    assert codes(nausea.icd10cm_concepts)[:1] == codes(linker.link("nausea"))[:1]


def test_a_condition_with_a_few_words_that_name_no_entity_may_take_the_combination_code(linker: Icd10Linker):
    note = "COPD with acute exacerbation. Diabetes with good control.\n1. Asthma exacerbation\n2. Pneumonia, resolved"
    ents = []
    for i, words in enumerate(("COPD", "Diabetes", "Asthma", "Pneumonia")):
        b = note.index(words)
        ents.append(Entity(id=i, text=words, category="MEDICAL_CONDITION", type="DX_NAME", begin_offset=b,
                           end_offset=b + len(words), score=0.9))
    copd, diabetes, asthma, pneumonia = link_document(Document(entities=ents), note, linker).entities
    assert codes(copd.icd10cm_concepts)[:1] == ["J44.1"]
    assert codes(diabetes.icd10cm_concepts)[:1] == codes(linker.link("Diabetes"))[:1]  # "good control" is no code
    # without "with": the one or two words that end the phrase ("COPD exacerbation" had been J44.9)
    assert codes(asthma.icd10cm_concepts)[:1] == ["J45.901"]
    assert codes(pneumonia.icd10cm_concepts)[:1] == codes(linker.link("Pneumonia"))[:1]
