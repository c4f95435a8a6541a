"""Will a training run fit in memory? An estimate before the model loads, and a refusal with the numbers.

A run that does not fit is otherwise killed by the kernel (or CUDA) minutes in, with no message
that says why; the estimate costs milliseconds. It is rough by design and errs on the safe side:

- **weights**: 4 bytes a parameter (the base stays fp32), counted from the safetensors headers of
  the HF folder (for a GGUF base: the cached fp32 conversion), else from config.json's shape.
  With ``--qlora`` the decoder layers' linear weights are 4-bit NF4 with double quantisation:
  ``NF4_BYTES`` (0.5 byte a weight, one 8-bit scale per block of 64, one fp32 constant per 256
  of those) for each projection of the shape table, 4 bytes for the rest (embeddings, norms and
  the LM head stay unquantised, and peft's ``prepare_model_for_kbit_training`` casts them to fp32).
- **LoRA and AdamW**: 16 bytes a LoRA parameter (weight, gradient, two AdamW moments, all fp32);
  ``rank x (in + out)`` for each adapted projection of each layer.
- **activations** kept for the backward pass, for the widest batch (``batch_size`` records x the
  longest record, at most ``max_len`` tokens): per token and layer the tensors autograd keeps,
  ``2*hidden + 2*q + 2*kv + 3*intermediate`` values on the frozen path (norm inputs, rotated
  queries and keys, values, the MLP's gate, up and activation; q = heads x head_dim, kv = kv_heads
  x head_dim; SDPA keeps no tokens x tokens matrix) plus each adapted projection's input (LoRA's
  dropout copy), times 4 bytes, times 2: measured peak RSS on CPU (random LLaMAs of SmolLM2's shape,
  10-30 layers, batches of 2-8 x 256-512 tokens) was 1.5-2x those tensors, from backward
  temporaries and the allocator.
- **LM head** at target positions only (the loop never builds logits elsewhere): logits, their
  log-softmax and its gradient, ``3 x 4 bytes x targets x vocab``, for the batch of the records
  with the most target tokens. With Gemma's 262k vocabulary this is the largest term.
- **full fine-tuning** (``full=True``: the masked-LM continual pre-training of an encoder, every
  weight trained): 12 bytes a parameter for its gradient and two AdamW moments instead of the LoRA
  term, every linear layer's input kept, and the LM head at every position (the worst case: a
  head that is not one module, as DistilBERT's, computes logits for the whole block; BERT's and
  RoBERTa's run at the masked positions only, ``mlm.masked_loss``).
- **runtime**: 0.5 GiB for torch, transformers and the tokenizer (measured: 0.39 GB RSS after the
  imports alone).

Available memory: ``torch.cuda.mem_get_info`` on CUDA; on CPU psutil's ``available`` (else
``MemAvailable`` of /proc/meminfo), lowered to a cgroup v2 limit when the process runs under one.

The estimate is per process. With several processes (``torchrun`` / ``accelerate launch``,
``bedside.adapt.distributed``) each holds a whole copy of the model, its optimizer state and the
activations of its own batch of ``batch_size`` records: on CUDA each process has its own GPU, so the
one estimate is compared with that GPU's free memory; on CPU the processes started on one machine
share its memory, so that many estimates are compared with what is available. Rank 0 measures
and decides for all, before any of them loads the model (a rank measuring while another loads
would see the other's weights as used memory).
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside.errors import InputError

if TYPE_CHECKING:
    from bedside.adapt.features import Example
    from bedside.adapt.lora import LoraParams

log = logging.getLogger("bedside.adapt")

GIB = 1024**3
RUNTIME_BYTES = GIB // 2
_FLOAT = 4
_MEASURED_OVER_KEPT = 2  # peak RSS / tensors autograd keeps (see the module docstring)
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # a 4-bit weight with its double-quantised block constants


@dataclass(frozen=True)
class Shape:
    """What the estimate needs to know about a decoder."""

    parameters: int
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    context: int | None = None  # positions the model was built for (max_position_embeddings)

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of the linear layers LoRA adapts in one decoder layer (LLaMA names)."""
        h, i, q, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


