"""``bedside eval``: list tasks, run a task on a model (resumable), print the cell's scores."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from bedside.cli.common import DbOpt, echo_json, log_to_stderr, settings_from

app = typer.Typer(
    help="Evaluate models on clinical tasks: tasks as data files, resumable runs, scores with 95% CIs.",
    no_args_is_help=True,
)

TasksDirOpt = typer.Option(
    None, "--tasks-dir", help="Extra folder of task YAML files (also $BEDSIDE_TASKS_DIR). Repeatable."
)


class StrategyName(StrEnum):
    zero_shot = "zero-shot"
    few_shot = "few-shot"


class DecodingName(StrEnum):
    constrained = "constrained"
    free = "free"


def _registry(tasks_dir: list[Path] | None, data_dir: Path):
    from bedside.evaluation.registry import TaskRegistry, user_task_dirs

    return TaskRegistry.discover(user_task_dirs(tasks_dir or [], data_dir))


@app.command("tasks")
def tasks(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list (name, version, metrics, data...)."),
    tasks_dir: list[Path] = TasksDirOpt,
) -> None:
    """List the evaluation tasks: bundled ones and the user's task files."""
    from bedside.errors import InputError
    from bedside.evaluation.loaders import resolve_data_path

    settings = settings_from(None)
    rows = []
    for spec in _registry(tasks_dir, settings.data_dir):
        row = spec.metadata
        try:
            row["data_path"] = str(resolve_data_path(spec.dataset.path, spec.name))
            row["data_available"] = Path(row["data_path"]).is_file()
        except InputError:
            row["data_path"], row["data_available"] = None, False
        rows.append(row)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        data = "data ok" if row["data_available"] else "no data (use --data)"
        metrics = ", ".join(row["metrics"])
        typer.echo(f"{row['name']:<18} v{row['version']:<3} {metrics:<22} {data:<22} {row['description']}")


@app.command("run")
def run(
    task: str = typer.Option(..., "--task", "-t", help="Task name (`bedside eval tasks`) or a task YAML file."),
    model: str = typer.Option(..., "--model", "-m", help="Catalog name, alias, or path to a .gguf."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: results.json + items.jsonl (reused to resume)."),
    strategy: StrategyName = typer.Option(StrategyName.zero_shot, "--strategy", help="Prompting strategy."),
    shots: int | None = typer.Option(None, "--shots", min=1, help="Examples for few-shot (default: the task's k)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N usable items."),
    data: Path | None = typer.Option(None, "--data", help="Data file to evaluate instead of the task's default."),
    split: str | None = typer.Option(None, "--split", help="A named split of the task (see its splits)."),
    decoding: DecodingName = typer.Option(
        DecodingName.constrained, "--decoding",
        help="constrained: output forced to the choices/schema; free: free text read by the task's parser.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for generation, few-shot selection and the bootstrap."),
    resamples: int = typer.Option(1000, "--resamples", min=0, help="Bootstrap resamples for the 95% CI (0: none)."),
    no_text: bool = typer.Option(False, "--no-text", help="Keep only hashes of prompts and outputs in items.jsonl."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the cell (scores, counts, provenance) as JSON."),
    tasks_dir: list[Path] = TasksDirOpt,
    db: Path | None = DbOpt,
) -> None:
    """Run one task on one model; rerunning with the same --out skips finished items."""
    from bedside.evaluation.runner import RunOptions, run_task
    from bedside.runtime import Runtime

    log_to_stderr("bedside.evaluation")
    settings = settings_from(None, audit_db=db)
    spec = _registry(tasks_dir, settings.data_dir).get(task)
    opts = RunOptions(
        model=model, out=out, strategy=strategy.value, shots=shots, limit=limit, data=data, split=split,
        decoding=decoding.value, seed=seed, resamples=resamples, store_text=not no_text, progress=progress,
    )
    with Runtime(settings, progress=progress) as rt:
        summary = run_task(rt, spec, opts)
    cell = summary.cell
    if as_json:
        echo_json(cell)
        return
    typer.echo(cell["label"])
    for name, m in cell["metrics"].items():
        value = "n/a" if m["value"] is None else f"{m['value']:.3f}"
        ci = "" if m["ci_low"] is None else f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        typer.echo(f"  {name}: {value}{ci}")
    lat = cell["latency_ms"]
    typer.echo(
        f"  n={cell['n']} ({summary.n_new} new, {summary.n_reused} reused), unparsed {cell['n_unparsed']}, "
        f"malformed lines {cell['n_malformed']}; latency p50 {lat['p50']} ms, p95 {lat['p95']} ms"
    )
    typer.echo(f"  results: {summary.results_path}")
