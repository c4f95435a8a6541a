"""A grid of cells from one YAML file: tasks x models x strategies x shots x decoding, run resumably.

Each cell goes through ``run_task`` into the same run folder, so a rerun of the grid skips every
finished item and a grown grid (one more model, a larger limit) computes only what is new. The
models are the outer loop, one Runtime each: a cell's peak memory then holds its own model only.
Everything a cell could refuse (unknown task or model, a missing data file) is checked before the
first model call; a cell that fails while running is reported and the grid goes on.

Relative paths in the file (task data, tasks_dir) are relative to the file's folder.

A pipeline model (``bedside-ner``: bedside's extraction pipeline, pipelines.py) among the models
gets one cell per task that has a pipeline answer, with strategy ``pipeline``; the grid's
strategies, shots and decodings do not apply to it, and tasks without a pipeline answer are left out
of its row (logged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bedside.config import Settings
from bedside.errors import BedsideError, ConfigError, InputError
from bedside.evaluation.cost import CostProfile, cost_profile
from bedside.evaluation.pipelines import PIPELINE_STRATEGY, is_pipeline_model
from bedside.evaluation.references import annotate, reference_models, rows_for
from bedside.evaluation.registry import TaskRegistry, user_task_dirs
from bedside.evaluation.results import now_utc, read_results, reset_peak_rss, write_cell
from bedside.evaluation.runner import RunOptions, RunSummary, run_task
from bedside.evaluation.spec import TaskSpec
from bedside.evaluation.stats import DEFAULT_RESAMPLES
from bedside.textio import read_text

log = logging.getLogger("bedside.evaluation")

GRID_FILE = "grid.json"  # the resolved grid, kept in the run folder for the report
GRID_FORMAT = "bedside.eval.grid/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridTask(_Strict):
    name: str
    data: str | None = None  # a data file instead of the task's default (e.g. a held-back test split)
    split: str | None = None  # or a named split of the task
    limit: int | None = Field(default=None, ge=1)  # replaces the grid's limit for this task


class CostConfig(_Strict):
    """A bundled profile by name, any of its fields replaced; an unknown name with all fields is a new one."""

    profile: str | None = None
    description: str | None = None
    hardware_price: float | None = None
    years: float | None = None
    utilisation: float | None = None
    power_watts: float | None = None
    electricity_per_kwh: float | None = None
    currency: str | None = None

    def resolve(self) -> CostProfile:
        overrides = self.model_dump(exclude_none=True, exclude={"profile"})
        return cost_profile(self.profile, **overrides)


def _unique(values: list[Any], what: str) -> list[Any]:
    seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{what} lists an entry twice")
    return values


class GridConfig(_Strict):
    tasks: list[str | GridTask] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    strategies: list[Literal["zero-shot", "few-shot"]] = Field(default=["zero-shot"], min_length=1)
    shots: list[int] = Field(default_factory=list)  # few-shot cells, one per count; empty: each task's k
    decoding: list[Literal["constrained", "free"]] = Field(default=["constrained"], min_length=1)
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    resamples: int = Field(default=DEFAULT_RESAMPLES, ge=0)
    store_text: bool = True
    tasks_dir: list[str] = Field(default_factory=list)
    cost: CostConfig = Field(default_factory=CostConfig)
    references: list[str] = Field(default_factory=list)  # published rows to include (references.yaml models)
    reference: str | None = None  # the model "relative to reference" divides by (published or measured)

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[str | GridTask]) -> list[str | GridTask]:
        return _unique(value, "tasks")

    @field_validator("models", "strategies", "decoding", "references")
    @classmethod
    def _lists(cls, value: list[Any]) -> list[Any]:
        return _unique(value, "a list")

    @field_validator("shots")
    @classmethod
    def _shots(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("shots must be at least 1")
        return _unique(value, "shots")

    @property
    def task_entries(self) -> list[GridTask]:
        return [GridTask(name=t) if isinstance(t, str) else t for t in self.tasks]


@dataclass(frozen=True)
class CellPlan:
    model: str
    task: GridTask
    spec: TaskSpec
    strategy: str
    shots: int | None
    decoding: str

    def describe(self) -> str:
        strategy = self.strategy if self.shots is None else f"{self.strategy}-{self.shots}"
        data = Path(self.task.data).name if self.task.data else self.task.split
        data = f" · {data}" if data else ""
        decoding = f" · {self.decoding}" if self.strategy != PIPELINE_STRATEGY else ""
        return f"{self.spec.name} · {self.model} · {strategy}{decoding}{data}"


@dataclass
class GridSummary:
    cells: list[RunSummary] = field(default_factory=list)
    failed: list[tuple[CellPlan, BedsideError]] = field(default_factory=list)
    references: int = 0
    results_path: Path | None = None


def load_grid(path: Path) -> tuple[GridConfig, Path, str]:
    """(config, the folder its relative paths are relative to, sha256 of the file)."""
    text = read_text(path, "grid file", error=ConfigError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"grid file {path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
    return parse_grid(data, str(path)), path.resolve().parent, hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_grid(data: Any, source: str) -> GridConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"grid file {source} is not a YAML mapping")
    try:
        return GridConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        raise ConfigError(f"grid file {source}: {loc}: {err['msg'].removeprefix('Value error, ')}") from exc


def plan(config: GridConfig, base_dir: Path, settings: Settings, extra_tasks_dirs: list[Path] = ()) -> list[CellPlan]:
    """Every cell of the grid, after checking each task, model and data file exists."""
    from bedside.catalog import Catalog

    dirs = [_resolve(base_dir, d) for d in config.tasks_dir] + list(extra_tasks_dirs)
    registry = TaskRegistry.discover(user_task_dirs(dirs, settings.data_dir))
    catalog = Catalog.load(settings.models)
    models = []
    for name in config.models:
        cwd_path = Path(name).expanduser()
        local = _resolve(base_dir, name)
        # A .gguf path in the grid file is relative to the file, like data paths.
        models.append(str(local) if name.endswith(".gguf") and not cwd_path.is_absolute() else name)
        if not is_pipeline_model(name):
            catalog.get(models[-1])
    tasks = []
    for entry in config.task_entries:
        spec = registry.get(entry.name)
        if entry.data is not None and entry.split is not None:
            raise ConfigError(f"grid task '{entry.name}': give data or split, not both")
        if entry.data is not None:
            data = _resolve(base_dir, entry.data)
            if not data.exists():  # a file, or a folder for folder loaders (DDI)
                raise InputError(f"grid task '{entry.name}': dataset file not found: {data}")
            entry = entry.model_copy(update={"data": str(data)})
        if entry.split is not None and entry.split not in spec.splits:
            known = ", ".join(spec.splits) or "none"
            raise InputError(f"grid task '{entry.name}' has no split '{entry.split}' (known: {known})")
        tasks.append((entry, spec))
    known_refs = set(reference_models())
    if config.reference and config.reference not in set(config.models) | known_refs:
        raise ConfigError(f"reference '{config.reference}' is neither a model of the grid nor a published "
                          f"reference ({', '.join(sorted(known_refs))})")
    shots: list[int | None] = list(config.shots) or [None]
    cells = []
    for model in models:
        for entry, spec in tasks:
            if is_pipeline_model(model):
                if spec.pipeline is None:
                    log.info("%s has no pipeline answer for task %s: no cell", model, spec.name)
                else:
                    cells.append(CellPlan(model, entry, spec, PIPELINE_STRATEGY, None, "none"))
                continue
            for strategy in config.strategies:
                for k in ([None] if strategy == "zero-shot" else shots):
                    for decoding in config.decoding:
                        cells.append(CellPlan(model, entry, spec, strategy, k, decoding))
    if not cells:
        raise ConfigError("the grid has no cell: pipeline models only answer tasks with a pipeline section")
    return cells


def run_grid(
    config: GridConfig,
    base_dir: Path,
    out: Path,
    settings: Settings,
    *,
    progress: bool = True,
    limit: int | None = None,
    extra_tasks_dirs: list[Path] = (),
    source: dict[str, Any] | None = None,
    on_cell=None,
) -> GridSummary:
    """Run every cell (resumably) into ``out``; ``limit`` overrides the grid's limits."""
    from bedside.runtime import Runtime

    cells = plan(config, base_dir, settings, extra_tasks_dirs)
    profile = config.cost.resolve()
    specs = {c.spec.name: c.spec for c in cells}
    ref_models = list(config.references)
    if config.reference in set(reference_models()) - set(ref_models):
        ref_models.append(config.reference)
    ref_rows = rows_for(ref_models, list(specs))
    for model in sorted(set(ref_models) - {r.model for r in ref_rows}):
        log.warning("no published rows of %s for the grid's tasks (%s)", model, ", ".join(specs))
    _write_grid_file(out, config, source, profile, len(cells))

    summary = GridSummary()
    by_model: dict[str, list[CellPlan]] = {}
    for cell in cells:
        by_model.setdefault(cell.model, []).append(cell)
    done = 0
    for model, model_cells in by_model.items():
        with Runtime(settings, progress=progress) as rt:
            for cell in model_cells:
                done += 1
                log.info("cell %d/%d: %s", done, len(cells), cell.describe())
                opts = RunOptions(
                    model=model, out=out, strategy=cell.strategy, shots=cell.shots,
                    limit=limit or cell.task.limit or config.limit,
                    data=Path(cell.task.data) if cell.task.data else None, split=cell.task.split,
                    decoding=cell.decoding, seed=config.seed, resamples=config.resamples,
                    store_text=config.store_text, progress=progress, cost=profile,
                )
                reset_peak_rss()
                try:
                    result = run_task(rt, cell.spec, opts)
                except BedsideError as exc:
                    log.error("cell %s failed: %s", cell.describe(), exc.message)
                    summary.failed.append((cell, exc))
                    continue
                summary.cells.append(result)
                if on_cell is not None:
                    on_cell(result)

    for row in ref_rows:
        write_cell(out, row.cell(specs[row.task].version))
    summary.references = len(ref_rows)
    summary.results_path = annotate_run(out, config.reference)
    return summary


def annotate_run(out: Path, reference: str | None) -> Path:
    """Fill relative performance and API costs into every cell of the run folder."""
    cells = read_results(out)["cells"]
    path = out / "results.json"
    for cell in annotate(cells, reference):
        path = write_cell(out, cell)
    return path


def read_grid_file(out: Path) -> dict[str, Any] | None:
    path = out / GRID_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != GRID_FORMAT:
        raise InputError(f"{path} is not a bedside grid file ({GRID_FORMAT})")
    return data


def _write_grid_file(out: Path, config: GridConfig, source: dict[str, Any] | None, profile: CostProfile,
                     n_cells: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"format": GRID_FORMAT, "written_at": now_utc(), "source": source, "cells": n_cells,
            "config": config.model_dump(mode="json"), "cost_profile": profile.as_dict()}
    path = out / GRID_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
