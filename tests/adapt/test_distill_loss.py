"""Token-level and grounded distillation: the loss terms on tiny tensors and a tiny random LLaMA, the
tokenizer check, and the real `run_distill` / CLI entry points for a few steps on HF folders."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from adapt_helpers import DATA, WORDS, tiny_llama, tokenizer, write_jsonl

from bedside.adapt.features import IGNORE, prepare
from bedside.adapt.records import read_jsonl
from bedside.errors import InputError, UnknownModelError

torch = pytest.importorskip("torch", reason="training needs the 'train' extra")
pytest.importorskip("peft", reason="LoRA needs the 'train' extra")

import torch.nn.functional as F  # noqa: E402

from bedside.adapt import distill_loss as dl  # noqa: E402
from bedside.adapt.distill import DistillJob, run_distill  # noqa: E402
from bedside.adapt.lora import LoraParams, collate, completion_loss  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    examples = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    return collate(examples[:4], pad_id=1)


def peaked_llama(seed: int, hidden: int = 32):
    """A tiny random LLaMA whose LM head can express confident distributions.

    With the usual 0.02 init and a final RMSNorm (which LoRA does not train), the logits of a
    32-wide model stay within about ±0.6: every distribution is near uniform and no loss can move it far.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if hidden == 32:
        model = tiny_llama(seed)
    else:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(WORDS), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)).eval()
    model.lm_head.weight.data *= 30
    return model


def full_logits(model, ids, mask, labels):
    """Logits at target positions from the plain HF forward pass: an independent route to the same numbers."""
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    picked = labels[:, 1:] != IGNORE
    return logits[picked].float(), labels[:, 1:][picked], picked.nonzero()[:, 0]


# -- token-level loss --------------------------------------------------------------------------------
def test_the_kl_term_vanishes_when_the_teacher_is_the_student(batch):
    model = tiny_llama()
    with torch.no_grad():
        ce = completion_loss(model, *batch)
        assert float(dl.token_kl_loss(model, alpha=1.0)(model, *batch)) == pytest.approx(0.0, abs=1e-6)
        assert float(dl.token_kl_loss(model, alpha=0.5, temperature=2.0)(model, *batch)) == pytest.approx(
            0.5 * float(ce), rel=1e-5)


def test_kl_weight_zero_is_the_completion_loss(batch):
    student, teacher = tiny_llama(0), peaked_llama(1)
    with torch.no_grad():
        assert float(dl.token_kl_loss(teacher, alpha=0.0)(student, *batch)) == pytest.approx(
            float(completion_loss(student, *batch)), rel=1e-6)


def test_the_token_loss_is_the_documented_mix(batch):
    student, teacher = tiny_llama(0), peaked_llama(1)
    alpha, t = 0.3, 2.0
    s, gold, _ = full_logits(student, *batch)
    q, _, _ = full_logits(teacher, *batch)
    kl = F.kl_div(F.log_softmax(s / t, -1), F.log_softmax(q / t, -1), log_target=True, reduction="batchmean")
    expected = (1 - alpha) * F.cross_entropy(s, gold) + alpha * t * t * kl
    with torch.no_grad():
        got = dl.token_kl_loss(teacher, alpha, t)(student, *batch)
    assert float(kl) > 0.1  # the teacher really differs
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_padded_vocabulary_rows_are_left_out_of_the_kl():
    s = torch.tensor([[0.0, 1.0, 2.0]])
    q_padded = torch.tensor([[0.0, 1.0, 2.0, 9.0, 9.0]])  # two padding rows the tokenizer never emits
    assert float(dl.kl_rows(s, q_padded, vocab_size=3)[0]) == pytest.approx(0.0, abs=1e-7)
    assert float(dl.kl_rows(s, q_padded[:, :3] + torch.tensor([[0.0, 0.0, 3.0]]))[0]) > 0.1


