"""``bedside pretrain``: continual pre-training of a small model on a domain corpus of text files."""

from __future__ import annotations

from pathlib import Path

import typer

from bedside.cli.adapt import CheckpointEveryOpt, ForceOpt, ResumeOpt, run_training
from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from

_CORPUS_HELP = ("Text files and folders: *.txt is one document a file, *.jsonl one {\"text\": ...} a line; folders "
                "are searched recursively.")


def pretrain(
    corpus: list[Path] = typer.Argument(..., help=_CORPUS_HELP, show_default=False),
    model: str = typer.Option(
        ..., "--model", "-m", help="Base model: catalog name, .gguf path or HF folder (decoder or encoder)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (clm: model.gguf, hf/, ...; mlm: an HF folder)."),
    objective: str = typer.Option(
        "auto", "--objective", help="clm (decoders: next token, LoRA) | mlm (encoders: masked LM, all weights) | "
        "auto (from the model's config)."
    ),
    eval_corpus: list[Path] = typer.Option(
        None, "--eval", help="Held-out text (files/folders, repeatable); replaces --eval-fraction."
    ),
    eval_fraction: float = typer.Option(
        0.05, "--eval-fraction", min=0.0, max=0.99, help="Documents held out for the before/after loss (seeded)."
    ),
    epochs: float = typer.Option(1.0, "--epochs", min=0.0, help="Passes over the corpus (fractions allowed)."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Stop after N optimizer steps (replaces --epochs)."),
    time_limit: float = typer.Option(
        0.0, "--time-limit", min=0.0, help="Fit training into this many minutes (shortens the schedule); 0: none."
    ),
    lr: float = typer.Option(0.0, "--lr", min=0.0, help="Peak learning rate; 0: 1e-4 (clm, LoRA) or 5e-5 (mlm)."),
    max_len: int = typer.Option(0, "--max-len", min=0, help="Tokens a packed block; 0: 256 (clm) or 128 (mlm)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Blocks per step."),
    rank: int = typer.Option(16, "--rank", "-r", min=1, help="LoRA rank (clm)."),
    alpha: float = typer.Option(0.0, "--alpha", min=0.0, help="LoRA alpha (clm; 0: 2 x rank)."),
    dropout: float = typer.Option(0.05, "--dropout", min=0.0, max=0.99, help="LoRA dropout (clm)."),
    targets: str = typer.Option("all-linear", "--targets", help="Layers LoRA adapts (clm): all-linear or names."),
    mask_prob: float = typer.Option(0.15, "--mask-prob", min=0.01, max=0.9, help="Share of tokens masked (mlm)."),
    seed: int = typer.Option(13, "--seed", help="Random seed (held-out split, data order, init, masks)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if available) | cpu | cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads (0: settings / all cores)."),
    gguf_type: str = typer.Option("q8_0", "--gguf-type", help="clm: type of the adapted tensors in model.gguf."),
    gguf: bool = typer.Option(True, "--gguf/--no-gguf", help="clm: write model.gguf (needs a GGUF base)."),
    hf: bool = typer.Option(True, "--hf/--no-hf", help="clm: write hf/, a merged checkpoint for transformers."),
    deid: bool = typer.Option(
        True, "--deid/--no-deid", help="De-identify each document first (off: text already de-identified)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad file or line instead of skipping it."),
    name: str | None = typer.Option(None, "--name", help="Catalog name of the result [<base>-<out folder>]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out (only once finished)."),
    force: bool = ForceOpt,
    resume: bool | None = ResumeOpt,
    checkpoint_every: int = CheckpointEveryOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Continue pre-training a small model on domain text; a decoder is exported for llama.cpp, an encoder
    as an HF folder for `bedside train ner --base`."""
    from bedside.adapt import distributed
    from bedside.adapt.pretrain import PretrainJob, run_pretrain
    from bedside.adapt.run import ENTRY_FILE

    log_to_stderr("bedside.adapt")
    distributed.quiet_others()  # under torchrun / accelerate launch: rank 0 speaks for all
    settings = settings_from(config)
    job = PretrainJob(
        model=model, corpus=list(corpus), out=out, eval_corpus=list(eval_corpus or []), eval_fraction=eval_fraction,
        objective=objective, lr=lr, max_len=max_len, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
        seed=seed, time_limit_min=time_limit, threads=threads, device=device, rank=rank, alpha=alpha,
        dropout=dropout, targets=targets, mask_prob=mask_prob, gguf_type=gguf_type, export_gguf=gguf,
        export_hf=hf, name=name, overwrite=overwrite, deid=deid, strict=strict, force=force, resume=resume,
        checkpoint_every=checkpoint_every,
    )
    meta = run_training(run_pretrain, job, settings)
    if meta is None:
        return
    final = out.resolve()
    outputs = meta["outputs"]
    clm = meta["hyperparameters"]["objective"] == "clm"
    hf_dir = final / outputs["hf"]["path"] if "hf" in outputs else None
    if clm:
        tip = f'bedside generate --model {final / outputs["gguf"]["path"]} "..."' if "gguf" in outputs else None
    else:
        tip = f"bedside train ner --base {final} --train FILE[:CATEGORY] --out DIR"
    echo_json({
        "out": str(final),
        "objective": meta["hyperparameters"]["objective"],
        "name": meta["name"],
        "gguf": str(final / outputs["gguf"]["path"]) if "gguf" in outputs else None,
        "hf": str(hf_dir.resolve()) if hf_dir else None,
        "blocks": meta["data"]["train"]["blocks"],
        "skipped": meta["data"]["corpus"]["skipped"]["count"],
        "steps": meta["steps"],
        "resumed_from_step": meta.get("resumed_from_step", 0),
        "stopped_by": meta["stopped_by"],
        "train_seconds": meta["train_seconds"],
        "loss_first": meta["loss_first"],
        "loss_last": meta["loss_last"],
        "eval_loss": {k: v["loss"] for k, v in meta["eval"].items()},
        "eval_perplexity": {k: v["perplexity"] for k, v in meta["eval"].items()},
        "catalog_entry": str(final / ENTRY_FILE) if clm else None,
        "try": tip,
    })
