"""LoRA supervised fine-tuning with PEFT: a plain torch loop, loss on completion tokens only.

- The base weights stay frozen in fp32; LoRA matrices (rank r, scale alpha/r) are trained on the
  chosen linear layers ("all-linear": attention and MLP, the setting QLoRA found to matter).
- The LM head runs only at positions whose next token is a target: with Gemma's 262k vocabulary a
  full [batch, length, vocab] logits tensor would be ~1 GB per 4x256 batch, and the prompt
  positions carry no loss anyway.
- Deterministic for a seed: data order, LoRA init and dropout draw from seeded generators.
- Stops at ``max_steps`` / ``epochs``, and a time limit re-plans the schedule to fit (the LR still
  decays to zero), as the NER trainer does.
- Checkpoints (``bedside.adapt.checkpoint``) save the whole state as training goes; a resumed run
  continues with the same batches, dropout and learning rates, so it ends where an uninterrupted
  one would.
- Device auto: CUDA when available (bf16 autocast where supported), else CPU fp32.
- Several processes (``torchrun`` / ``accelerate launch``, ``bedside.adapt.distributed``): data
  parallel with torch's ``DistributedDataParallel``; each optimizer step takes one batch per
  process from the same seeded order, gradients averaged, so a step sees ``batch_size x processes``
  records. One process trains exactly as before.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bedside.adapt import distributed
from bedside.adapt.checkpoint import Checkpoints, as_tuples, rng_state, set_rng_state
from bedside.adapt.features import IGNORE, Example
from bedside.errors import InputError
from bedside.ner.train import bucket_batches, replan, seed_everything

log = logging.getLogger("bedside.adapt")


@dataclass
class LoraParams:
    rank: int = 16
    alpha: float = 0.0  # 0: 2 x rank
    dropout: float = 0.05
    targets: str = "all-linear"  # or a comma list of module names: q_proj,v_proj
    lr: float = 2e-4
    epochs: float = 3.0
    max_steps: int = 0  # > 0 replaces epochs
    batch_size: int = 8
    max_len: int = 512
    warmup: float = 0.05
    weight_decay: float = 0.0
    seed: int = 13
    time_limit_min: float = 0.0
    threads: int = 0
    device: str = "auto"

    def check(self) -> None:
        if self.rank < 1 or self.batch_size < 1 or self.max_len < 8:
            raise InputError("rank and batch size must be >= 1, max_len >= 8")
        if self.lr <= 0 or self.epochs < 0 or self.max_steps < 0 or not 0 <= self.dropout < 1:
            raise InputError("lr must be > 0, epochs and max_steps >= 0, dropout in [0, 1)")
        if self.epochs == 0 and self.max_steps == 0:
            raise InputError("nothing to train: give --epochs > 0 or --max-steps > 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"device must be auto, cpu or cuda, not {self.device!r}")

    @property
    def scale_alpha(self) -> float:
        return self.alpha or 2.0 * self.rank

    def target_modules(self) -> str | list[str]:
        if self.targets == "all-linear":
            return "all-linear"
        names = [t.strip() for t in self.targets.split(",") if t.strip()]
        if not names:
            raise InputError("--targets: give all-linear or module names such as q_proj,v_proj")
        return names


@dataclass
class TrainResult:
    model: Any  # the PEFT model, trained, in eval mode
    steps: int
    steps_planned: int
    epochs_done: float
    stopped_by: str
    train_seconds: float
    losses: list[float] = field(default_factory=list)  # one per step
    device: str = "cpu"
    trainable_parameters: int = 0
    total_parameters: int = 0
    resumed_from: int = 0  # the checkpoint's step when the run resumed, else 0
    world_size: int = 1  # processes that trained together (data parallel)
    effective_batch_size: int = 0  # records a step: batch_size x world_size


def pick_device(requested: str):
    """This process's device. Under a launcher with several processes, each takes ``cuda:LOCAL_RANK``
    (or the CPU) and joins the processes' group here (``distributed.setup``, once)."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    w = distributed.world()
    if not use_cuda:
        device = torch.device("cpu")
    elif w.size == 1:
        device = torch.device("cuda")
    else:
        if w.local_rank >= torch.cuda.device_count():
            raise InputError(f"process {w.rank}: LOCAL_RANK {w.local_rank} but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s); start at most that many processes a machine")
        device = torch.device("cuda", w.local_rank)
    distributed.setup(device)
    return device


