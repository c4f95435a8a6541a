"""Every adaptation entry point on the bundled SmolLM2-135M for a few steps, then its model.gguf in the
llama.cpp engine: `distill token`, `distill grounded` and `pretrain` (causal LM) export through the same
merged-GGUF path as `adapt lora` (test_adapt_lora_e2e.py); this checks each end to end from the CLI.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from adapt_helpers import DATA, engine_env, smollm2_e2e
from conftest import run_cli

from bedside.config import load_settings
from bedside.runtime import GenerationParams, Runtime

_SMOL, pytestmark = smollm2_e2e()
SMALL = ["--model", "smollm2", "--max-steps", "3", "--lr", "3e-3", "--rank", "4", "--batch-size", "4",
         "--targets", "q_proj,v_proj", "--threads", "2", "--no-deid"]
NOTES = [
    "Chest radiograph shows clear lungs without focal consolidation. Heart size is normal. No effusion.",
    "Patient admitted with community acquired pneumonia, treated with ceftriaxone and azithromycin.",
    "Follow-up for type 2 diabetes mellitus; HbA1c improved on metformin. Continue current plan.",
    "Mild cardiomegaly with pulmonary vascular congestion, consistent with fluid overload.",
    "Discharge summary: uneventful recovery after laparoscopic cholecystectomy, tolerating diet.",
    "Right lower lobe opacity concerning for aspiration; recommend repeat imaging after treatment.",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    yield from engine_env(tmp_path_factory.mktemp("entry"), 512)


def _run(env: dict[str, str], *args: str) -> dict:
    result = run_cli(*args, env={k: v for k, v in env.items() if k != "root"}, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _commands(root: Path) -> dict[str, list[str]]:
    corpus = root / "corpus"
    corpus.mkdir(exist_ok=True)
    for i, note in enumerate(NOTES * 3):
        (corpus / f"note{i:02d}.txt").write_text(note + "\n", encoding="utf-8")
    records = ["--data", str(DATA / "train.jsonl"), "--max-len", "96"]
    return {
        "distill-token": ["distill", "token", *records, "--teacher", "smollm2", *SMALL],
        "distill-grounded": ["distill", "grounded", *records, *SMALL],
        "pretrain-clm": ["pretrain", str(corpus), "--objective", "clm", "--max-len", "32", *SMALL],
    }


@pytest.mark.parametrize(("name", "method"), [("distill-token", "lora-distill-token"),
                                              ("distill-grounded", "lora-grounded"),
                                              ("pretrain-clm", "continual-pretrain-clm")])
def test_entry_point_exports_a_gguf_the_engine_serves(env, name, method):
    root = Path(env["root"])
    out = root / name
    _run(env, *_commands(root)[name], "--out", str(out))
    meta = json.loads((out / "bedside-adapt.json").read_text())
    assert meta["method"] == method and meta["steps"] == 3
    assert meta["base_model"]["sha256"] == _SMOL["sha256"]
    gguf = out / "model.gguf"
    assert meta["outputs"]["gguf"]["sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert meta["outputs"]["gguf"]["tensors_adapted"] == 30 * 2
    command = " ".join(_commands(root)[name][:2]) if name.startswith("distill") else "pretrain"
    assert f"bedside {command} of smollm2" in (out / "catalog-entry.toml").read_text()  # says how it was made
    with Runtime(load_settings(models=[]), progress=False) as rt:
        loaded = rt.load(str(gguf))
        result = rt.generate("Chest X-ray findings:", model=str(gguf), params=GenerationParams(max_tokens=4),
                             caller="test")
    assert loaded.backend.name == "llamacpp"
    assert result.model_sha256 == meta["outputs"]["gguf"]["sha256"]
    assert result.generation is not None and result.generation.completion_tokens >= 1