# -- grounded loss -----------------------------------------------------------------------------------
def test_the_grounded_term_vanishes_when_all_mass_is_on_supported_tokens():
    # One example: context ids 0, 1, 2 (labels -100), targets 1 and 4 (4 unsupported: not in context).
    ids = torch.tensor([[0, 1, 2, 1, 4]])
    mask = torch.ones_like(ids)
    labels = torch.tensor([[IGNORE, IGNORE, IGNORE, 1, 4]])
    rows = torch.tensor([0, 0])
    targets = torch.tensor([1, 4])
    common = torch.tensor([3])
    on_supported = torch.tensor([[5.0, 30.0, 5.0, 5.0, -30.0, -30.0]] * 2)  # supported: 0, 1, 2, 3
    log_mass, gold_ok = dl.supported_log_mass(on_supported, targets, rows, ids, mask, labels, common)
    assert gold_ok.tolist() == [True, False]  # gold 4 is unsupported: no penalty at that position
    assert float(-log_mass[0]) == pytest.approx(0.0, abs=1e-6)
    spread = torch.zeros(2, 6)  # uniform: 4 of 6 tokens supported, u = 1/3
    log_mass, _ = dl.supported_log_mass(spread, targets, rows, ids, mask, labels, common)
    assert float(-log_mass[0]) == pytest.approx(-torch.log(torch.tensor(4 / 6)).item(), rel=1e-6)


def test_grounded_loss_is_ce_plus_the_penalty_on_supported_gold_only(batch):
    model = peaked_llama(0)
    ids, mask, labels = batch
    common = [3]  # <|im_end|>
    logits, gold, rows = full_logits(model, ids, mask, labels)
    context = (labels == IGNORE) & (mask == 1)
    penalties, skipped = [], 0
    for k in range(len(gold)):
        allowed = set(ids[rows[k]][context[rows[k]]].tolist()) | set(common)
        if int(gold[k]) not in allowed:
            skipped += 1
            continue
        p = logits[k].softmax(-1)
        u = 1 - p[sorted(allowed)].sum()
        penalties.append(-torch.log(1 - u))
    assert skipped > 0 and penalties  # the fixture has gold tokens outside their prompt ("cardiology")
    ce = F.cross_entropy(logits, gold)
    with torch.no_grad():
        got = dl.grounded_loss(0.7, common)(model, *batch)
        plain = dl.grounded_loss(0.0, common)(model, *batch)
        everything = dl.grounded_loss(0.7, range(len(WORDS)))(model, *batch)
    assert float(got) == pytest.approx(float(ce + 0.7 * torch.stack(penalties).mean()), rel=1e-5)
    assert float(plain) == pytest.approx(float(ce), rel=1e-6)
    assert float(everything) == pytest.approx(float(ce), rel=1e-6)  # every token supported: nothing to penalise


def test_common_ids_are_the_most_frequent_targets():
    examples = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    vocab = tokenizer().get_vocab()
    top = dl.common_target_ids(examples, 2)
    # "Clinic", ":" and "<|im_end|>" end every answer (10 each); ties go to the lower id.
    assert top == [vocab["<|im_end|>"], vocab["Clinic"]]
    assert dl.common_target_ids(examples, 3) == [vocab["<|im_end|>"], vocab["Clinic"], vocab[":"]]
    assert set(dl.common_target_ids(examples, 2, [0, 1])) == set(top) | {0, 1}
    assert dl.common_target_ids(examples, 0) == []


# -- the tokenizer check -------------------------------------------------------------------------------
SWAPPED = [*WORDS[:12], WORDS[13], WORDS[12], *WORDS[14:]]  # 'cardiology' and 'urology' trade ids


def other_tokenizer(words: list[str], eos: str = "<|im_end|>"):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token=eos,
                                   additional_special_tokens=["<|im_start|>"])


def test_the_same_tokenizer_passes_and_the_size_is_cut_to_the_student():
    assert dl.check_same_tokenizer(tokenizer(), tokenizer()) == len(WORDS)
    assert dl.check_same_tokenizer(tokenizer(), tokenizer(), teacher_vocab=64, student_vocab=len(WORDS) + 6) == len(
        WORDS)