def target_logits(model: Any, input_ids, attention_mask, labels):
    """(fp32 logits where the next token is a target [n, vocab], those targets [n], their row [n]).

    Runs the decoder, then the LM head only at the n picked positions (with Gemma's 262k vocabulary
    full logits would be ~1 GB a batch), with Gemma's soft-capping applied.
    """
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = inner.get_decoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]
    picked = targets != IGNORE
    logits = inner.get_output_embeddings()(hidden[:, :-1][picked]).float()
    cap = getattr(inner.config, "final_logit_softcapping", None)
    if cap:  # Gemma 2/3 squash the logits; the loss must see what generation sees
        logits = torch.tanh(logits / cap) * cap
    return logits, targets[picked], picked.nonzero()[:, 0]


def completion_loss(model: Any, input_ids, attention_mask, labels, *, reduction: str = "mean"):
    """Cross-entropy of the target tokens given everything before them (mean, or sum and count)."""
    import torch

    logits, targets, _ = target_logits(model, input_ids, attention_mask, labels)
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    if reduction == "sum":
        return loss, int(targets.numel())
    return loss / max(int(targets.numel()), 1)


def collate(batch: list[Example], pad_id: int):
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels)
    return ids, mask, labels


def _autocast(device):
    import contextlib

    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batched_sum(model: Any, examples: list[Example], pad_id: int, batch_size: int,
                fn: Callable[[Any, Any, Any], tuple[Any, int]]) -> tuple[float, int]:
    """Sum and count of ``fn(ids, mask, labels)`` over ``examples`` in length-sorted batches, dropout off,
    no gradients: the loop behind every held-out number (completion loss, masked-LM loss, KL...)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda k: len(examples[k].input_ids))
    try:
        with torch.inference_mode(), _autocast(device):
            for i in range(0, len(order), batch_size):
                ids, mask, labels = (t.to(device) for t in collate([examples[k] for k in order[i:i + batch_size]],
                                                                   pad_id))
                s, n = fn(ids, mask, labels)
                total += float(s)
                count += n
    finally:
        model.train(was_training)
    return total, count


def mean_and_perplexity(total: float, count: int) -> dict[str, float]:
    mean = total / max(count, 1)
    return {"loss": round(mean, 5), "perplexity": round(math.exp(min(mean, 50.0)), 4)}


def evaluate_loss(model: Any, examples: list[Example], pad_id: int, batch_size: int) -> dict[str, float]:
    """Token-weighted mean completion loss (and perplexity) over ``examples``, dropout off."""
    total, count = batched_sum(model, examples, pad_id, batch_size,
                               lambda ids, mask, labels: completion_loss(model, ids, mask, labels, reduction="sum"))
    return {**mean_and_perplexity(total, count), "target_tokens": count}


def evaluate_with_weights(peft_model: Any, weights: dict[str, Any], examples: list[Example], pad_id: int,
                          batch_size: int) -> dict[str, float]:
    """:func:`evaluate_loss` with the adapter off and these weights (HF module name -> array) in its
    layers' place, e.g. the merged weights as an export rounded them; the model is restored after."""
    import torch

    from bedside.adapt.gguf_export import lora_modules

    modules = lora_modules(peft_model)
    saved: dict[str, Any] = {}
    with peft_model.disable_adapter():
        try:
            for name, w in weights.items():
                layer = modules[name].base_layer
                saved[name] = layer.weight.data
                layer.weight.data = torch.from_numpy(w).to(device=layer.weight.device, dtype=layer.weight.dtype)
            return evaluate_loss(peft_model, examples, pad_id, batch_size)
        finally:
            for name, w in saved.items():
                modules[name].base_layer.weight.data = w


