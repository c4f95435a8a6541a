"""End to end on the bundled SmolLM2-135M: `bedside adapt lora` for a few steps, then the exported
model in the real engines (llama.cpp for model.gguf, transformers for hf/).

The fixture teaches a reply format ("Clinic: <name>") that the base model never uses, so the
engines' answers show whether the training survived the export.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from adapt_helpers import DATA, engine_env, smollm2_e2e
from conftest import run_cli

from bedside.config import load_settings
from bedside.runtime import GenerationParams, Runtime

_SMOL, pytestmark = smollm2_e2e()
# Attention-only LoRA, short records, 8 steps: ~20 s of training on 2 busy cores.
TRAIN_ARGS = ["--model", "smollm2", "--max-steps", "8", "--lr", "3e-3", "--rank", "8", "--batch-size", "4",
              "--targets", "q_proj,k_proj,v_proj,o_proj", "--max-len", "96", "--threads", "2"]
HELD_OUT = "Which clinic? I get chest pain when I run and it goes away when I rest."


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    yield from engine_env(tmp_path_factory.mktemp("adapt"), 1024)


@pytest.fixture(scope="module")
def adapted(env) -> tuple[Path, dict]:
    # A subprocess, as a user runs it: torch is imported fresh there, so OMP_WAIT_POLICY=PASSIVE
    # takes effect (in this process another test may have imported torch; busy-waiting OpenMP
    # workers were measured 3-4x slower on the shared 2-core box).
    out = Path(env["root"]) / "clinic-router"
    result = run_cli("adapt", "lora", "--data", str(DATA / "train.jsonl"), "--eval", str(DATA / "dev.jsonl"),
                     "--out", str(out), *TRAIN_ARGS, env={k: v for k, v in env.items() if k != "root"},
                     timeout=600)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["gguf"] == str(out / "model.gguf") and printed["try"].startswith("bedside generate --model")
    return out, json.loads((out / "bedside-adapt.json").read_text())


def settings_for(env: dict[str, str], models: list[dict] | None = None):
    """Settings from the module's BEDSIDE_* environment (``env`` is its fixture), plus catalog entries."""
    return load_settings(models=models or [])


def test_training_lowered_the_loss_and_the_metadata_says_how(adapted):
    out, meta = adapted
    assert meta["steps"] == 8 and meta["stopped_by"] == "schedule" and len(meta["losses"]) == 8
    assert meta["loss_last"] < meta["loss_first"] / 2
    ev = meta["eval"]
    assert ev["after"]["loss"] < ev["before"]["loss"] / 2  # held-out records, same answer format
    # The file's rounded weights score like the fp32 merge: Q8_0 keeps the adaptation.
    assert ev["gguf_weights"]["loss"] == pytest.approx(ev["after"]["loss"], abs=0.05)
    assert meta["base_model"]["sha256"] == _SMOL["sha256"]
    assert meta["data"]["train"]["sha256"] == hashlib.sha256((DATA / "train.jsonl").read_bytes()).hexdigest()
    assert meta["data"]["train"]["examples"] == 10 and meta["data"]["train"]["template"] == "chat"
    assert meta["hyperparameters"]["rank"] == 8 and meta["hyperparameters"]["alpha"] == 16
    gguf = meta["outputs"]["gguf"]
    assert gguf["tensors_adapted"] == 30 * 4 and gguf["adapted_types"] == ["Q8_0"]
    assert gguf["layouts"] == {"identity": 60, "rope-permute/3": 30, "rope-permute/9": 30}
    assert gguf["sha256"] == hashlib.sha256((out / "model.gguf").read_bytes()).hexdigest()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not list(out.parent.glob(".clinic-router.*"))  # no temporary folder left behind


def test_the_llamacpp_engine_serves_the_exported_gguf(adapted, env):
    out, _ = adapted
    params = GenerationParams(max_tokens=8)
    with Runtime(settings_for(env), progress=False) as rt:
        tuned = rt.generate(HELD_OUT, model=str(out / "model.gguf"), params=params, caller="test")
        base = rt.generate(HELD_OUT, model="smollm2", params=params, caller="test")
        assert rt.load(str(out / "model.gguf")).backend.name == "llamacpp"
    assert tuned.text.startswith("Clinic:"), tuned.text
    assert not base.text.startswith("Clinic:"), base.text


def test_the_printed_catalog_entries_work_in_both_engines(adapted, env):
    out, meta = adapted
    entries = tomllib.loads((out / "catalog-entry.toml").read_text())["models"]
    assert [e["name"] for e in entries] == [meta["name"], meta["name"] + "-hf"]
    with Runtime(settings_for(env, entries), progress=False) as rt:
        for name in (meta["name"], meta["name"] + "-hf"):
            result = rt.generate(HELD_OUT, model=name, params=GenerationParams(max_tokens=8), caller="test")
            assert result.text.startswith("Clinic:"), (name, result.text)
            # Verified against the sha256 the entry pins (the GGUF's, or the HF folder's weights).
            assert result.model_sha256 == next(e["sha256"] for e in entries if e["name"] == name)
        assert rt.load(meta["name"] + "-hf").backend.name == "transformers"


def test_a_failed_export_leaves_no_result(adapted, env, monkeypatch):
    """A crash while exporting must leave neither a new folder nor a damaged old one at --out."""
    from bedside.adapt import LoraJob, LoraParams, run

    out = Path(env["root"]) / "failing"
    out.mkdir()
    (out / "model.gguf").write_bytes(b"earlier result")

    def disk_full(base_gguf, model, path, **kw):
        path.write_bytes(b"GGUF half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run, "export_gguf", disk_full)
    job = LoraJob(model="smollm2", data=DATA / "train.jsonl", out=out, overwrite=True,
                  params=LoraParams(max_steps=1, batch_size=2, max_len=96, rank=2, targets="q_proj", threads=2))
    with pytest.raises(OSError, match="No space left"):
        run.run_lora(job, settings_for(env), progress=False)
    assert [p.name for p in out.iterdir()] == ["model.gguf"]
    assert (out / "model.gguf").read_bytes() == b"earlier result"
    assert not list(out.parent.glob(".failing.*"))


def test_an_exported_hf_folder_is_a_base_for_more_training(adapted, env):
    from bedside.adapt import LoraJob, run_lora
    from bedside.adapt.base import resolve_base
    from bedside.errors import InputError

    out, meta = adapted
    settings = settings_for(env)
    base = resolve_base(str(out / "hf"), settings, progress=False)
    assert base.gguf is None and base.hf_dir == out / "hf"
    assert base.sha256 == meta["outputs"]["hf"]["sha256"]  # the weights file, as its entry pins it
    job = LoraJob(model=str(out / "hf"), data=DATA / "train.jsonl", out=Path(env["root"]) / "again")
    with pytest.raises(InputError, match="GGUF export needs a GGUF base"):
        run_lora(job, settings, progress=False)
    assert not (Path(env["root"]) / "again").exists()