@pytest.mark.parametrize(("teacher", "kw", "message"), [
    (lambda: other_tokenizer(SWAPPED), {}, "token 'cardiology' is id 12 in the student, id 13 in the teacher"),
    (lambda: other_tokenizer(WORDS[:-1]), {}, "token 'this' is id 26 in the student, missing in the teacher"),
    (lambda: other_tokenizer([*WORDS, "pneumonia"]), {}, "token 'pneumonia' (id 27) is only in the teacher's"),
    (lambda: other_tokenizer(WORDS, eos="<pad>"), {}, "eos_token_id is 3 in the student, 1 in the teacher"),
    (tokenizer, {"teacher_vocab": 20}, "the teacher's output layer has 20 rows, fewer than the 27 tokens"),
])
def test_a_different_tokenizer_is_refused(teacher, kw, message):
    with pytest.raises(InputError) as info:
        dl.check_same_tokenizer(tokenizer(), teacher(), **kw)
    assert message in str(info.value)


# -- the real entry points -------------------------------------------------------------------------------
def hf_folder(model, folder: Path, tok=None) -> Path:
    model.save_pretrained(folder)
    (tok or tokenizer()).save_pretrained(folder)
    return folder


@pytest.fixture
def settings(bedside_env):
    from bedside.config import load_settings

    return load_settings()


def params(**kw) -> LoraParams:
    return LoraParams(**{"rank": 4, "lr": 1e-2, "max_steps": 30, "batch_size": 4, "dropout": 0.0, "threads": 1,
                         "device": "cpu", **kw})


def distill(tmp_path: Path, settings, out: str, **kw) -> dict:
    job = DistillJob(out=tmp_path / out, export_gguf=False, deid=False, **{"params": params(), **kw})
    return run_distill(job, settings, progress=False)


def test_token_mode_pulls_the_student_towards_the_teacher(tmp_path, settings):
    student = hf_folder(peaked_llama(0), tmp_path / "student")
    teacher = hf_folder(peaked_llama(1, hidden=48), tmp_path / "teacher")  # larger, other weights, same tokenizer
    data = dict(model=str(student), data=DATA / "train.jsonl", eval_data=DATA / "dev.jsonl", teacher=str(teacher))
    sft = distill(tmp_path, settings, "sft", **data, kl_weight=0.0)
    kd = distill(tmp_path, settings, "kd", **data)  # default kl_weight 0.5
    before, after = kd["eval"]["before"]["kl_to_teacher"], kd["eval"]["after"]["kl_to_teacher"]
    assert after < before / 3, (before, after)
    assert after < sft["eval"]["after"]["kl_to_teacher"] / 3  # the gold answers alone do not do it
    assert sft["eval"]["before"] == kd["eval"]["before"]
    meta = json.loads((tmp_path / "kd" / "bedside-adapt.json").read_text())
    assert meta["method"] == "lora-distill-token" and meta["steps"] == 30
    d = meta["distill"]
    assert (d["mode"], d["kl_weight"], d["temperature"], d["vocab_size"]) == ("token", 0.5, 1.0, len(WORDS))
    assert d["teacher"]["path"] == str(teacher) and d["teacher"]["format"] == "hf"
    import hashlib

    assert d["teacher"]["sha256"] == hashlib.sha256((teacher / "model.safetensors").read_bytes()).hexdigest()
    assert meta["eval"]["teacher"]["target_tokens"] == meta["eval"]["after"]["target_tokens"]
    assert (tmp_path / "kd" / "hf" / "model.safetensors").is_file()


def test_token_mode_refuses_a_teacher_with_another_tokenizer(tmp_path, settings):
    student = hf_folder(tiny_llama(0), tmp_path / "student")
    teacher = hf_folder(tiny_llama(1), tmp_path / "teacher", other_tokenizer(SWAPPED))
    with pytest.raises(InputError, match="the teacher's tokenizer differs from the student's"):
        distill(tmp_path, settings, "out", model=str(student), data=DATA / "train.jsonl", teacher=str(teacher))
    with pytest.raises(UnknownModelError):
        distill(tmp_path, settings, "out", model=str(student), data=DATA / "train.jsonl", teacher="no-such-model")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize(("kw", "message"), [
    (dict(mode="token"), "needs --teacher"),
    (dict(mode="token", teacher="x", kl_weight=1.5), "--kl-weight must be in [0, 1]"),
    (dict(mode="token", teacher="x", temperature=0.0), "--temperature must be > 0"),
    (dict(mode="grounded", teacher="x"), "uses no teacher"),
    (dict(mode="grounded", lam=-1.0), "--lam must be >= 0"),
    (dict(mode="sequence"), "mode must be one of token, grounded"),
])
def test_bad_options_are_refused_before_loading(tmp_path, settings, kw, message):
    with pytest.raises(InputError) as info:
        distill(tmp_path, settings, "out", model="no-such-model", data=DATA / "train.jsonl", **kw)
    assert message in str(info.value)


