"""``bedside adapt ...``: turn a base small model plus task data into a model the local engine serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from

app = typer.Typer(help="Adapt small models to a task (LoRA fine-tuning so far).", no_args_is_help=True)

_DATA_HELP = (
    'JSONL, one record a line: {"messages": [{"role": ..., "content": ...}, ...]} (assistant turns are '
    'learned) or {"prompt": ..., "completion": ..., "system": ...}. With --task: a file in that task\'s format.'
)


# Options of every training command (lora/tune, distill, pretrain): memory check and checkpoints.
ForceOpt = typer.Option(False, "--force", help="Train even when the memory estimate exceeds the memory available.")
ResumeOpt = typer.Option(
    None, "--resume/--no-resume",
    help="Continue from <out>.partial/ (default: when it holds a checkpoint of this same run); "
         "--no-resume discards it.",
)
CheckpointEveryOpt = typer.Option(
    0, "--checkpoint-every", min=0, help="Checkpoint every N steps (0: every 200 steps or 5 minutes)."
)


@app.command("lora")
def lora(
    model: str = typer.Option("smollm2", "--model", "-m", help="Base model: catalog name, .gguf path or HF folder."),
    data: Path = typer.Option(..., "--data", help=_DATA_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder (model.gguf, hf/, adapter/, bedside-adapt.json)."),
    eval_data: Path | None = typer.Option(
        None, "--eval", help="Held-out records in the same format: completion loss before and after training."
    ),
    task: str | None = typer.Option(
        None, "--task", help="Build records from this evaluation task (bedside eval tasks): its prompt + gold."
    ),
    epochs: float = typer.Option(3.0, "--epochs", min=0.0, help="Passes over the data (fractions allowed)."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Stop after N optimizer steps (replaces --epochs)."),
    time_limit: float = typer.Option(
        0.0, "--time-limit", min=0.0, help="Fit training into this many minutes (shortens the schedule); 0: none."
    ),
    lr: float = typer.Option(2e-4, "--lr", min=0.0, help="Peak learning rate (linear warmup and decay)."),
    rank: int = typer.Option(16, "--rank", "-r", min=1, help="LoRA rank."),
    alpha: float = typer.Option(0.0, "--alpha", min=0.0, help="LoRA alpha (0: 2 x rank)."),
    dropout: float = typer.Option(0.05, "--dropout", min=0.0, max=0.99, help="LoRA dropout."),
    targets: str = typer.Option(
        "all-linear", "--targets", help="Layers to adapt: all-linear, or module names (q_proj,v_proj)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Records per step."),
    max_len: int = typer.Option(512, "--max-len", min=8, help="Tokens per record; longer records are left out."),
    template: str = typer.Option("auto", "--template", help="auto | chat (model's chat template) | raw."),
    seed: int = typer.Option(13, "--seed", help="Random seed (data order, LoRA init, dropout)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if available) | cpu | cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads (0: settings / all cores)."),
    gguf_type: str = typer.Option(
        "q8_0", "--gguf-type", help="Type of the adapted tensors in model.gguf: q8_0 | f16 | f32 | base."
    ),
    gguf: bool = typer.Option(True, "--gguf/--no-gguf", help="Write model.gguf for the llama.cpp engine."),
    deid: bool = typer.Option(
        True, "--deid/--no-deid", help="De-identify the training text first (off: data already de-identified)."
    ),
    hf: bool = typer.Option(True, "--hf/--no-hf", help="Write hf/, a merged checkpoint for transformers."),
    name: str | None = typer.Option(None, "--name", help="Catalog name of the result [<base>-<out folder>]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out (only once finished)."),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first malformed line (default: skip it, count it, name it in the log)."
    ),
    force: bool = ForceOpt,
    resume: bool | None = ResumeOpt,
    checkpoint_every: int = CheckpointEveryOpt,
    qlora: bool = typer.Option(
        False, "--qlora", help="QLoRA: train on the base in 4-bit NF4 (needs CUDA and bitsandbytes); the export "
        "applies the adapter to the fp32 base."
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """LoRA-fine-tune a small model on chat records or a task's data; export it merged for llama.cpp and
    transformers."""
    from bedside.adapt import LoraJob, LoraParams, distributed, run_lora
    from bedside.adapt.run import ENTRY_FILE

    log_to_stderr("bedside.adapt")
    distributed.quiet_others()  # under torchrun / accelerate launch: rank 0 speaks for all
    settings = settings_from(config)
    params = LoraParams(rank=rank, alpha=alpha, dropout=dropout, targets=targets, lr=lr, epochs=epochs,
                        max_steps=max_steps, batch_size=batch_size, max_len=max_len, seed=seed,
                        time_limit_min=time_limit, threads=threads, device=device)
    job = LoraJob(model=model, data=data, out=out, eval_data=eval_data, task=task, template=template,
                  params=params, gguf_type=gguf_type, export_gguf=gguf, export_hf=hf, name=name, deid=deid,
                  overwrite=overwrite, strict=strict, force=force, resume=resume, checkpoint_every=checkpoint_every,
                  qlora=qlora)
    meta = run_training(run_lora, job, settings)
    if meta is None:
        return
    final = out.resolve()
    outputs = meta["outputs"]
    raw = " --raw" if meta["data"]["train"]["template"] == "raw" else ""  # trained without a chat template
    echo_json({
        "out": str(final),
        "name": meta["name"],
        "gguf": str(final / outputs["gguf"]["path"]) if "gguf" in outputs else None,
        "hf": str(final / outputs["hf"]["path"]) if "hf" in outputs else None,
        "steps": meta["steps"],
        "resumed_from_step": meta.get("resumed_from_step", 0),
        "skipped_lines": meta["data"]["train"].get("skipped_lines", {}).get("count", 0),
        "stopped_by": meta["stopped_by"],
        "train_seconds": meta["train_seconds"],
        "loss_first": meta["loss_first"],
        "loss_last": meta["loss_last"],
        "eval_loss": {k: v["loss"] for k, v in meta["eval"].items()},
        "catalog_entry": str(final / ENTRY_FILE),
        "try": f'bedside generate{raw} --model {final / outputs["gguf"]["path"]} "..."' if "gguf" in outputs else None,
    })



def run_training(run: Callable[[Any, Any], dict[str, Any]], job: Any, settings: Any) -> dict[str, Any] | None:
    """``run(job, settings)``; where it stops half-way, rank 0 says where the saved state is. Returns the
    metadata on rank 0, None on the other processes of a launcher (rank 0 wrote the result and prints it)."""
    from bedside.adapt import distributed

    try:
        meta = run(job, settings)
    except (KeyboardInterrupt, MemoryError, RuntimeError, OSError):  # not InputError: nothing trained yet
        if distributed.is_main():
            _say_how_to_resume(job.out)
        raise
    return meta if distributed.is_main() else None


def _say_how_to_resume(out: Path) -> None:
    from bedside.adapt.checkpoint import Checkpoints, partial_dir

    saved = Checkpoints(partial_dir(out), {}).steps()
    if saved:
        typer.echo(f"bedside: the training state is saved in {saved[-1]}; the same command resumes from there",
                   err=True)


# ``bedside tune`` (the name for supervised fine-tuning) is this same command, registered a
# second time at the top level, so the two cannot drift apart.
tune = lora