@dataclass(frozen=True)
class Estimate:
    device: str
    parts: dict[str, int]  # bytes: weights, lora_adamw, activations, lm_head, runtime
    batch: tuple[int, int]  # (records, tokens) of the widest batch
    target_positions: int  # of the batch with the most target tokens
    lora_parameters: int
    shape: Shape
    full: bool = False  # every weight trained (no LoRA)
    qlora: bool = False  # the decoder layers' linear weights in 4-bit NF4

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def breakdown(self) -> str:
        p = self.parts
        trained = "gradients and AdamW" if self.full else "LoRA and AdamW"
        weights = "weights (4-bit)" if self.qlora else "weights"
        return (f"{weights} {_gib(p['weights'])} + {trained} {_gib(p['lora_adamw'])} + activations "
                f"{_gib(p['activations'])} (batch {self.batch[0]} x {self.batch[1]} tokens) + LM head "
                f"{_gib(p['lm_head'])} ({self.target_positions} target positions x {self.shape.vocab} vocab) + "
                f"runtime {_gib(p['runtime'])} GiB")


def _gib(n: int | float) -> str:
    return f"{n / GIB:.2f}"


def shape_of(hf_dir: Path) -> Shape:
    """The decoder's shape from config.json, its parameter count from the safetensors headers."""
    try:
        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{hf_dir}/config.json: cannot read the model's shape ({exc})") from exc
    config = config.get("text_config") or config  # multimodal checkpoints nest the decoder's

    def first(*keys: str, default: int | None = None) -> int:
        for key in keys:
            if isinstance(config.get(key), int):
                return config[key]
        if default is None:
            raise InputError(f"{hf_dir}/config.json has none of {', '.join(keys)}: cannot estimate memory")
        return default

    hidden = first("hidden_size", "n_embd", "d_model")
    heads = first("num_attention_heads", "n_head")
    shape = Shape(
        parameters=0, layers=first("num_hidden_layers", "n_layer", "num_layers"), hidden=hidden,
        intermediate=first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden), heads=heads,
        kv_heads=first("num_key_value_heads", default=heads), head_dim=first("head_dim", default=hidden // heads),
        vocab=first("vocab_size"), context=first("max_position_embeddings", "n_positions", default=0) or None,
    )
    counted = _safetensors_parameters(hf_dir)
    if counted is None:  # no safetensors: count from the shape (embeddings, projections, norms)
        tied = config.get("tie_word_embeddings", True)
        per_layer = sum(a * b for a, b in shape.projections().values()) + 2 * hidden
        counted = shape.vocab * hidden * (1 if tied else 2) + shape.layers * per_layer + hidden
    return Shape(**{**shape.__dict__, "parameters": counted})


def _safetensors_parameters(folder: Path) -> int | None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with file.open("rb") as f:  # 8-byte little-endian header length, then a JSON header
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                total += count
    return total


def _adapted(shape: Shape, params: LoraParams) -> list[tuple[int, int]]:
    """(in, out) of each projection LoRA adapts in a layer. Names the table does not know (other
    architectures) count as hidden x hidden."""
    table = shape.projections()
    targets = params.target_modules()
    names = list(table) if targets == "all-linear" else targets
    return [table.get(n, (shape.hidden, shape.hidden)) for n in names]


def lora_parameters(shape: Shape, params: LoraParams) -> int:
    """Trainable parameters: rank x (in + out) per adapted projection and layer."""
    return shape.layers * params.rank * sum(a + b for a, b in _adapted(shape, params))


def widest_batch(examples: list[Example], batch_size: int) -> tuple[int, int]:
    """(tokens of the longest record, target tokens of the ``batch_size`` records with the most):
    no batch is wider or has more target positions."""
    width = max(len(e.input_ids) for e in examples)
    targets = sum(sorted((e.n_targets for e in examples), reverse=True)[:batch_size])
    return width, targets


def weight_bytes(shape: Shape, *, qlora: bool = False) -> int:
    """The base's weights in memory: fp32, or with ``qlora`` the layers' projections in 4-bit NF4."""
    if not qlora:
        return _FLOAT * shape.parameters
    quantized = min(shape.parameters, shape.layers * sum(a * b for a, b in shape.projections().values()))
    return round(NF4_BYTES * quantized) + _FLOAT * (shape.parameters - quantized)