def copy_records(n: int, rng: random.Random) -> list[dict]:
    """The answer names the last of three words in the prompt: every answer word is in its context."""
    words = "cardiology urology dermatology chest pain burning rash".split()
    rows = []
    for _ in range(n):
        chosen = rng.sample(words, 3)
        rows.append({"prompt": "Route this : " + " ".join(chosen), "completion": "Clinic : " + chosen[-1]})
    return rows


def test_grounded_mode_lowers_the_unsupported_mass_on_held_out_records(tmp_path, settings):
    rng = random.Random(0)
    train = write_jsonl(tmp_path / "train.jsonl", copy_records(32, rng))
    dev = write_jsonl(tmp_path / "dev.jsonl", copy_records(16, rng))
    student = hf_folder(peaked_llama(0), tmp_path / "student")
    runs = {lam: distill(tmp_path, settings, f"lam{lam}", model=str(student), data=train, eval_data=dev,
                         mode="grounded", lam=lam, common_tokens=3) for lam in (0.0, 0.5, 2.0)}
    mass = {lam: meta["eval"]["after"]["unsupported_mass"] for lam, meta in runs.items()}
    # Measured (seed 13): 0.380 before; 0.129 / 0.101 / 0.067 after with lam 0 / 0.5 / 2.
    assert mass[2.0] < mass[0.5] < mass[0.0] < runs[0.0]["eval"]["before"]["unsupported_mass"], mass
    d = runs[0.5]["distill"]
    assert runs[0.5]["method"] == "lora-grounded" and (d["mode"], d["lam"], d["common_tokens"]) == ("grounded", 0.5, 3)
    # The 3 most frequent answer tokens (each once per record) plus the special tokens.
    assert set(d["common_text"]) == {"Clinic", ":", "<|im_end|>", "<unk>", "<pad>", "<|im_start|>"}
    assert d["train_unsupported_gold_share"] == 0.0


def test_the_cli_commands_take_the_lora_options(tmp_path, bedside_env):
    import typer
    from typer.testing import CliRunner

    from bedside.cli import distill_loss as cli

    app = typer.Typer()
    app.command("token")(cli.token)
    app.command("grounded")(cli.grounded)
    runner = CliRunner()
    helps = runner.invoke(app, ["token", "--help"]).output + runner.invoke(app, ["grounded", "--help"]).output
    for option in ("--teacher", "--kl-weight", "--temperature", "--lam", "--common-tokens", "--rank", "--no-gguf"):
        assert option in helps
    student = hf_folder(peaked_llama(0), tmp_path / "student")
    result = runner.invoke(app, ["grounded", "--model", str(student), "--data", str(DATA / "train.jsonl"),
                                 "--out", str(tmp_path / "out"), "--no-gguf", "--no-deid", "--max-steps", "2",
                                 "--rank", "2", "--batch-size", "4", "--threads", "1", "--device", "cpu",
                                 "--lam", "0.25", "--common-tokens", "5"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    meta = json.loads((tmp_path / "out" / "bedside-adapt.json").read_text())
    assert printed["method"] == meta["method"] == "lora-grounded" and printed["steps"] == 2
    assert meta["hyperparameters"]["rank"] == 2 and meta["hyperparameters"]["alpha"] == 4
    assert (meta["distill"]["lam"], meta["distill"]["common_tokens"]) == (0.25, 5)
    missing = runner.invoke(app, ["token", "--model", str(student), "--data", str(DATA / "train.jsonl"),
                                  "--out", str(tmp_path / "out2")])
    assert missing.exit_code == 2 and "--teacher" in missing.output
