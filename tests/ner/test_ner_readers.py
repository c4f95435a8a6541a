"""Corpus readers on small fixtures: IOB TSV and BRAT standoff, malformed lines, merging corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from bedside.errors import InputError
from bedside.ner.brat import read_brat
from bedside.ner.data import CorpusRef, Span, merge, read_corpus, read_iob


def spans_text(ex) -> list[tuple[str, str]]:
    return [(ex.text[s.start:s.end], s.label) for s in ex.spans]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


IOB = (
    "-DOCSTART-\tO\n\n"
    "Selegiline\tB-Chemical\n-\tO\ninduced\tO\npostural\tB-Disease\nhypotension\tI-Disease\n.\tO\n\n"
    "no\tO\nentities\tO\n\n"
    # An I that continues nothing opens an entity; I of another type after B starts a new one.
    "renal\tI-Disease\nfailure\tI-Disease\nand\tO\naspirin\tB-Chemical\noverdose\tI-Disease\n"
)


def test_iob_typed_tags_map_to_bedside_categories(tmp_path: Path) -> None:
    corpus = read_iob(write(tmp_path / "c.tsv", IOB))
    assert [e.text for e in corpus.examples] == [
        "Selegiline - induced postural hypotension .", "no entities", "renal failure and aspirin overdose",
    ]
    assert spans_text(corpus.examples[0]) == [
        ("Selegiline", "MEDICATION"), ("postural hypotension", "MEDICAL_CONDITION"),
    ]
    assert spans_text(corpus.examples[1]) == []
    assert spans_text(corpus.examples[2]) == [
        ("renal failure", "MEDICAL_CONDITION"), ("aspirin", "MEDICATION"), ("overdose", "MEDICAL_CONDITION"),
    ]
    assert corpus.categories == {"MEDICATION", "MEDICAL_CONDITION"}
    assert corpus.problems == []
    assert corpus.examples[0].source.endswith("c.tsv:3")


def test_iob_plain_bio_needs_and_takes_a_category(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.tsv", "colon\tB\ncancer\tI\nrisk\tO\n")
    with pytest.raises(InputError, match=r"plain.tsv:1: tag 'B' has no entity type"):
        read_iob(path)
    corpus = read_corpus(CorpusRef.parse(f"{path}:MEDICAL_CONDITION"))
    assert spans_text(corpus.examples[0]) == [("colon cancer", "MEDICAL_CONDITION")]
    # A forced category also overrides typed tags.
    typed = write(tmp_path / "typed.tsv", "aspirin\tB-Chemical\n")
    assert spans_text(read_iob(typed, "DRUG_X").examples[0]) == [("aspirin", "DRUG_X")]


def test_iob_malformed_lines_skip_their_sentence_or_abort_when_strict(tmp_path: Path) -> None:
    text = (
        "good\tO\nsentence\tO\n\n"
        "broken line without tab\n"  # line 4
        "fever\tB-Disease\n\n"
        "bad\tX-Disease\n\n"  # line 7
        "last\tO\n"
    )
    path = write(tmp_path / "bad.tsv", text)
    corpus = read_iob(path)
    assert [e.text for e in corpus.examples] == ["good sentence", "last"]
    assert len(corpus.problems) == 2
    assert corpus.problems[0].startswith(f"{path}:4: expected token<TAB>tag")
    assert corpus.problems[1].startswith(f"{path}:7: invalid tag 'X-Disease'")
    assert corpus.summary()["skipped"] == 2
    with pytest.raises(InputError, match=r"bad.tsv:4: expected token<TAB>tag"):
        read_iob(path, strict=True)


def test_iob_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="corpus file not found"):
        read_corpus(CorpusRef(tmp_path / "missing.tsv"))
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("fi\xe8vre\tB-Disease\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_iob(latin1)


def test_corpus_ref_parse() -> None:
    assert CorpusRef.parse("a/b.tsv:MEDICATION") == CorpusRef(Path("a/b.tsv"), "MEDICATION")
    assert CorpusRef.parse("a/b.tsv") == CorpusRef(Path("a/b.tsv"), None)
    assert CorpusRef.parse("c:/x/b.tsv") == CorpusRef(Path("c:/x/b.tsv"), None)  # not a category
    assert CorpusRef(Path("/d/ncbi_disease/dev.tsv")).name == "ncbi_disease/dev"
    assert CorpusRef(Path("/d/brat_notes")).name == "brat_notes"
    assert str(CorpusRef(Path("x.tsv"), "MEDICATION")) == "x.tsv:MEDICATION"


# chest pain 12-22, fever 27-32, aspirin 40-47, left 58-62, knee pain 73-82
DOC = "Patient has chest pain. No fever.\nTakes aspirin 81 mg and left and right knee pain.\n"


def brat_doc(tmp_path: Path, ann: str) -> Path:
    write(tmp_path / "note.txt", DOC)
    return write(tmp_path / "note.ann", ann)


def test_brat_spans_discontinuous_outer_and_split(tmp_path: Path) -> None:
    ann = brat_doc(tmp_path, (
        "T1\tProblem 12 22\tchest pain\n"
        "T2\tDrug 40 47\taspirin\n"
        "R1\tHas Arg1:T1 Arg2:T2\n"  # relations are ignored
        "#1\tAnnotatorNotes T1\tnote\n"
        "T3\tProblem 58 62;73 82\tleft knee pain\n"  # discontinuous
    ))
    outer = read_brat(ann)
    assert [e.text for e in outer.examples] == [
        "Patient has chest pain.", "No fever.", "Takes aspirin 81 mg and left and right knee pain.",
    ]
    assert spans_text(outer.examples[0]) == [("chest pain", "MEDICAL_CONDITION")]
    assert spans_text(outer.examples[2]) == [
        ("aspirin", "MEDICATION"), ("left and right knee pain", "MEDICAL_CONDITION"),
    ]
    assert outer.counts["discontinuous"] == 1
    assert outer.categories == {"MEDICAL_CONDITION", "MEDICATION"}
    split = read_brat(ann, discontinuous="split")
    assert spans_text(split.examples[2]) == [
        ("aspirin", "MEDICATION"), ("left", "MEDICAL_CONDITION"), ("knee pain", "MEDICAL_CONDITION"),
    ]
    # Offsets in examples are relative to the sentence and exact.
    for ex in outer.examples + split.examples:
        assert all(ex.text[s.start:s.end] == ex.text[s.start:s.end].strip() for s in ex.spans)


def test_brat_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    ann = brat_doc(tmp_path, (
        "T1\tProblem 12 22\tchest pain\n"
        "T2\tProblem 12\tchest\n"  # line 2: offsets
        "T3\tProblem 27 32\tfeverish\n"  # line 3: text mismatch
        "T4 Problem 27 32 fever\n"  # line 4: not tab-separated
        "T5\tProblem 27 999\tfever\n"  # line 5: out of range
        "T6\tProblem 27 32\tfever\n"
    ))
    corpus = read_brat(ann)
    assert [p.split(": ", 1)[0] for p in corpus.problems] == [f"{ann}:{n}" for n in (2, 3, 4, 5)]
    assert "invalid offsets" in corpus.problems[0]
    assert "does not match" in corpus.problems[1]
    assert sorted(spans_text(e)[0][0] for e in corpus.examples if e.spans) == ["chest pain", "fever"]
    with pytest.raises(InputError, match=r"note.ann:2: invalid offsets"):
        read_brat(ann, strict=True)


def test_brat_overlapping_spans_keep_the_longest(tmp_path: Path) -> None:
    ann = brat_doc(tmp_path, "T1\tProblem 18 22\tpain\nT2\tProblem 12 22\tchest pain\nT3\tAnatomy 12 17\tchest\n")
    corpus = read_brat(ann, "MEDICAL_CONDITION")
    assert spans_text(corpus.examples[0]) == [("chest pain", "MEDICAL_CONDITION")]
    assert corpus.counts["overlaps_dropped"] == 2
    assert corpus.categories == {"MEDICAL_CONDITION"}


def test_brat_folder_and_dispatch(tmp_path: Path) -> None:
    sub = tmp_path / "notes" / "a"
    sub.mkdir(parents=True)
    write(sub / "one.txt", "Fever.")
    write(sub / "one.ann", "T1\tDisease 0 5\tFever\n")
    write(sub / "two.txt", "Aspirin given.")
    write(sub / "two.ann", "T1\tChemical 0 7\tAspirin\n")
    corpus = read_corpus(CorpusRef.parse(str(tmp_path / "notes")))
    assert [spans_text(e) for e in corpus.examples] == [[("Fever", "MEDICAL_CONDITION")], [("Aspirin", "MEDICATION")]]
    assert corpus.counts["documents"] == 2
    single = read_corpus(CorpusRef(sub / "one.txt"))  # a .txt with its .ann is BRAT, not IOB
    assert spans_text(single.examples[0]) == [("Fever", "MEDICAL_CONDITION")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .ann files"):
        read_corpus(CorpusRef(tmp_path / "empty"))


def test_merge_folds_identical_sentences_of_different_corpora(tmp_path: Path) -> None:
    disease = read_iob(write(tmp_path / "d.tsv", (
        "aspirin\tO\ncaused\tO\nulcer\tB-Disease\n\n"
        "aspirin\tO\ncaused\tO\nulcer\tB-Disease\n\n"  # a real duplicate inside one corpus
        "only\tO\nhere\tO\n\n"
    )))
    chem = read_iob(write(tmp_path / "c.tsv", (
        "aspirin\tB-Chemical\ncaused\tO\nulcer\tO\n\n"
        "aspirin\tB-Chemical\ncaused\tO\nulcer\tB-Chemical\n\n"  # overlaps the disease span: dropped
        "elsewhere\tB-Chemical\n"
    )))
    examples, stats = merge([disease, chem])
    assert [e.text for e in examples] == ["aspirin caused ulcer", "aspirin caused ulcer", "only here", "elsewhere"]
    assert spans_text(examples[0]) == [("aspirin", "MEDICATION"), ("ulcer", "MEDICAL_CONDITION")]
    assert spans_text(examples[1]) == [("aspirin", "MEDICATION"), ("ulcer", "MEDICAL_CONDITION")]
    assert examples[0].annotated == {"MEDICATION", "MEDICAL_CONDITION"}
    assert examples[2].annotated == {"MEDICAL_CONDITION"}
    assert examples[3].annotated == {"MEDICATION"}
    assert (stats.merged, stats.conflicts) == (2, 1)
    assert examples[0].spans == (Span(0, 7, "MEDICATION"), Span(15, 20, "MEDICAL_CONDITION"))
