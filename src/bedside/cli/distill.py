"""``bedside distill ...``: a larger teacher model's answers become a small student's training data."""

from __future__ import annotations

from pathlib import Path

import typer

from bedside.cli.common import ConfigOpt, echo_json, log_to_stderr, settings_from
from bedside.cli.evaluate import DecodingName

app = typer.Typer(
    help="Distillation: teach a small model from a teacher's answers (sequence) or distributions (token), "
    "or keep it to its context (grounded).", no_args_is_help=True,
)


@app.command("sequence")
def sequence(
    task: str = typer.Option(..., "--task", "-t", help="Evaluation task (`bedside eval tasks`) whose inputs to label."),
    inputs: Path = typer.Option(
        ..., "--inputs", help="Inputs in the task's own format (e.g. its CSV); the gold column may be absent. "
        "Not the task's default data: that is what the harness scores."
    ),
    teacher: str = typer.Option(
        ..., "--teacher", help="Teacher model: catalog name (bundled, e.g. qwen2.5-1.5b, or an endpoint) or .gguf path."
    ),
    labels: Path = typer.Option(
        ..., "--labels", help="Folder for the teacher's labels (records.jsonl, rejects.jsonl, bedside-distill.json)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N items of --inputs."),
    decoding: DecodingName = typer.Option(
        DecodingName.constrained, "--decoding",
        help="constrained: the teacher's output forced to the task's choices / JSON schema; free: prose the task's "
             "parser reads (for teachers that cannot constrain).",
    ),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", min=1, help="Teacher's answer budget (default: the task's)."
    ),
    review: bool = typer.Option(
        False, "--review", help="Also write review.jsonl for a person to check (then `distill review-apply`)."
    ),
    deid: bool = typer.Option(
        True, "--deid/--no-deid", help="De-identify the written labels and the student's training text "
        "(off: inputs already de-identified or synthetic)."
    ),
    student: str | None = typer.Option(
        None, "--student", help="Then LoRA-train this model on the labels (catalog name, .gguf or HF folder)."
    ),
    out: Path | None = typer.Option(None, "--out", help="The student's output folder (as `adapt lora --out`)."),
    epochs: float = typer.Option(3.0, "--epochs", min=0.0, help="Student: passes over the labels."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Student: stop after N steps (replaces --epochs)."),
    time_limit: float = typer.Option(0.0, "--time-limit", min=0.0, help="Student: minutes of training; 0: none."),
    lr: float = typer.Option(2e-4, "--lr", min=0.0, help="Student: peak learning rate."),
    rank: int = typer.Option(16, "--rank", "-r", min=1, help="Student: LoRA rank."),
    targets: str = typer.Option("all-linear", "--targets", help="Student: layers to adapt."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Student: records per step."),
    max_len: int = typer.Option(512, "--max-len", min=8, help="Student: tokens per record; longer ones left out."),
    device: str = typer.Option("auto", "--device", help="Student: auto | cpu | cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="Student: CPU threads (0: settings / all cores)."),
    gguf: bool = typer.Option(True, "--gguf/--no-gguf", help="Student: write model.gguf for llama.cpp."),
    name: str | None = typer.Option(None, "--name", help="Student: catalog name of the result."),
    seed: int = typer.Option(13, "--seed", help="Seed of the teacher's decoding and of the student's training."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace non-empty --labels / --out (once finished)."),
    config: Path | None = ConfigOpt,
) -> None:
    """Label task inputs with a teacher (validated, with provenance); optionally train a student on them."""
    from bedside.adapt.teacher import label_with_teacher
    from bedside.errors import InputError

    log_to_stderr("bedside.adapt")
    settings = settings_from(config)
    job = None
    if (student is None) != (out is None):
        raise InputError("--student and --out go together: the student model and its output folder")
    if student is not None and out is not None:
        if review:
            raise InputError("--review with --student: review the labels first (`bedside distill review-apply`), "
                             "then train with `bedside adapt lora --data`")
        job = _student_job(student, labels, out, settings, epochs=epochs, max_steps=max_steps, time_limit=time_limit,
                           lr=lr, rank=rank, targets=targets, batch_size=batch_size, max_len=max_len, device=device,
                           threads=threads, gguf=gguf, name=name, seed=seed, deid=deid, overwrite=overwrite)
    meta = label_with_teacher(task, inputs, teacher, settings, out=labels, limit=limit, decoding=decoding.value,
                              max_tokens=max_tokens, seed=seed, review=review, deid=deid, overwrite=overwrite)
    final = labels.resolve()
    summary = {
        "labels": str(final),
        "records": str(final / meta["records"]["path"]),
        "review": str(final / meta["review"]) if meta["review"] else None,
        "teacher": meta["teacher"]["name"],
        "counts": meta["counts"],
        "teacher_vs_gold": meta["teacher_vs_gold"],
        "latency_ms": meta["latency_ms"],
        "seconds": meta["seconds"],
        "student": None,
    }
    if job is not None:
        summary["student"] = _train(job, final, meta, settings)
    echo_json(summary)


def _student_job(student: str, labels: Path, out: Path, settings, *, epochs: float, max_steps: int,
                 time_limit: float, lr: float, rank: int, targets: str, batch_size: int, max_len: int, device: str,
                 threads: int, gguf: bool, name: str | None, seed: int, deid: bool, overwrite: bool):
    """The student's LoRA job, checked before the teacher runs: a typo should not cost an hour of labelling."""
    from bedside.adapt import LoraJob, LoraParams
    from bedside.adapt.run import check_out
    from bedside.adapt.teacher import RECORDS_FILE
    from bedside.catalog import Catalog
    from bedside.errors import InputError

    if out.resolve() == labels.resolve():
        raise InputError("--out and --labels must be different folders")
    params = LoraParams(rank=rank, lr=lr, epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_len=max_len,
                        seed=seed, time_limit_min=time_limit, threads=threads, device=device, targets=targets)
    params.check()
    check_out(out, overwrite)
    Catalog.load(settings.models).get(student)
    return LoraJob(model=student, data=labels / RECORDS_FILE, out=out, params=params, export_gguf=gguf, name=name,
                   deid=deid, overwrite=overwrite)


def _train(job, labels: Path, meta: dict, settings) -> dict:
    import shutil

    from bedside.adapt import run_lora
    from bedside.adapt.teacher import META_FILE
    from bedside.errors import InputError

    if meta["counts"]["accepted"] == 0:
        raise InputError(f"the teacher's answers were all rejected (see {labels / meta['rejects']}): "
                         "nothing to train on")
    job.data = labels / meta["records"]["path"]
    adapt = run_lora(job, settings)
    final = job.out.resolve()
    # Beside the weights: which teacher wrote the targets (bedside-adapt.json has the records' sha256).
    shutil.copyfile(labels / META_FILE, final / META_FILE)
    outputs = adapt["outputs"]
    return {"out": str(final), "name": adapt["name"], "steps": adapt["steps"], "loss_first": adapt["loss_first"],
            "loss_last": adapt["loss_last"], "train_seconds": adapt["train_seconds"],
            "gguf": str(final / outputs["gguf"]["path"]) if "gguf" in outputs else None,
            "hf": str(final / outputs["hf"]["path"]) if "hf" in outputs else None}


@app.command("review-apply")
def review_apply(
    review_file: Path = typer.Argument(..., help="review.jsonl, with each item's status set by a reviewer."),
    out: Path = typer.Option(..., "--out", help="Records file to write (JSONL for `bedside adapt lora --data`)."),
    allow_pending: bool = typer.Option(False, "--allow-pending", help="Leave pending items out instead of refusing."),
    task: str | None = typer.Option(
        None, "--task", "-t", help="Check answers against this task (default: the file's)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    config: Path | None = ConfigOpt,
) -> None:
    """Turn a reviewed review.jsonl into training records: accepted and corrected items, checked."""
    from bedside.adapt.review import apply_review

    echo_json(apply_review(review_file, out, settings_from(config), task=task, allow_pending=allow_pending,
                           overwrite=overwrite))
