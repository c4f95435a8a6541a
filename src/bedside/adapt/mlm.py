"""Masked-LM continual pre-training of an encoder (BERT and kin): masking, loss, evaluation.

- Masking as in BERT: 15 % of the non-special tokens of a block are targets; of those 80 % become
  [MASK], 10 % a random token, 10 % stay. Every block gets at least one target, so no batch has
  an empty loss. Training draws fresh masks every step from torch's global generator, seeded with
  the run's seed (same seed, same masks; a checkpoint saves its state, so a resumed run goes on
  alike); evaluation masks each held-out block once, with its own fixed seed, so
  the loss before and after training is measured on the very same masked tokens.
- Full fine-tuning (an encoder of ~22M parameters fits a CPU), with the training loop of
  ``lora.fit``: AdamW (no decay on biases and LayerNorm), warmup and linear decay, time limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bedside.adapt.features import IGNORE, Example
from bedside.adapt.lora import LoraParams, TrainResult, batched_sum, fit, mean_and_perplexity
from bedside.ner.train import seed_everything

if TYPE_CHECKING:
    from bedside.adapt.checkpoint import Checkpoints

EVAL_SEED = 1234  # the held-out masks: fixed, so runs with other training seeds compare too


@dataclass(frozen=True)
class Masking:
    mask_id: int
    vocab_size: int  # random replacements are drawn from [0, vocab_size)
    special_ids: tuple[int, ...]  # never targets: CLS, SEP, PAD ...
    prob: float = 0.15


def mask_tokens(ids: Any, attention: Any, m: Masking, generator: Any) -> tuple[Any, Any]:
    """(inputs, labels) for a batch of blocks: ``labels`` holds the original id at target positions."""
    import torch

    candidates = attention.bool() & ~torch.isin(ids, torch.tensor(m.special_ids, device=ids.device))
    draw = torch.rand(ids.shape, generator=generator, device=ids.device)
    chosen = candidates & (draw < m.prob)
    empty = ~chosen.any(dim=1) & candidates.any(dim=1)
    if empty.any():  # a short block that drew no target: take one of its tokens
        rows = empty.nonzero().squeeze(1)
        cols = torch.multinomial(candidates[rows].float(), 1, generator=generator).squeeze(1)
        chosen[rows, cols] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    how = torch.rand(ids.shape, generator=generator, device=ids.device)
    inputs = ids.clone()
    inputs[chosen & (how < 0.8)] = m.mask_id
    swap = chosen & (how >= 0.8) & (how < 0.9)
    inputs[swap] = torch.randint(m.vocab_size, ids.shape, generator=generator, device=ids.device)[swap]
    return inputs, labels


def masked_loss(model: Any, inputs: Any, attention: Any, labels: Any, *, reduction: str = "mean"):
    """Cross-entropy at the target positions (mean, or sum and count).

    The vocabulary projection is the costliest part of a small encoder's step (MiniLM: 384 x 30,522
    at every position); where the model's head is one module over the encoder's output (BERT's
    ``cls``, RoBERTa's ``lm_head``) it runs on the ~15 % target positions only, the same numbers
    as the full logits there. Other layouts (DistilBERT's separate head layers) take the full path."""
    import torch

    picked = labels != IGNORE
    head = _head(model)
    if head is None:
        logits = model(input_ids=inputs, attention_mask=attention).logits[picked]
    else:
        hidden = model.base_model(input_ids=inputs, attention_mask=attention)[0]
        logits = head(hidden[picked])
    loss = torch.nn.functional.cross_entropy(logits.float(), labels[picked], reduction="sum")
    if reduction == "sum":
        return loss, int(picked.sum())
    return loss / picked.sum().clamp(min=1)


def _head(model: Any) -> Any:
    """The masked-LM head when it is the model's one module besides the encoder, else None."""
    others = [m for name, m in model.named_children() if name != getattr(model, "base_model_prefix", None)]
    return others[0] if len(others) == 1 and model.base_model is not model else None


def eval_blocks(blocks: list[Example], m: Masking) -> list[Example]:
    """Each held-out block masked once, with :data:`EVAL_SEED`: inputs masked, labels the targets."""
    import torch

    gen = torch.Generator().manual_seed(EVAL_SEED)
    out = []
    for e in blocks:
        ids = torch.tensor([e.input_ids])
        inputs, labels = mask_tokens(ids, torch.ones_like(ids), m, gen)
        out.append(Example(inputs[0].tolist(), labels[0].tolist(), e.source))
    return out


def evaluate(model: Any, masked: list[Example], pad_id: int, batch_size: int) -> dict[str, Any]:
    """Token-weighted masked-LM loss and perplexity over pre-masked blocks (:func:`eval_blocks`)."""
    total, count = batched_sum(model, masked, pad_id, batch_size,
                               lambda ids, mask, labels: masked_loss(model, ids, mask, labels, reduction="sum"))
    return {**mean_and_perplexity(total, count), "masked_tokens": count}


def train(model: Any, blocks: list[Example], p: LoraParams, pad_id: int, masking: Masking, *,
          checkpoints: Checkpoints | None = None) -> TrainResult:
    """Every weight of ``model`` (on its device) trained on freshly masked ``blocks`` with ``lora.fit``.

    AdamW's weight decay (``p.weight_decay``) applies to matrices only, not to biases and LayerNorm
    weights (BERT's recipe: decaying a norm's scale towards zero only hurts).
    """
    seed_everything(p.seed)

    def loss_fn(m: Any, ids: Any, attention: Any, labels: Any) -> Any:
        # Packed blocks: labels are the ids themselves; the targets are drawn here, fresh each step,
        # from torch's global generator: a checkpoint saves its state, so a resumed run masks alike.
        inputs, targets = mask_tokens(ids, attention, masking, None)
        return masked_loss(m, inputs, attention, targets)

    decay = [w for w in model.parameters() if w.requires_grad and w.dim() >= 2]
    no_decay = [w for w in model.parameters() if w.requires_grad and w.dim() < 2]
    groups = [{"params": decay, "weight_decay": p.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return fit(model, blocks, p, pad_id, params=groups, loss_fn=loss_fn, desc="pretrain mlm", checkpoints=checkpoints)