def with_lora(model: Any, p: LoraParams) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=p.rank, lora_alpha=p.scale_alpha, lora_dropout=p.dropout,
                        target_modules=p.target_modules(), bias="none", task_type="CAUSAL_LM")
    try:
        with warnings.catch_warnings():
            # peft calls a transformers method that transformers 5 deprecated; not ours to fix.
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*gradient_checkpointing.*")
            return get_peft_model(model, config)
    except ValueError as exc:  # target modules not found in this architecture
        raise InputError(f"LoRA targets {p.targets!r}: {exc}") from exc


# (peft model, input_ids, attention_mask, labels) -> scalar loss. Distillation swaps in its own
# objective here (``bedside.adapt.distill_loss``); everything else about training stays the same.
LossFn = Callable[[Any, Any, Any, Any], Any]
# Called after each step with (step, loss), after any checkpoint of that step: progress hooks, tests.
StepHook = Callable[[int, float], None]


def train(model: Any, examples: list[Example], p: LoraParams, pad_id: int, *,
          loss_fn: LossFn | None = None, checkpoints: Checkpoints | None = None,
          on_step: StepHook | None = None) -> TrainResult:
    """Wrap ``model`` with LoRA and train it; ``model`` must already sit on its device.

    ``loss_fn`` replaces the completion cross-entropy (default :func:`completion_loss`);
    ``checkpoints`` saves the run as it goes and resumes it from its last checkpoint (:meth:`Checkpoints.open`).
    """
    seed_everything(p.seed)
    peft_model = with_lora(model, p)
    trainable = [w for w in peft_model.parameters() if w.requires_grad]
    return fit(peft_model, examples, p, pad_id, params=trainable, loss_fn=loss_fn or completion_loss,
               desc="adapt lora", checkpoints=checkpoints, on_step=on_step)


