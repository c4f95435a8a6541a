"""``bedside eval``: list tasks, run a cell or a grid of cells (resumable), write the report."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from bedside.cli.common import DbOpt, echo_json, fail, log_to_stderr, settings_from

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
    pipeline = "pipeline"  # bedside's extraction pipeline answers (evaluation/pipelines.py)


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
            row["data_available"] = Path(row["data_path"]).exists()  # a file, or a folder (DDI)
        except InputError:
            row["data_path"], row["data_available"] = None, False
        rows.append(row)
    if as_json:
        echo_json(rows)
        return
    cells = [(row["name"], f"v{row['version']}", ", ".join(row["metrics"]),
              "data ok" if row["data_available"] else "no data (use --data)", row["description"]) for row in rows]
    widths = [max((len(c[i]) for c in cells), default=0) for i in range(4)]  # columns as wide as their longest cell
    for c in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(c[:4], widths, strict=True)) + "  " + c[4])


@app.command("run")
def run(
    task: str | None = typer.Option(None, "--task", "-t", help="Task name (`bedside eval tasks`) or a task YAML file."),
    model: str | None = typer.Option(
        None, "--model", "-m",
        help="Catalog name, alias, or path to a .gguf; or bedside-ner / bedside-rules, bedside's own extraction "
             "pipeline (strategy pipeline, for tasks with a pipeline answer).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: results.json + items.jsonl (reused to resume)."),
    config: Path | None = typer.Option(
        None, "--config", "-c",
        help="Grid file (YAML): tasks x models x strategies x shots x decoding, run into --out. "
             "Replaces --task/--model and the per-cell flags; --limit still caps every cell.",
    ),
    strategy: StrategyName | None = typer.Option(
        None, "--strategy",
        help="Prompting strategy, or pipeline: bedside's extraction pipeline answers (--model defaults to "
             "bedside-ner) [default: zero-shot; pipeline for a pipeline model].",
    ),
    shots: int | None = typer.Option(None, "--shots", min=1, help="Examples for few-shot (default: the task's k)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N usable items."),
    data: Path | None = typer.Option(None, "--data", help="Data file to evaluate instead of the task's default."),
    split: str | None = typer.Option(None, "--split", help="A named split of the task (see its splits)."),
    decoding: DecodingName | None = typer.Option(
        None, "--decoding",
        help="constrained: output forced to the choices/schema; free: free text read by the task's parser "
             "[default: constrained].",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for generation, few-shot selection and the bootstrap "
                                                          "[default: 0]."),
    resamples: int | None = typer.Option(None, "--resamples", min=0,
                                         help="Bootstrap resamples for the 95% CI (0: none) [default: 1000]."),
    cost_profile: str | None = typer.Option(
        None, "--cost-profile", help="Hardware profile that prices the cell (resources/eval/cost_model.yaml; "
                                     "default: its default_profile)."),
    no_text: bool = typer.Option(False, "--no-text", help="Keep only hashes of prompts and outputs in items.jsonl."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the cell(s) (scores, counts, provenance) as JSON."),
    tasks_dir: list[Path] = TasksDirOpt,
    db: Path | None = DbOpt,
) -> None:
    """Run one task on one model, or a grid file; rerunning with the same --out skips finished items."""
    from bedside.errors import InputError

    log_to_stderr("bedside.evaluation")
    settings = settings_from(None, audit_db=db)
    if config is not None:
        given = [flag for flag, value in (
            ("--task", task), ("--model", model), ("--strategy", strategy), ("--shots", shots), ("--data", data),
            ("--split", split), ("--decoding", decoding), ("--seed", seed), ("--resamples", resamples),
            ("--cost-profile", cost_profile), ("--no-text", no_text or None),
        ) if value is not None]
        if given:
            raise InputError(f"{', '.join(given)}: set in the grid file when --config is given")
        _run_grid(config, out, settings, limit=limit, progress=progress, as_json=as_json, tasks_dir=tasks_dir)
        return
    from bedside.evaluation.pipelines import DEFAULT_PIPELINE_MODEL, is_pipeline_model

    if strategy is None and is_pipeline_model(model):
        strategy = StrategyName.pipeline
    if strategy == StrategyName.pipeline:
        model = model or DEFAULT_PIPELINE_MODEL
        if decoding is not None:
            raise InputError("--decoding: the pipeline strategy does not generate text")
    missing = [flag for flag, value in (("--task", task), ("--model", model)) if value is None]
    if missing:
        raise InputError(f"give {' and '.join(missing)} (one cell) or --config GRID.yaml (a grid)")

    from bedside.evaluation.cost import cost_profile as load_profile
    from bedside.evaluation.runner import RunOptions, run_task
    from bedside.runtime import Runtime

    spec = _registry(tasks_dir, settings.data_dir).get(task)
    opts = RunOptions(
        model=model, out=out, strategy=(strategy or StrategyName.zero_shot).value, shots=shots, limit=limit,
        data=data, split=split, decoding=(decoding or DecodingName.constrained).value,
        seed=0 if seed is None else seed, resamples=1000 if resamples is None else resamples,
        store_text=not no_text, progress=progress, cost=load_profile(cost_profile),
    )
    with Runtime(settings, progress=progress) as rt:
        summary = run_task(rt, spec, opts)
    if as_json:
        echo_json(summary.cell)
        return
    _print_cell(summary)
    typer.echo(f"  results: {summary.results_path}")


def _run_grid(config: Path, out: Path, settings, *, limit, progress, as_json, tasks_dir) -> None:
    import json

    from bedside.evaluation.grid import load_grid, run_grid
    from bedside.evaluation.results import read_results

    grid, base_dir, sha = load_grid(config)
    source = {"path": str(config.resolve()), "sha256": sha, "limit_override": limit}
    summary = run_grid(grid, base_dir, out, settings, progress=progress, limit=limit,
                       extra_tasks_dirs=list(tasks_dir or []), source=source,
                       on_cell=None if as_json else _print_cell)
    if as_json:  # this grid's cells (the folder may hold others) and its published rows
        wanted = {json.dumps(s.key.as_dict(), sort_keys=True) for s in summary.cells}
        echo_json([c for c in read_results(out)["cells"]
                   if not c.get("measured", True) or json.dumps(c["key"], sort_keys=True) in wanted])
    else:
        typer.echo(f"grid: {len(summary.cells)} cells done, {len(summary.failed)} failed, "
                   f"{summary.references} published reference rows; results: {summary.results_path}")
        typer.echo(f"report: bedside eval report {out}")
    if summary.failed:
        plan, exc = summary.failed[0]
        fail(f"{len(summary.failed)} of {len(summary.failed) + len(summary.cells)} cells failed "
             f"(first: {plan.describe()}: {exc.message}); rerun to retry them", exc.exit_code)


def _print_cell(summary) -> None:
    cell = summary.cell
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


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run folder written by `bedside eval run --out`."),
    html: Path | None = typer.Option(None, "--html", help="HTML page to write [default: RUN_DIR/report.html]."),
    md: Path | None = typer.Option(None, "--md", help="Markdown summary to write [default: RUN_DIR/report.md]."),
    reference: str | None = typer.Option(
        None, "--reference",
        help="Model the 'relative' column divides by: a model of the run or a published one (e.g. GPT-4) "
             "[default: the grid file's reference].",
    ),
    cost_profile: str | None = typer.Option(
        None, "--cost-profile", help="Re-price every measured cell with this hardware profile "
                                     "[default: the profile each cell was run with]."),
) -> None:
    """Write a self-contained HTML report and a Markdown summary of every cell in a run folder."""
    from bedside.evaluation.report import build_report, write_report

    rep = build_report(run_dir, reference=reference, cost_profile_name=cost_profile)
    written = write_report(rep, html or run_dir / "report.html", md or run_dir / "report.md")
    typer.echo(f"{rep.n_cells} rows in {len(rep.tables)} tasks")
    for path in written:
        typer.echo(f"  wrote {path}")
