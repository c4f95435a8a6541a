"""`bedside pretrain` on tiny random models: the corpus reader and packing, masking, a CLM run on a tiny
LLaMA, an MLM run on a tiny BERT whose output then trains the real `bedside train ner`, and bad input."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
import typer
from adapt_helpers import killed_after_checkpoint, llama_folder, tokenizer
from typer.testing import CliRunner

from bedside.adapt import corpus as cp
from bedside.adapt.features import Example
from bedside.config import load_settings
from bedside.errors import InputError

for _mod in ("torch", "transformers", "peft"):
    pytest.importorskip(_mod, reason="pre-training needs the 'train' extra")

import torch  # noqa: E402

from bedside.adapt import mlm  # noqa: E402
from bedside.adapt.pretrain import PretrainJob, model_kind, run_pretrain  # noqa: E402
from bedside.cli.pretrain import pretrain  # noqa: E402

# Registered here the way src/bedside/cli/__init__.py will: `bedside pretrain ...`.
app = typer.Typer()
app.command("pretrain")(pretrain)


@app.callback()
def _root() -> None:
    """A group, so that `pretrain` is a subcommand as in the real CLI."""


# -- fixtures: tiny models and corpora ----------------------------------------------------------------
LLAMA_LINES = ["You are a triage nurse . Route this chest pain Clinic : cardiology",
               "Which clinic ? burning rash Clinic : dermatology",
               "Route this burning Clinic : urology"]
BERT_WORDS = ("the patient has chest pain and fever with no rash after aspirin , . was given denies reports "
              "cough today mild severe").split()


def llama_dir(root: Path) -> Path:
    return llama_folder(root / "tiny-llama", chat=False)


def bert_dir(root: Path) -> Path:
    """A tiny random BERT saved without a masked-LM head (as minilm is), with a WordPiece tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    # Padded with unused entries as BERT's own vocabulary is: the NER ONNX export traces with fixed
    # BERT ids (up to 2023), which must exist in the embedding.
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS, "##s"]
    vocab = {w: i for i, w in enumerate(words + [f"[unused{k}]" for k in range(2048 - len(words))])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    folder = root / "tiny-bert"
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def bert_corpus(folder: Path) -> Path:
    """Notes in a fixed pattern, so a masked word can be learned from its neighbours."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"text": f"the patient has {a} and {b} . was given aspirin today ."})
             for a in ("chest pain", "fever", "cough", "mild fever") for b in ("no rash", "severe cough", "fever")]
    (folder / "notes.jsonl").write_text("\n".join(lines * 2) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def settings(bedside_env):
    return load_settings()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"llama": llama_dir(root), "bert": bert_dir(root)}


# -- the corpus ---------------------------------------------------------------------------------------
def test_reads_folders_recursively_and_skips_bad_files_by_name(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / "one.txt").write_text("First note.\n", encoding="utf-8")
    (tmp_path / "a" / "deep" / "two.jsonl").write_text(
        '{"text": "Second."}\n{"text": ""}\nnot json\n{"text": "Third."}\n', encoding="utf-8")
    (tmp_path / "a" / "deep" / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp_path / "a" / "latin1.txt").write_bytes("Caf\xe9".encode("latin-1"))
    (tmp_path / "a" / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "a" / "ignored.csv").write_text("x,y\n", encoding="utf-8")
    (tmp_path / "a" / ".hidden").mkdir()
    (tmp_path / "a" / ".hidden" / "h.txt").write_text("hidden", encoding="utf-8")
    extra = tmp_path / "extra.md"
    extra.write_text("A file named explicitly is text whatever its suffix.", encoding="utf-8")

    got = cp.read_corpus([tmp_path / "a", extra, tmp_path / "a" / "one.txt"])  # one.txt twice: read once
    assert [d.text for d in got.documents] == ["Second.", "Third.", "First note.\n",
                                               "A file named explicitly is text whatever its suffix."]
    assert got.documents[1].source == f"{tmp_path / 'a' / 'deep' / 'two.jsonl'}:4"
    assert got.files == 3
    reasons = "\n".join(got.skipped)
    assert len(got.skipped) == 5
    for expected in (f"{tmp_path / 'a' / 'deep' / 'blob.txt'}: binary file", f"{tmp_path / 'a' / 'latin1.txt'}: "
                     "not UTF-8", f"{tmp_path / 'a' / 'empty.txt'}: empty", "two.jsonl:2: needs a JSON object",
                     "two.jsonl:3: not valid JSON"):
        assert expected in reasons
    assert got.summary()["skipped"]["count"] == 5
    # The hash covers the files read, in order: the same inputs give the same hash, an edit another.
    assert cp.read_corpus([tmp_path / "a", extra]).sha256 == got.sha256
    extra.write_text("changed", encoding="utf-8")
    assert cp.read_corpus([tmp_path / "a", extra]).sha256 != got.sha256


def test_strict_missing_and_empty_inputs_are_errors(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "ok.txt").write_text("Fine.", encoding="utf-8")
    with pytest.raises(InputError, match=r"bin\.txt: binary file .*--strict"):
        cp.read_corpus([tmp_path], strict=True)
    with pytest.raises(InputError, match="corpus not found: .*nope"):
        cp.read_corpus([tmp_path / "nope"])
    (tmp_path / "ok.txt").unlink()
    with pytest.raises(InputError, match=r"corpus has no text to train on; 1 skipped, first: .*bin\.txt: binary"):
        cp.read_corpus([tmp_path])


def test_documents_are_deidentified_one_by_one_and_the_hash_stays(tmp_path, settings):
    pytest.importorskip("bedside.deid.pipeline", reason="de-identification needs the 'deid' extra")
    (tmp_path / "n.txt").write_text("Seen today. Call 555-123-4567 with results.", encoding="utf-8")
    raw = cp.read_corpus([tmp_path])
    clean = cp.deidentified(raw, settings)
    assert "555-123-4567" not in clean.documents[0].text and "Seen today." in clean.documents[0].text
    assert clean.sha256 == raw.sha256 == hashlib.sha256(
        hashlib.sha256((tmp_path / "n.txt").read_bytes()).hexdigest().encode() + b"\n").hexdigest()


def test_held_out_documents_are_drawn_with_the_seed():
    docs = [cp.Document(str(i), str(i)) for i in range(20)]
    train, held = cp.held_out(docs, 0.1, seed=13)
    assert len(held) == 2 and len(train) == 18 and {d.text for d in train} | {d.text for d in held} == set(map(
        str, range(20)))
    assert cp.held_out(docs, 0.1, seed=13) == (train, held)
    assert cp.held_out(docs, 0.1, seed=14)[1] != held
    assert cp.held_out(docs[:1], 0.5, seed=13) == (docs[:1], [])  # one document: nothing to hold out
    assert cp.held_out(docs, 0.0, seed=13) == (docs, [])


def test_packing_fills_blocks_across_documents():
    docs = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11] * 30]
    packed = cp.pack(docs, 12, separator=0, prefix=[100], suffix=[101])
    stream = [1, 2, 3, 0, 4, 5, 6, 7, 8, 9, 10, 0] + [11] * 30 + [0]
    assert packed.tokens == len(stream) == 43
    assert [e.input_ids[1:-1] for e in packed.examples] == [stream[i:i + 10] for i in range(0, 43, 10)]
    assert all(e.input_ids[0] == 100 and e.input_ids[-1] == 101 and e.labels == e.input_ids for e in packed.examples)
    # 43 = 4 x 10 + 3: the tail holds at least a quarter of a block's text, so it is kept ...
    assert [len(e.input_ids) for e in packed.examples] == [12, 12, 12, 12, 5] and packed.dropped_tail_tokens == 0
    # ... while in blocks of 40 a tail of 3 is under a quarter (10): dropped, and counted.
    big = cp.pack(docs, 40, separator=0)
    assert [len(e.input_ids) for e in big.examples] == [40] and big.dropped_tail_tokens == 3
    assert big.summary() == {"documents": 3, "tokens": 43, "blocks": 1, "block_len": 40, "dropped_tail_tokens": 3}


def test_causal_packing_joins_documents_with_eos():
    tok = tokenizer(chat=False)
    docs = [cp.Document("chest pain", "a"), cp.Document("burning rash", "b")]
    packed = cp.pack_causal(tok, docs, 8)
    assert tok.convert_ids_to_tokens(packed.examples[0].input_ids) == [
        "chest", "pain", "<|im_end|>", "burning", "rash", "<|im_end|>"]
    with pytest.raises(InputError, match="not enough for one block of 64"):
        cp.packed_or_error(cp.pack_causal, tok, docs, 64, "corpus")


# -- masking -----------------------------------------------------------------------------------------
def test_masking_follows_bert_and_is_seeded():
    m = mlm.Masking(mask_id=4, vocab_size=50, special_ids=(0, 2, 3))
    ids = torch.randint(5, 50, (64, 128), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = 2, 3
    attention = torch.ones_like(ids)
    attention[0, 100:], ids[0, 100:] = 0, 0  # padding
    inputs, labels = mlm.mask_tokens(ids, attention, m, torch.Generator().manual_seed(1))
    again = mlm.mask_tokens(ids, attention, m, torch.Generator().manual_seed(1))
    assert torch.equal(inputs, again[0]) and torch.equal(labels, again[1])
    chosen = labels != -100
    assert 0.13 < chosen.float().mean() < 0.17
    assert not chosen[:, 0].any() and not chosen[:, -1].any() and not chosen[0, 100:].any()
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (inputs[chosen] == 4).float().mean()
    kept = (inputs[chosen] == ids[chosen]).float().mean()
    assert 0.76 < masked < 0.84 and 0.07 < kept < 0.14  # 10 % kept, plus random draws of the same id
    assert torch.equal(inputs[~chosen], ids[~chosen])
    # A short block that draws no target still gets one.
    short = torch.tensor([[2, 7, 3]])
    _, one = mlm.mask_tokens(short, torch.ones_like(short), m, torch.Generator().manual_seed(5))
    assert one.tolist() == [[-100, 7, -100]]


def test_model_kind_from_the_config():
    assert model_kind({"model_type": "bert"}) == "mlm"
    assert model_kind({"model_type": "bert", "is_decoder": True}) == "clm"
    assert model_kind({"model_type": "llama"}) == model_kind({}) == "clm"


# -- end to end --------------------------------------------------------------------------------------
def test_clm_run_lowers_the_loss_and_describes_itself(tmp_path, bedside_env, models):
    docs = tmp_path / "corpus"
    docs.mkdir()
    for i in range(12):
        (docs / f"note{i:02}.txt").write_text(" ".join(LLAMA_LINES[i % 3:] + LLAMA_LINES[:i % 3]) + "\n",
                                              encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "pretrain", str(docs), "--model", str(models["llama"]), "--out", str(out), "--no-gguf", "--no-deid",
        "--max-steps", "12", "--lr", "1e-2", "--rank", "4", "--batch-size", "2", "--max-len", "32",
        "--eval-fraction", "0.25", "--threads", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    printed = json.loads(result.stdout)
    meta = json.loads((out / "bedside-adapt.json").read_text())
    assert printed["objective"] == "clm" and printed["gguf"] is None and printed["hf"] == str(out.resolve() / "hf")
    assert meta["method"] == "continual-pretrain-clm" and meta["hyperparameters"]["objective"] == "clm"
    assert meta["hyperparameters"]["lr"] == 1e-2 and meta["hyperparameters"]["targets"] == "all-linear"
    assert meta["steps"] == 12 and meta["loss_last"] < meta["loss_first"]
    assert meta["eval"]["after"]["loss"] < meta["eval"]["before"]["loss"]
    weights = models["llama"] / "model.safetensors"
    assert meta["base_model"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    data = meta["data"]
    assert data["held_out"] == {"fraction": 0.25, "seed": 13, "documents": 3} and data["deid"] == "off"
    assert data["corpus"]["documents"] == 12 and data["corpus"]["files"] == 12 and len(data["train"]["sha256"]) == 64
    assert data["train"]["block_len"] == 32 and data["train"]["blocks"] == printed["blocks"] > 1
    assert {p.name for p in out.iterdir()} == {"hf", "adapter", "bedside-adapt.json", "catalog-entry.toml"}
    entry = tomllib.loads((out / "catalog-entry.toml").read_text())["models"][0]
    assert entry["sha256"] == meta["outputs"]["hf"]["sha256"] and entry["provenance"].startswith("bedside pretrain")
    assert entry["description"].startswith("Continual pre-training (LoRA)")


def test_mlm_run_feeds_ner_training(tmp_path, bedside_env, models):
    from bedside.cli.ner import train_app

    corpus = bert_corpus(tmp_path / "notes")
    out = tmp_path / "encoder"
    result = CliRunner().invoke(app, [
        "pretrain", str(corpus), "--model", str(models["bert"]), "--out", str(out), "--no-deid",
        "--max-steps", "16", "--lr", "3e-3", "--batch-size", "4", "--max-len", "24", "--eval-fraction", "0.25",
        "--threads", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    meta = json.loads((out / "bedside-pretrain.json").read_text())
    assert json.loads(result.stdout)["objective"] == "mlm" and meta["method"] == "continual-pretrain-mlm"
    assert meta["hyperparameters"]["mask_prob"] == 0.15 and "rank" not in meta["hyperparameters"]
    assert meta["mlm_head"]["initialised"] and "cls.predictions.transform.dense.weight" in \
        meta["mlm_head"]["initialised_weights"]
    ev = meta["eval"]
    assert ev["after"]["masked_tokens"] == ev["before"]["masked_tokens"] > 0  # the same fixed masks
    assert ev["after"]["loss"] < ev["before"]["loss"]
    assert meta["trainable_parameters"] == meta["total_parameters"]  # full fine-tuning
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "bedside-pretrain.json"} == {p.name for p in out.iterdir()}
    assert meta["outputs"]["hf"]["sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()

    # The folder is a base for `bedside train ner`, unchanged.
    iob = tmp_path / "ner.tsv"
    sentences = [[("the", "O"), ("patient", "O"), ("has", "O"), ("chest", "B-Disease"), ("pain", "I-Disease"),
                  (".", "O")], [("denies", "O"), ("fever", "B-Disease"), ("and", "O"), ("cough", "B-Disease")]]
    iob.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences * 4) + "\n", encoding="utf-8")
    ner_app = typer.Typer()
    ner_app.add_typer(train_app, name="train")
    ner_out = tmp_path / "ner"
    trained = CliRunner().invoke(ner_app, [
        "train", "ner", "--out", str(ner_out), "--train", f"{iob}:MEDICAL_CONDITION", "--base", str(out),
        "--max-steps", "3", "--batch-size", "4", "--max-len", "24", "--no-quantize", "--threads", "1"])
    assert trained.exit_code == 0, trained.output + repr(trained.exception)
    ner_meta = json.loads((ner_out / "bedside-ner.json").read_text())
    assert ner_meta["base_model"]["sha256"] == meta["outputs"]["hf"]["sha256"] and ner_meta["steps"] == 3
    assert (ner_out / "onnx" / "model.onnx").is_file()


def test_an_encoder_is_refused_for_clm_and_bad_input_writes_nothing(tmp_path, settings, models):
    corpus = bert_corpus(tmp_path / "notes")
    out = tmp_path / "out"
    job = PretrainJob(model=str(models["bert"]), corpus=[corpus], out=out, objective="clm", export_gguf=False,
                      deid=False, max_steps=1)
    with pytest.raises(InputError, match="is an encoder \\(model_type bert\\): use --objective mlm"):
        run_pretrain(job, settings, progress=False)
    too_long = PretrainJob(model=str(models["bert"]), corpus=[corpus], out=out, max_len=100, deid=False, max_steps=1)
    with pytest.raises(InputError, match="--max-len 100 exceeds the 64 positions"):
        run_pretrain(too_long, settings, progress=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.txt").write_text("\n", encoding="utf-8")
    for corpus_paths, message in (([tmp_path / "missing"], "corpus not found"),
                                  ([tmp_path / "empty"], "corpus has no text to train on")):
        result = CliRunner().invoke(app, ["pretrain", *map(str, corpus_paths), "--model", str(models["bert"]),
                                          "--out", str(out)])
        assert isinstance(result.exception, InputError) and message in str(result.exception)
    with pytest.raises(InputError, match="is a GGUF decoder: masked-LM training needs an HF encoder"):
        gguf = tmp_path / "decoder.gguf"
        gguf.write_bytes(b"GGUF")
        run_pretrain(PretrainJob(model=str(gguf), corpus=[corpus], out=out, objective="mlm"), settings)
    with pytest.raises(InputError, match="--objective must be one of"):
        run_pretrain(PretrainJob(model=str(models["bert"]), corpus=[corpus], out=out, objective="t5"), settings)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_eval_blocks_are_masked_once_and_identically():
    m = mlm.Masking(mask_id=4, vocab_size=30, special_ids=(0, 2, 3))
    blocks = [Example([2, *range(5, 25), 3], [2, *range(5, 25), 3], "b1")]
    first, again = mlm.eval_blocks(blocks, m), mlm.eval_blocks(blocks, m)
    assert first == again and any(x != -100 for x in first[0].labels)


# -- memory check and checkpoints (as for adapt lora) ------------------------------------------------
def _mlm_job(models: dict[str, Path], corpus: Path, out: Path, **kw) -> PretrainJob:
    return PretrainJob(model=str(models["bert"]), corpus=[corpus], out=out, deid=False, max_steps=6, lr=3e-3,
                       batch_size=4, max_len=24, eval_fraction=0.25, threads=1, device="cpu", **kw)


def test_mlm_run_resumes_after_an_interruption_to_the_same_losses_and_weights(tmp_path, settings, models,
                                                                              monkeypatch):
    from safetensors.torch import load_file

    from bedside.adapt.checkpoint import Checkpoints, partial_dir

    corpus = bert_corpus(tmp_path / "notes")
    straight = run_pretrain(_mlm_job(models, corpus, tmp_path / "straight", checkpoint_every=2), settings,
                            progress=False)
    assert straight["resumed_from_step"] == 0 and not partial_dir(tmp_path / "straight").exists()
    assert straight["memory"]["full_fine_tuning"] and straight["memory"]["estimate_bytes"] > 0

    out = tmp_path / "resumed"
    with killed_after_checkpoint(monkeypatch, 4), pytest.raises(KeyboardInterrupt):
        run_pretrain(_mlm_job(models, corpus, out, checkpoint_every=2), settings, progress=False)
    assert not out.exists() and [p.name for p in Checkpoints(partial_dir(out), {}).steps()] == ["step-000004"]

    with pytest.raises(InputError, match=r"checkpoint of another run \(options\.mask_prob 0\.15 -> 0\.2\)"):
        run_pretrain(_mlm_job(models, corpus, out, mask_prob=0.2), settings, progress=False)
    resumed = run_pretrain(_mlm_job(models, corpus, out, checkpoint_every=2), settings, progress=False)
    assert resumed["resumed_from_step"] == 4 and resumed["losses"] == straight["losses"]
    assert not partial_dir(out).exists()
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_run_that_cannot_fit_is_refused_before_the_model_loads(tmp_path, settings, models, monkeypatch):
    from bedside.adapt import memory

    corpus = bert_corpus(tmp_path / "notes")
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 1024**2)
    loaded: list[str] = []
    monkeypatch.setattr("transformers.AutoModelForMaskedLM.from_pretrained",
                        lambda *a, **kw: loaded.append("loaded"))
    with pytest.raises(InputError, match=r"estimated peak memory .* GiB vs 0\.00 GiB available \(cpu\): weights .* "
                                         r"\+ gradients and AdamW .*; lower --batch-size \(4\) or --max-len \(24\), "
                                         r"or pass --force"):
        run_pretrain(_mlm_job(models, corpus, tmp_path / "out"), settings, progress=False)
    assert not loaded and not (tmp_path / "out").exists()


def test_full_fine_tuning_estimate_counts_every_weight_and_every_logit():
    from bedside.adapt import memory
    from bedside.adapt.lora import LoraParams

    shape = memory.Shape(parameters=22_000_000, layers=6, hidden=384, intermediate=1536, heads=12, kv_heads=12,
                         head_dim=32, vocab=30522)
    p = LoraParams(batch_size=8, max_len=128)
    lora, full = memory.estimate(shape, p, targets=10), memory.estimate(shape, p, targets=10, full=True)
    assert full.parts["lora_adamw"] == 12 * 22_000_000 and full.lora_parameters == 0
    assert full.parts["lm_head"] == 3 * 4 * 8 * 128 * 30522 > lora.parts["lm_head"]  # logits at every position
    assert full.parts["activations"] >= lora.parts["activations"] and full.total > lora.total
    assert "gradients and AdamW" in full.breakdown() and "LoRA and AdamW" in lora.breakdown()


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_masked_loss_on_target_positions_only_equals_the_full_logits(arch):
    """BERT/RoBERTa run their head on the target positions only (``mlm._head``); DistilBERT, whose head
    is several modules, takes the full path. Either way the loss is the full logits' loss there."""
    import transformers as tf

    torch.manual_seed(0)
    if arch == "distilbert":
        model = tf.DistilBertForMaskedLM(tf.DistilBertConfig(vocab_size=60, dim=32, n_layers=1, n_heads=2,
                                                             hidden_dim=64))
    else:
        name = {"bert": "Bert", "roberta": "Roberta"}[arch]
        config = getattr(tf, f"{name}Config")(vocab_size=60, hidden_size=32, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=64)
        model = getattr(tf, f"{name}ForMaskedLM")(config)
    model.eval()
    assert (mlm._head(model) is None) == (arch == "distilbert")
    ids = torch.randint(5, 60, (3, 12))
    attention = torch.ones_like(ids)
    labels = torch.full_like(ids, -100)
    labels[:, ::4] = ids[:, ::4]
    full = model(input_ids=ids, attention_mask=attention).logits
    expected = torch.nn.functional.cross_entropy(full[labels != -100], labels[labels != -100])
    assert torch.allclose(mlm.masked_loss(model, ids, attention, labels), expected, atol=1e-6)
