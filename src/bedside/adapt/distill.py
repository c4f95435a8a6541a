"""``bedside distill token`` and ``bedside distill grounded``: LoRA training with a distillation objective.

Everything but the loss is ``bedside adapt lora`` (:func:`bedside.adapt.run.run_lora`): records,
de-identification, templating, the training loop, the GGUF/HF export, the metadata and the atomic
output folder. This module builds the :class:`~bedside.adapt.run.Objective`: the loss of
:mod:`bedside.adapt.distill_loss`, the numbers measured on ``--eval`` records beside the completion
loss, and what the metadata records about the mode.

- ``token``: needs ``teacher``, a local model (catalog name, .gguf or HF folder) with the
  student's tokenizer, loaded in fp32 eval mode and frozen next to the student. Eval records get
  ``kl_to_teacher`` before and after, and the teacher's own completion loss (``eval.teacher``):
  the bar the student is pulled towards.
- ``grounded``: no teacher; the context is in the records. Eval records get ``unsupported_mass``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bedside.adapt import distill_loss as dl
from bedside.adapt.features import IGNORE
from bedside.adapt.run import LoraJob, Objective, run_lora
from bedside.catalog import Catalog
from bedside.errors import InputError

if TYPE_CHECKING:
    from bedside.adapt.base import Base
    from bedside.adapt.features import Prepared
    from bedside.config import Settings

log = logging.getLogger("bedside.adapt")

MODES = ("token", "grounded")


@dataclass
class DistillJob(LoraJob):
    mode: str = "token"
    teacher: str | None = None  # token mode
    kl_weight: float = dl.DEFAULT_ALPHA  # alpha: the KL term's share of the loss
    temperature: float = dl.DEFAULT_TEMPERATURE
    lam: float = dl.DEFAULT_LAM  # grounded mode
    common_tokens: int = dl.DEFAULT_COMMON

    def check(self) -> None:
        """The mode's options, before anything is loaded."""
        if self.mode == "token":
            if not self.teacher:
                raise InputError("token-level distillation needs --teacher (a local model sharing the tokenizer)")
            dl.check_token_options(self.kl_weight, self.temperature)
        elif self.mode == "grounded":
            if self.teacher:
                raise InputError("grounded training uses no teacher; --teacher is for token mode")
            dl.check_grounded_options(self.lam, self.common_tokens)
        else:
            raise InputError(f"distillation mode must be one of {', '.join(MODES)}, not {self.mode!r}")


def run_distill(job: DistillJob, settings: Settings, *, progress: bool = True) -> dict[str, Any]:
    """Train with the job's objective and export as ``adapt lora`` does; returns the metadata."""
    job.check()
    if job.mode == "token":
        Catalog.load(settings.models).get(job.teacher or "")  # an unknown teacher fails before any loading

        def objective(**kw: Any) -> Objective:
            return _token_objective(job, settings, progress=progress, **kw)
    else:
        def objective(**kw: Any) -> Objective:
            return _grounded_objective(job, **kw)
    return run_lora(job, settings, progress=progress, objective=objective)


def _token_objective(job: DistillJob, settings: Settings, *, progress: bool, tokenizer: Any, model: Any,
                     train: Prepared, eval: Prepared | None, pad_id: int) -> Objective:
    teacher_base, teacher, vocab = load_teacher(job.teacher or "", settings, tokenizer, model, progress=progress)
    measure_kl = dl.kl_to_teacher(teacher, vocab)
    batch = job.params.batch_size
    evals = {}
    if eval:
        from bedside.adapt.lora import evaluate_loss

        evals["teacher"] = evaluate_loss(teacher, eval.examples, pad_id, batch)
        log.info("teacher's eval loss: %.4f", evals["teacher"]["loss"])
    return Objective(
        method="lora-distill-token",
        loss_fn=dl.token_kl_loss(teacher, job.kl_weight, job.temperature, vocab_size=vocab),
        measure=lambda m, examples: {"kl_to_teacher": dl.token_mean(m, examples, pad_id, batch, measure_kl)},
        evals=evals,
        meta={"distill": {
            "mode": "token",
            "teacher": {"name": teacher_base.spec.name, "path": str(teacher_base.path),
                        "sha256": teacher_base.sha256, "format": "gguf" if teacher_base.gguf else "hf"},
            "kl_weight": job.kl_weight, "temperature": job.temperature, "vocab_size": vocab,
            "loss": "(1 - kl_weight) * CE + kl_weight * T^2 * KL(teacher || student), target tokens",
        }},
    )


def load_teacher(name: str, settings: Settings, student_tok: Any, student: Any, *,
                 progress: bool = True) -> tuple[Base, Any, int]:
    """(base, the teacher as a frozen fp32 model on the student's device, the shared vocabulary size).

    The tokenizer is checked before the weights are read, so a mismatch fails in a second.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from bedside.adapt.base import resolve_base

    base = resolve_base(name, settings, progress=progress)
    teacher_tok = _tokenizer(base)
    dl.check_same_tokenizer(student_tok, teacher_tok)
    teacher = AutoModelForCausalLM.from_pretrained(str(base.hf_dir), dtype=torch.float32, local_files_only=True)
    teacher.to(next(student.parameters()).device).eval().requires_grad_(False)
    vocab = dl.check_same_tokenizer(student_tok, teacher_tok,
                                    teacher_vocab=teacher.get_output_embeddings().out_features,
                                    student_vocab=student.get_output_embeddings().out_features)
    return base, teacher, vocab


def _tokenizer(base: Base) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base.hf_dir), local_files_only=True)


def _grounded_objective(job: DistillJob, *, tokenizer: Any, model: Any, train: Prepared, eval: Prepared | None,
                        pad_id: int) -> Objective:
    common = dl.common_target_ids(train.examples, job.common_tokens, tokenizer.all_special_ids)
    measure = dl.unsupported_mass(common)
    batch = job.params.batch_size
    share = _unsupported_gold_share(train, common)
    if share > 0.5:
        log.warning("%.0f%% of the training answers' tokens are not in their context or the common tokens: "
                    "those positions carry no grounding penalty (raise --common-tokens?)", 100 * share)
    return Objective(
        method="lora-grounded",
        loss_fn=dl.grounded_loss(job.lam, common),
        measure=lambda m, examples: {"unsupported_mass": dl.token_mean(m, examples, pad_id, batch, measure)},
        meta={"distill": {
            "mode": "grounded", "lam": job.lam, "common_tokens": job.common_tokens,
            "common_ids": common, "common_text": tokenizer.convert_ids_to_tokens(common),
            "train_unsupported_gold_share": round(share, 4),
            "loss": "CE + lam * mean -log(1 - u) over target positions with supported gold; u = probability "
                    "on tokens in neither the example's context nor the common tokens",
        }},
    )


def _unsupported_gold_share(prep: Prepared, common: list[int]) -> float:
    """Share of target tokens that neither their context nor the common set holds (no penalty there)."""
    allowed_common = set(common)
    left, total = 0, 0
    for e in prep.examples:
        context = {t for t, y in zip(e.input_ids, e.labels, strict=True) if y == IGNORE} | allowed_common
        targets = [y for y in e.labels if y != IGNORE]
        left += sum(y not in context for y in targets)
        total += len(targets)
    return left / max(total, 1)
