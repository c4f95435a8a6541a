"""LoRA training on a tiny random LLaMA: the loss, determinism, limits, and the GGUF layout check."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_helpers import DATA, tiny_llama, tokenizer

from bedside.adapt.features import prepare
from bedside.adapt.gguf_export import layout, lora_modules, permute_rows
from bedside.adapt.records import read_jsonl
from bedside.errors import InputError

torch = pytest.importorskip("torch", reason="training needs the 'train' extra")
pytest.importorskip("peft", reason="LoRA needs the 'train' extra")

from bedside.adapt.lora import (  # noqa: E402
    LoraParams,
    collate,
    completion_loss,
    evaluate_loss,
    evaluate_with_weights,
    train,
)


@pytest.fixture(scope="module")
def examples():
    return prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples


def small(**kw) -> LoraParams:
    return LoraParams(**{"rank": 4, "lr": 1e-2, "max_steps": 4, "batch_size": 4, "dropout": 0.1, "threads": 1,
                         "device": "cpu", **kw})


def test_completion_loss_equals_transformers_masked_loss(examples):
    model = tiny_llama()
    ids, mask, labels = collate(examples[:4], pad_id=1)  # padded: rows differ in length
    assert (mask == 0).any()
    with torch.no_grad():
        ours = completion_loss(model, ids, mask, labels)
        theirs = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        total, count = completion_loss(model, ids, mask, labels, reduction="sum")
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)
    assert count == sum(e.n_targets for e in examples[:4])
    assert float(total) / count == pytest.approx(float(ours), rel=1e-6)


def test_training_lowers_the_loss_and_is_deterministic(examples):
    first = train(tiny_llama(), examples, small(), pad_id=1)
    again = train(tiny_llama(), examples, small(), pad_id=1)
    other = train(tiny_llama(), examples, small(seed=14), pad_id=1)
    assert first.steps == 4 and first.stopped_by == "schedule" and len(first.losses) == 4
    assert first.losses == again.losses  # same seed: same order, init and dropout
    assert first.losses != other.losses
    before = evaluate_loss(tiny_llama(), examples, 1, 4)["loss"]
    after = evaluate_loss(first.model, examples, 1, 4)["loss"]
    assert after < before
    # Only the LoRA matrices train: a small fraction of the model.
    assert 0 < first.trainable_parameters < first.total_parameters / 5


def test_epochs_set_the_step_count_and_targets_choose_layers(examples):
    result = train(tiny_llama(), examples, small(max_steps=0, epochs=2, batch_size=4, targets="q_proj,v_proj"),
                   pad_id=1)
    assert result.steps == 2 * 3  # 10 examples in batches of 4 -> 3 steps an epoch
    assert sorted({n.rsplit(".", 1)[-1] for n in lora_modules(result.model)}) == ["q_proj", "v_proj"]
    with pytest.raises(InputError, match="LoRA targets"):
        train(tiny_llama(), examples, small(targets="no_such_proj"), pad_id=1)


def test_a_time_limit_shortens_the_schedule(examples):
    result = train(tiny_llama(), examples, small(max_steps=100_000, time_limit_min=0.02), pad_id=1)
    assert result.stopped_by == "time_limit"
    assert 1 <= result.steps < 100_000 and result.train_seconds < 10


@pytest.mark.parametrize("bad", [dict(rank=0), dict(lr=0.0), dict(epochs=0, max_steps=0), dict(device="tpu")])
def test_bad_parameters(bad):
    with pytest.raises(InputError):
        small(**bad).check()


def test_evaluating_other_weights_restores_the_model(examples):
    result = train(tiny_llama(), examples, small(), pad_id=1)
    merged_loss = evaluate_loss(result.model, examples, 1, 4)["loss"]
    modules = lora_modules(result.model)
    base = {n: m.base_layer.weight.detach().clone() for n, m in modules.items()}
    # The base weights alone score as the untrained model; afterwards the adapter is back on.
    plain = {n: w.numpy().copy() for n, w in base.items()}
    assert evaluate_with_weights(result.model, plain, examples, 1, 4)["loss"] == pytest.approx(
        evaluate_loss(tiny_llama(), examples, 1, 4)["loss"], abs=1e-4)
    assert evaluate_loss(result.model, examples, 1, 4)["loss"] == merged_loss
    assert all(torch.equal(modules[n].base_layer.weight, w) for n, w in base.items())


# -- the GGUF layout check -------------------------------------------------------------------------
def test_layout_finds_the_row_order_that_maps_exactly():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((24, 8)).astype(np.float32)
    kind, order = layout(w, w.copy(), (6, 2), "blk.0.attn_v.weight")
    assert kind == "identity" and np.array_equal(order, np.arange(24))
    kind, order = layout(w, permute_rows(w, 2), (6, 2), "blk.0.attn_k.weight")
    assert kind == "rope-permute/2" and np.array_equal(w[order], permute_rows(w, 2))
    assert np.array_equal(permute_rows(w, 2)[np.argsort(order)], w)  # how written weights go back
    with pytest.raises(InputError, match="no known layout"):
        layout(w, w[::-1].copy(), (6, 2), "blk.0.attn_q.weight")
    with pytest.raises(InputError, match="several layouts"):
        layout(np.ones((24, 8), np.float32), np.ones((24, 8), np.float32), (6, 2), "blk.0.attn_q.weight")
