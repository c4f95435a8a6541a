"""``bedside distill token`` and ``bedside distill grounded``: ``bedside adapt lora`` with a distillation loss.

Both commands take every option of ``bedside adapt lora`` (read from its signature, so the two
cannot drift apart) plus their own; ``--alpha`` stays the LoRA scale, the KL share is ``--kl-weight``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import typer

from bedside.cli import adapt as adapt_cmd
from bedside.cli.common import echo_json, log_to_stderr, settings_from

_LORA = inspect.signature(adapt_cmd.lora, eval_str=True)
# LoraParams / DistillJob fields whose `adapt lora` option is named otherwise.
_OPTION_OF = {"time_limit_min": "time_limit", "export_gguf": "gguf", "export_hf": "hf"}


def _with_lora_options(name: str, mode: Callable[..., None]) -> Callable[..., None]:
    """Command ``name``: ``mode``'s own options, then ``adapt lora``'s; runs :func:`_run`."""
    own = inspect.signature(mode, eval_str=True).parameters.values()
    params = [*own, *(p for p in _LORA.parameters.values() if p.name not in {q.name for q in own})]

    def command(**options: Any) -> None:
        _run(name, options)

    command.__name__, command.__doc__ = name, mode.__doc__
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def _run(mode: str, options: dict[str, Any]) -> None:
    from bedside.adapt import distributed
    from bedside.adapt.distill import DistillJob, run_distill
    from bedside.adapt.lora import LoraParams
    from bedside.adapt.run import ENTRY_FILE

    log_to_stderr("bedside.adapt")
    distributed.quiet_others()  # under torchrun / accelerate launch: rank 0 speaks for all
    settings = settings_from(options["config"])
    params = LoraParams(**_given(LoraParams, options))  # fields without an option keep their defaults
    job = DistillJob(**_given(DistillJob, options), params=params, mode=mode)
    meta = run_distill(job, settings)
    if not distributed.is_main():  # rank 0 wrote the result and prints it
        return
    final = options["out"].resolve()
    outputs = meta["outputs"]
    echo_json({
        "out": str(final),
        "name": meta["name"],
        "method": meta["method"],
        "gguf": str(final / outputs["gguf"]["path"]) if "gguf" in outputs else None,
        "hf": str(final / outputs["hf"]["path"]) if "hf" in outputs else None,
        "steps": meta["steps"],
        "stopped_by": meta["stopped_by"],
        "loss_first": meta["loss_first"],
        "loss_last": meta["loss_last"],
        "eval": meta["eval"],
        "catalog_entry": str(final / ENTRY_FILE),
    })


def _given(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The dataclass fields of ``cls`` that the command line gave, by field name (None: not given, so the
    dataclass default applies: the distillation defaults live in ``bedside.adapt.distill_loss`` alone)."""
    return {f.name: options[o] for f in fields(cls) if (o := _OPTION_OF.get(f.name, f.name)) in options
            and options[o] is not None and f.name not in ("params", "mode")}


def _token(
    teacher: str = typer.Option(
        ..., "--teacher", help="Local teacher sharing the student's tokenizer: catalog name, .gguf or HF folder."
    ),
    kl_weight: float | None = typer.Option(
        None, "--kl-weight", min=0.0, max=1.0,
        help="Share of the KL term: (1 - w) * CE + w * T^2 * KL(teacher || student) [0.5].",
    ),
    temperature: float | None = typer.Option(None, "--temperature", min=0.0, help="Softmax temperature T [1.0]."),
) -> None:
    """Token-level distillation: LoRA on the gold answers plus KL to a local teacher's next-token distributions."""


def _grounded(
    lam: float | None = typer.Option(
        None, "--lam", min=0.0, help="Weight of the penalty -log(1 - unsupported mass) (0: plain SFT) [2.0]."
    ),
    common_tokens: int | None = typer.Option(
        None, "--common-tokens", min=0,
        help="The N most frequent answer tokens of the training data count as supported everywhere [0].",
    ),
) -> None:
    """Grounded training: LoRA on the gold answers, penalising probability on tokens absent from the prompt."""


token = _with_lora_options("token", _token)
grounded = _with_lora_options("grounded", _grounded)
