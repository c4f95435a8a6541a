"""Checkpoints of a training run, so that an interrupted run resumes where it stopped.

The result folder (``--out``) is published only when complete, so checkpoints live next to it in
``<out>.partial/``, one folder per checkpoint::

    step-000400/state.pt         LoRA weights, AdamW and LR-schedule state, step, losses so far, the
                                 RNG states (python, numpy, torch, CUDA) and the data-order position
    step-000400/checkpoint.json  the run's fingerprint and the step, readable without torch

A checkpoint is written under a temporary name and renamed when complete; only then are older ones
removed, so a crash at any moment leaves one complete checkpoint. Written every ``every`` steps
(default: every 200 steps or 5 minutes of training, whichever comes first) and when training ends,
so a failed export does not cost the training. The folder is removed once the result is published.

Resuming restores all of it: the same batches, dropout masks and learning rates follow, so the
losses and weights equal those of an uninterrupted run. Only a checkpoint of the same run is
resumed: same base sha256, data sha256 and everything else that shapes training (the fingerprint);
any other is refused, naming what differs, rather than silently continued or overwritten. The
number of processes that trained together (``distributed``) is part of it: it changes the batches
of every step.

With several processes, rank 0 alone reads (and with ``--no-resume`` discards) the checkpoints and
tells the others which one to resume; it alone writes them, with every rank's RNG states, and every
rank loads the same file to resume.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from bedside.adapt import distributed
from bedside.errors import InputError

log = logging.getLogger("bedside.adapt")

FORMAT = "bedside-adapt-checkpoint/1"
STATE_FILE = "state.pt"
META_FILE = "checkpoint.json"
EVERY_STEPS = 200
EVERY_SECONDS = 300.0
# Job fields that do not change what training computes: where results go, what is exported or
# evaluated, how the run is driven. Everything else must match for a checkpoint to be resumed.
_NOT_TRAINING = {"model", "data", "out", "eval_data", "gguf_type", "export_gguf", "export_hf", "name", "overwrite",
                 "strict", "force", "resume", "checkpoint_every",
                 # PretrainJob keeps these beside its hyperparameters (no params dataclass); the corpus
                 # counts by its sha256, not by where its files lie.
                 "corpus", "eval_corpus", "threads", "device", "time_limit_min"}
_NOT_TRAINING_PARAMS = {"threads", "device", "time_limit_min"}


def partial_dir(out: Path) -> Path:
    out = out.expanduser().resolve()
    return out.with_name(f"{out.name}.partial")


def fingerprint(job: Any, *, base_sha256: str, data_sha256: str, world_size: int | None = None,
                **extra: Any) -> dict[str, Any]:
    """What makes two runs the same run: the inputs' hashes, every job field that shapes training and
    the number of processes training together (``world_size``; default: this launch's).

    ``job`` is a dataclass (``LoraJob`` or a subclass) with a ``params`` dataclass; ``extra`` adds
    settings that change the data (e.g. the de-identification mode).
    """
    fields = json.loads(json.dumps(dataclasses.asdict(job), default=str))
    params = fields.pop("params", {})
    return {
        "job": type(job).__name__,
        "base_sha256": base_sha256,
        "data_sha256": data_sha256,
        "hyperparameters": {k: v for k, v in params.items() if k not in _NOT_TRAINING_PARAMS},
        "options": {k: v for k, v in fields.items() if k not in _NOT_TRAINING},
        "world_size": world_size or distributed.world().size,
        **json.loads(json.dumps(extra, default=str)),
    }


def differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: saved -> current`` for each entry that differs (nested dicts by their keys)."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            if key.endswith("sha256"):  # a prefix tells hashes apart; the full ones make a long line
                a, b = (v[:12] if isinstance(v, str) else v for v in (a, b))
            out.append(f"{prefix}{key} {a!r} -> {b!r}")
    return out


class Checkpoints:
    """The checkpoints of one run in ``folder``; :meth:`open` decides whether the run resumes."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any], *, every: int = 0,
                 resume: bool | None = None) -> None:
        if every < 0:
            raise InputError("--checkpoint-every must be >= 0 (0: every 200 steps or 5 minutes)")
        self.folder = folder
        self.fingerprint = fingerprint
        self.every = every
        self.resume = resume  # None: resume a matching checkpoint if there is one; False: start over
        self.resume_from: Path | None = None
        self._saved_step = 0
        self._saved_at = time.time()

    def steps(self) -> list[Path]:
        """Complete checkpoints, oldest first (temporary folders start with a dot)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("step-*") if (p / META_FILE).is_file())

    def open(self) -> int:
        """Before anything loads: the step the run resumes from (0: from the start).

        Refuses (InputError) a checkpoint of another run, and ``resume=True`` without a checkpoint.
        With several processes rank 0 decides (it alone may discard) and the others follow.
        """
        step, path = distributed.decide(self._open)
        self.resume_from = Path(path) if path else None
        return step

    def _open(self) -> tuple[int, str | None]:
        found = self.steps()
        if self.resume is False:
            if found:
                log.info("--no-resume: discarding the checkpoints in %s", self.folder)
            self.discard()
            return 0, None
        if not found:
            if self.resume:
                raise InputError(f"--resume: no checkpoint in {self.folder}")
            return 0, None
        latest = found[-1]
        try:
            saved = json.loads((latest / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{latest / META_FILE}: unreadable checkpoint ({exc}); pass --no-resume to "
                             "start over") from exc
        saved_print = saved.get("fingerprint", {})
        if "world_size" in self.fingerprint:  # written before several processes could train: one did
            saved_print = {"world_size": 1, **saved_print}
        diff = differences(saved_print, self.fingerprint)
        if diff:
            raise InputError(f"{latest} is a checkpoint of another run ({'; '.join(diff)}); pass --no-resume "
                             "to discard it and start over, or choose another --out")
        log.info("resuming from %s (step %d)", latest, saved["step"])
        return int(saved["step"]), str(latest)

    def load(self, device: Any) -> dict[str, Any] | None:
        import torch

        if self.resume_from is None:
            return None
        state = torch.load(self.resume_from / STATE_FILE, map_location=device, weights_only=True)
        self._saved_step, self._saved_at = state["step"], time.time()
        return state

    def start(self, step: int) -> None:
        """Training (re)starts at ``step``: the interval counts from here."""
        self._saved_step, self._saved_at = step, time.time()

    def due(self, step: int) -> bool:
        done = step - self._saved_step
        if self.every:
            return done >= self.every
        return done >= EVERY_STEPS or (done > 0 and time.time() - self._saved_at >= EVERY_SECONDS)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write ``state`` as the checkpoint of ``step`` (atomically), then remove older ones."""
        import torch

        final = self.folder / f"step-{step:06d}"
        tmp = self.folder / f".step-{step:06d}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with (tmp / STATE_FILE).open("wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())  # the rename below must not publish a file still in the page cache
            meta = {"format": FORMAT, "step": step, "fingerprint": self.fingerprint,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in self.steps():
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        self._saved_step, self._saved_at = step, time.time()
        log.info("checkpoint: step %d in %s", step, final)
        return final

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def open_checkpoints(job: Any, *, base_sha256: str, data_sha256: str, **extra: Any) -> Checkpoints:
    """The checkpoints of ``job`` (a ``LoraJob``: ``out``, ``resume``, ``checkpoint_every``), opened:
    refuses a checkpoint of another run before anything loads."""
    checkpoints = Checkpoints(partial_dir(job.out), fingerprint(job, base_sha256=base_sha256, data_sha256=data_sha256,
                                                                **extra),
                              every=job.checkpoint_every, resume=job.resume)
    checkpoints.open()
    return checkpoints


def rng_state() -> dict[str, Any]:
    """Every global RNG training draws from, in a form ``torch.load(weights_only=True)`` reads back."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(as_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def as_tuples(value: Any) -> Any:
    """``random.setstate`` wants tuples; a round trip may hand back lists."""
    return tuple(as_tuples(v) for v in value) if isinstance(value, list | tuple) else value
