"""Data-parallel training under a launcher: ``torchrun`` or ``accelerate launch``, one process per device.

The launcher starts N copies of the command and tells each who it is through the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``; both
launchers set them, ``accelerate launch`` by running torch's own launcher). Without them, or with
``WORLD_SIZE=1``, this is one process and nothing here communicates: no process group is created
and every helper returns its input, so a single-process run computes exactly what it always did.

With N > 1, :func:`setup` joins torch.distributed's process group once (NCCL when this process
trains on CUDA, else Gloo), and training (``lora.fit``) wraps the model in torch's
``DistributedDataParallel``, which all-reduces the gradients. The helpers below are thin uses of
torch.distributed's own collectives (no home-made communication) for what the ranks must agree on:
who writes (rank 0), a decision taken on rank 0 (a time-limit re-plan, a checkpoint, a refusal),
the mean loss of a step.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bedside.errors import InputError

log = logging.getLogger("bedside.adapt")

T = TypeVar("T")
# Rank 0 alone evaluates and exports while the others wait at a barrier; torch's default timeout
# (10 min for NCCL, 30 for Gloo) would cut a long GGUF export or eval pass short.
TIMEOUT = datetime.timedelta(hours=2)
_collective_device: Any = None  # where collective tensors live: cpu for Gloo, this rank's GPU for NCCL


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1  # processes on this machine (they share its memory and cores)

    @property
    def main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """Who this process is, from the launcher's environment (one process when it set nothing)."""
    def number(key: str, default: int) -> int:
        value = os.environ.get(key, "").strip()
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise InputError(f"${key}={value!r} is not a number (set by torchrun / accelerate launch)") from None

    size = number("WORLD_SIZE", 1)
    rank = number("RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise InputError(f"$RANK={rank} / $WORLD_SIZE={size}: not a valid rank of the launcher's processes")
    if size == 1:
        return World()
    return World(size, rank, number("LOCAL_RANK", 0), number("LOCAL_WORLD_SIZE", 1))


def is_main() -> bool:
    return world().main


def setup(device: Any) -> World:
    """Join the launcher's process group (once; a no-op for one process) for training on ``device``.

    NCCL when this process trains on CUDA (its GPU is ``cuda:LOCAL_RANK``), else Gloo (CPU)."""
    global _collective_device
    w = world()
    if w.size == 1:
        return w
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return w
    cuda = getattr(device, "type", device) == "cuda"
    if cuda:
        torch.cuda.set_device(w.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    _collective_device = torch.device("cuda", w.local_rank) if cuda else torch.device("cpu")
    log.info("process %d of %d (%s, %s)", w.rank, w.size, dist.get_backend(), _collective_device)
    return w


def _group_ready() -> bool:
    """True when this is one of several processes (the group must then exist)."""
    if world().size == 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError("several processes but no process group: call distributed.setup(device) first")
    return True


def barrier() -> None:
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


def broadcast(value: T) -> T:
    """Rank 0's ``value`` (a small picklable python value) on every rank."""
    if not _group_ready():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device)
    return box[0]


def gather(value: T) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` for one process)."""
    if not _group_ready():
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * world().size
    dist.all_gather_object(out, value)
    return out


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks (``value`` itself for one process)."""
    if not _group_ready():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=_collective_device)
    dist.all_reduce(t)
    return float(t.item()) / world().size


def decide(fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 only, its result (or its InputError) on every rank.

    For what must be decided once: reading and possibly discarding checkpoints, measuring free
    memory before any rank loads a model. The other ranks wait here until rank 0 has decided."""
    if not _group_ready():
        return fn()
    outcome: tuple[str, Any] = ("ok", None)
    if world().main:
        try:
            outcome = ("ok", fn())
        except InputError as exc:
            broadcast(("error", str(exc)))
            raise
    outcome = broadcast(outcome)
    if outcome[0] == "error":
        raise InputError(outcome[1])
    return outcome[1]


def step_batches(n_batches: int, size: int, rank: int) -> list[int]:
    """The batch ``rank`` trains on at each step of a pass over ``n_batches`` seeded batches.

    Every rank draws the same batch order; a step takes ``size`` consecutive batches, rank r the
    r-th. A last step with fewer batches than ranks wraps around to the pass's first batches (as
    torch's ``DistributedSampler`` pads), so every rank has a batch at every step."""
    if n_batches < 1:
        return []
    return [(step * size + rank) % n_batches for step in range(math.ceil(n_batches / size))]


def data_parallel(model: Any, loss_fn: Callable[..., Any], device: Any) -> Any:
    """``(ids, mask, labels) -> loss``: ``loss_fn(model, ...)`` run through ``DistributedDataParallel``,
    so that the backward pass all-reduces (averages) the gradients of ``model``'s trainable weights.

    The loss functions call the model's parts (decoder, LM head), not its ``forward``, and DDP
    synchronises only what runs through its own forward: so the model and its loss become one module."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    class ModelLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # registered: DDP finds the trainable weights here

        def forward(self, ids: Any, mask: Any, labels: Any) -> Any:
            return loss_fn(self.model, ids, mask, labels)

    cuda = getattr(device, "type", device) == "cuda"
    return DistributedDataParallel(ModelLoss(), device_ids=[device.index or 0] if cuda else None)


def quiet_others(logger: str = "bedside.adapt") -> None:
    """Only rank 0 logs progress: N copies of every line tell nothing more. Warnings still show."""
    if not is_main():
        logging.getLogger(logger).setLevel(logging.WARNING)