def fit(model: Any, examples: list[Example], p: LoraParams, pad_id: int, *, params: list[Any], loss_fn: LossFn,
        desc: str, checkpoints: Checkpoints | None = None, on_step: StepHook | None = None) -> TrainResult:
    """The training loop: AdamW on ``params`` (tensors, or groups with their own weight decay), warmup
    and linear decay, ``p``'s length and time limit. LoRA (:func:`train`) and the full fine-tuning of
    continual pre-training (``bedside.adapt.mlm``) differ only in what they pass here.

    With ``checkpoints``, the state is saved as training goes and at its end, and a run whose
    checkpoints were opened for resuming continues from the last one exactly as it would have gone on.

    Under a launcher with several processes (``distributed``) each step takes one batch per process
    (:func:`distributed.step_batches`) and ``DistributedDataParallel`` averages the gradients; rank 0
    decides the time-limit re-plan and the checkpoints and writes them, every rank resumes from them."""
    import torch
    from tqdm import tqdm

    trainable = [w for g in params for w in (g["params"] if isinstance(g, dict) else [g])]
    device = next(model.parameters()).device
    world = distributed.setup(device)
    steps_per_epoch = math.ceil(math.ceil(len(examples) / p.batch_size) / world.size)
    planned = p.max_steps if p.max_steps > 0 else max(1, round(p.epochs * steps_per_epoch))
    total = planned
    optim = torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay)
    warm = max(1, int(p.warmup * total))
    # Reads ``total`` when called, so a time limit that shortens the run also shortens the decay.
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    rng = random.Random(p.seed)
    lengths = [len(e.input_ids) for e in examples]
    losses: list[float] = []
    step, stopped_by, elapsed, skip = 0, "schedule", 0.0, 0
    state = checkpoints.load(device) if checkpoints else None
    if state:
        total, step, losses, stopped_by = state["total"], state["step"], list(state["losses"]), state["stopped_by"]
        elapsed, skip = state["elapsed"], state["batch_index"]
        with torch.no_grad():
            for w, saved in zip(trainable, state["weights"], strict=True):
                w.copy_(saved)
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.setstate(as_tuples(state["order_rng"]))
        # Each rank drew its own dropout (and masks) from its own generators: each gets its own back.
        set_rng_state(state["rank_rng"][world.rank] if "rank_rng" in state else state["rng"])
        log.info("resumed at step %d of %d", step, total)
    resumed_from = step
    step_loss = distributed.data_parallel(model, loss_fn, device) if world.size > 1 else None
    # Every rank must take the same decisions, or one waits forever at the next collective.
    agree = world.size > 1 and (p.time_limit_min > 0 or checkpoints is not None)
    model.train()
    start = time.time() - elapsed  # a resumed run's time limit counts the time already trained
    deadline = start + p.time_limit_min * 60 if p.time_limit_min > 0 else None
    if checkpoints:
        checkpoints.start(step)
    with tqdm(total=total, initial=step, desc=desc, unit="step", file=sys.stderr,
              mininterval=0.1 if sys.stderr.isatty() else 30, disable=None if world.main else True) as bar:
        while step < total:
            order = rng.getstate()  # before this pass's batches are drawn: a resumed run draws them again
            batches = bucket_batches(lengths, p.batch_size, rng)
            mine = distributed.step_batches(len(batches), world.size, world.rank)  # all of them, in order, for one
            for index in range(skip, len(mine)):
                batch = batches[mine[index]]
                ids, mask, labels = (t.to(device) for t in collate([examples[k] for k in batch], pad_id))
                with _autocast(device):
                    loss = step_loss(ids, mask, labels) if step_loss else loss_fn(model, ids, mask, labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                step += 1
                losses.append(round(distributed.mean(loss.item()), 5))
                fitted = replan(total, step, start, deadline)
                save = checkpoints is not None and (step >= fitted or checkpoints.due(step))
                if agree:  # rank 0's clock decides both
                    fitted, save = distributed.broadcast((fitted, save))
                if fitted < total:
                    total = bar.total = fitted
                    stopped_by = "time_limit"
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
                if save:
                    rngs = distributed.gather(rng_state())
                    if world.main:
                        assert checkpoints is not None
                        checkpoints.save(step, {
                            "step": step, "total": total, "losses": losses, "stopped_by": stopped_by,
                            "elapsed": time.time() - start, "order_rng": order, "batch_index": index + 1,
                            "weights": [w.detach().cpu() for w in trainable], "optimizer": optim.state_dict(),
                            "scheduler": sched.state_dict(), "rng": rngs[0],
                            **({"rank_rng": rngs} if world.size > 1 else {}),
                        })
                if on_step:
                    on_step(step, losses[-1])
                if step >= total:
                    break
            skip = 0
    model.eval()
    seconds = time.time() - start
    log.info("trained %d steps (%.2f epochs) in %.0f s; stopped by %s%s", step, step / steps_per_epoch,
             seconds, stopped_by, f" (resumed at step {resumed_from})" if resumed_from else "")
    return TrainResult(
        model=model, steps=step, steps_planned=planned, epochs_done=round(step / steps_per_epoch, 3),
        stopped_by=stopped_by, train_seconds=round(seconds, 1), losses=losses, device=device.type,
        trainable_parameters=sum(w.numel() for w in trainable),
        total_parameters=sum(w.numel() for w in model.parameters()), resumed_from=resumed_from,
        world_size=world.size, effective_batch_size=p.batch_size * world.size,
    )


def set_threads(p: LoraParams, settings_threads: int) -> None:
    # Busy-waiting OpenMP workers stall when another process holds a core (measured 3x slower steps
    # on the shared 2-core box); only effective before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    # Processes started together on one machine share its cores.
    cores = max(1, (os.cpu_count() or 1) // distributed.world().local_size)
    torch.set_num_threads(p.threads or settings_threads or cores)


def params_dict(p: LoraParams) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d["alpha"] = p.scale_alpha
    return d