def estimate(shape: Shape, params: LoraParams, *, device: str = "cpu", width: int | None = None,
             targets: int | None = None, full: bool = False, qlora: bool = False) -> Estimate:
    """Peak memory of training; ``width``/``targets`` default to the worst case ``max_len`` tokens, all targets.
    ``full``: every weight trained (module notes), the LM head at every position of the batch.
    ``qlora``: the base's projections in 4-bit (:func:`weight_bytes`); nothing else changes."""
    batch = params.batch_size
    tokens = width or params.max_len
    targets = batch * tokens if targets is None or full else targets
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    frozen_path = 2 * shape.hidden + 2 * q + 2 * kv + 3 * shape.intermediate
    kept_inputs = shape.projections().values() if full else _adapted(shape, params)
    per_token_layer = frozen_path + sum(n_in for n_in, _ in kept_inputs)
    trainable = shape.parameters if full else lora_parameters(shape, params)
    parts = {
        "weights": weight_bytes(shape, qlora=qlora),
        "lora_adamw": (3 if full else 4) * _FLOAT * trainable,
        "activations": _MEASURED_OVER_KEPT * _FLOAT * batch * tokens * shape.layers * per_token_layer,
        "lm_head": 3 * _FLOAT * targets * shape.vocab,
        "runtime": RUNTIME_BYTES,
    }
    return Estimate(device, parts, (batch, tokens), targets, 0 if full else trainable, shape, full, qlora)


def available_bytes(device: str = "cpu") -> int | None:
    """Free memory where training will run; None when it cannot be measured."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        import psutil

        free: int | None = int(psutil.virtual_memory().available)
    except ImportError:
        free = _meminfo_available()
    limit = _cgroup_room()
    if limit is not None:
        free = limit if free is None else min(free, limit)
    return free


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """Room left under a cgroup v2 memory limit (containers): the host's free memory is not ours."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def check_memory(hf_dir: Path, params: LoraParams, examples: list[Example], device: str, *,
                 force: bool = False, full: bool = False, qlora: bool = False) -> dict[str, Any]:
    """Estimate the run's peak memory; refuse (InputError) when it exceeds what is available, unless ``force``.

    Returns the metadata entry: the estimate, its parts, the available figure and whether it was forced.
    With several processes rank 0 decides for all (module notes).
    """
    from bedside.adapt import distributed

    return distributed.decide(lambda: _check_memory(hf_dir, params, examples, device, force=force, full=full,
                                                    qlora=qlora))


def _check_memory(hf_dir: Path, params: LoraParams, examples: list[Example], device: str, *,
                  force: bool, full: bool, qlora: bool = False) -> dict[str, Any]:
    from bedside.adapt import distributed

    sharing = distributed.world().local_size if device == "cpu" else 1  # processes on this machine's memory
    width, targets = widest_batch(examples, params.batch_size)
    shape = shape_of(hf_dir)
    if shape.context and width > shape.context:  # positions past it were never trained: garbage, or an error
        over = sum(1 for e in examples if len(e.input_ids) > shape.context)
        raise InputError(f"{over} record(s) are longer than the model's context of {shape.context} tokens "
                         f"(longest: {width}); give --max-len {shape.context} or less to leave them out")
    est = estimate(shape, params, device=device, width=width, targets=targets, full=full, qlora=qlora)
    free = available_bytes(device)
    needed = est.total * sharing
    fits = free is None or needed <= free
    where = f"{_gib(free)} GiB available ({device})" if free is not None else f"unknown free memory ({device})"
    times = f"{sharing} processes x " if sharing > 1 else ""
    message = f"estimated peak memory {times}{_gib(est.total)} GiB vs {where}: {est.breakdown()}"
    if not fits and not force:
        fewer = f", start fewer than {sharing} processes" if sharing > 1 else ""
        raise InputError(f"{message}; lower --batch-size ({params.batch_size}) or --max-len ({params.max_len}){fewer}, "
                         "or pass --force to try anyway")
    (log.info if fits else log.warning)("%s%s", message, "" if fits else " (--force: trying anyway)")
    return {"estimate_bytes": est.total, "parts": est.parts, "available_bytes": free, "device": device,
            "batch": list(est.batch), "target_positions": est.target_positions,
            "lora_parameters": est.lora_parameters, "parameters": est.shape.parameters,
            "full_fine_tuning": full, "weights_4bit": qlora, "forced": not fits,
            "processes_sharing_memory": sharing}


def peak_bytes(device: str = "cpu") -> int | None:
    """The process's measured peak so far (RSS on CPU, allocated on CUDA), for the metadata."""
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):
        return None
