"""`--qlora` where it cannot run (no CUDA, no bitsandbytes): refused before any model loads, naming what is
missing; the memory estimate's 4-bit weights; the export's fp32 reload carrying the trained adapter."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from adapt_helpers import DATA, llama_folder, tiny_llama, tokenizer
from conftest import run_cli

from bedside.errors import InputError

for _mod in ("torch", "transformers", "peft"):
    pytest.importorskip(_mod, reason="training needs the 'train' extra")

import torch  # noqa: E402

from bedside.adapt import memory, run  # noqa: E402
from bedside.adapt.lora import LoraParams, train  # noqa: E402

CUDA = torch.cuda.is_available()
BNB = importlib.util.find_spec("bitsandbytes") is not None


def small(**kw) -> LoraParams:
    return LoraParams(**{"rank": 4, "lr": 1e-2, "max_steps": 3, "batch_size": 4, "max_len": 64, "threads": 1,
                         "device": "cpu", **kw})


@pytest.fixture
def base_dir(tmp_path) -> Path:
    return llama_folder(tmp_path / "tiny-base")


@pytest.mark.skipif(CUDA and BNB, reason="this machine can run QLoRA: nothing to refuse")
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_qlora_is_refused_before_any_model_loads_naming_what_is_missing(base_dir, tmp_path, bedside_env,
                                                                        monkeypatch, device):
    from bedside.config import load_settings

    def must_not_load(*args, **kw):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(run, "open_causal", must_not_load)  # the base (and a GGUF's conversion) loads here
    monkeypatch.setattr(run, "causal_model", must_not_load)
    out = tmp_path / "out"
    job = run.LoraJob(model=str(base_dir), data=DATA / "train.jsonl", out=out, params=small(device=device),
                      export_gguf=False, deid=False, qlora=True)
    with pytest.raises(InputError) as refused:
        run.run_lora(job, load_settings(), progress=False)
    message = str(refused.value)
    assert message.startswith("--qlora (4-bit NF4 base weights) needs ")
    if device == "cpu" or not CUDA:
        assert "a CUDA GPU (" + ("--device cpu was given" if device == "cpu" else "torch sees none") + ")" in message
    assert ("the bitsandbytes package (pip install 'bedside[qlora]')" in message) == (not BNB)
    assert not out.exists()


@pytest.mark.skipif(BNB, reason="bitsandbytes is installed")
def test_with_a_gpu_but_no_bitsandbytes_only_the_package_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(InputError, match=r"^--qlora \(4-bit NF4 base weights\) needs the bitsandbytes package "
                                         r"\(pip install 'bedside\[qlora\]'\); train without --qlora"):
        run.check_qlora("auto")


@pytest.mark.skipif(CUDA and BNB, reason="this machine can run QLoRA: nothing to refuse")
def test_tune_qlora_from_the_command_line_exits_2_with_the_reason(base_dir, tmp_path, bedside_env):
    result = run_cli("tune", "--model", str(base_dir), "--data", str(DATA / "train.jsonl"), "--out",
                     str(tmp_path / "out"), "--no-gguf", "--no-deid", "--device", "cpu", "--qlora",
                     env=bedside_env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("bedside: error: --qlora (4-bit NF4 base weights) needs a CUDA GPU")
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_the_estimate_counts_the_4bit_projections_at_about_half_a_byte(base_dir):
    shape = memory.shape_of(base_dir)
    p = small()
    fp32, nf4 = memory.estimate(shape, p), memory.estimate(shape, p, qlora=True)
    projections = shape.layers * sum(a * b for a, b in shape.projections().values())
    assert 0 < projections < shape.parameters  # embeddings and norms are not quantised
    assert fp32.parts["weights"] == 4 * shape.parameters
    expected = projections * (0.5 + 1 / 64 + 4 / (64 * 256)) + 4 * (shape.parameters - projections)
    assert nf4.parts["weights"] == round(expected) == memory.weight_bytes(shape, qlora=True)
    assert 4 * shape.parameters - nf4.parts["weights"] == pytest.approx(projections * 3.484, rel=1e-3)
    assert {k: v for k, v in nf4.parts.items() if k != "weights"} == \
        {k: v for k, v in fp32.parts.items() if k != "weights"}
    assert nf4.breakdown().startswith("weights (4-bit) ") and fp32.breakdown().startswith("weights ")

    # SmolLM2-135M's shape (30 layers of 576 -> 1536, 9 heads of 64, 3 kv heads, 49,152 tokens, tied): its
    # weights term goes from 538 MB to 168 MB; the 28M embedding weights stay fp32.
    smol = memory.Shape(parameters=134_515_008, layers=30, hidden=576, intermediate=1536, heads=9, kv_heads=3,
                        head_dim=64, vocab=49152)
    quantized = 30 * sum(a * b for a, b in smol.projections().values())
    assert quantized == 106_168_320
    assert memory.weight_bytes(smol, qlora=True) == round(quantized * memory.NF4_BYTES) + 4 * (134_515_008 - quantized)
    assert memory.weight_bytes(smol, qlora=True) / memory.weight_bytes(smol) == pytest.approx(0.3125, abs=1e-4)


def test_the_export_applies_the_trained_adapter_to_the_fp32_base(base_dir, bedside_env):
    """What --qlora exports: the adapter moved onto the fp32 base, here from an fp32-trained model (the
    4-bit one needs a GPU): same LoRA weights, same outputs."""
    from bedside.adapt.base import resolve_base
    from bedside.adapt.features import prepare
    from bedside.adapt.records import read_jsonl
    from bedside.config import load_settings

    examples = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    trained = train(tiny_llama(), examples, small(), pad_id=1).model
    moved = run.full_precision(resolve_base(str(base_dir), load_settings(), progress=False), trained, small())
    a = {k: v for k, v in trained.state_dict().items() if "lora_" in k}
    b = {k: v for k, v in moved.state_dict().items() if "lora_" in k}
    assert a.keys() == b.keys() and a and all(torch.equal(a[k], b[k]) for k in a)
    assert any(v.abs().sum() > 0 for k, v in b.items() if "lora_B" in k)  # trained, not peft's zero init
    ids = torch.tensor([examples[0].input_ids])
    with torch.no_grad():
        assert torch.allclose(trained(input_ids=ids).logits, moved(input_ids=ids).logits, atol=1e-5)
    assert next(moved.parameters()).device.type == "cpu" and not moved.training
