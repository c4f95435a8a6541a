"""What a report shows, independent of its format: one table per task, provenance, the cost model.

The HTML page and the Markdown summary both render these rows with the same formatting functions,
so the two can never disagree on a number.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedside.errors import InputError
from bedside.evaluation.cost import cell_cost, cost_profile
from bedside.evaluation.references import PUBLISHED, annotate, reference_cells_by_task
from bedside.evaluation.results import RESULTS_FILE, now_utc, read_results

STRATEGY_ORDER = {"zero-shot": 0, "few-shot": 1, "pipeline": 2}


@dataclass
class Row:
    cell: dict[str, Any]
    model: str
    strategy: str
    data: str
    measured: bool
    is_reference: bool = False
    citation_no: int | None = None

    @property
    def key(self) -> dict[str, Any]:
        return self.cell["key"]

    def metric(self, name: str) -> dict[str, Any] | None:
        return (self.cell.get("metrics") or {}).get(name)

    def value(self, name: str) -> float | None:
        m = self.metric(name)
        return m.get("value") if m else None

    @property
    def label(self) -> str:
        return self.model if not self.measured else f"{self.model} · {self.strategy}"

    @property
    def cost(self) -> float | None:
        return (self.cell.get("cost") or {}).get("per_1k_items")

    @property
    def latency_p50(self) -> float | None:
        return (self.cell.get("latency_ms") or {}).get("p50")


@dataclass
class TaskTable:
    task: str
    versions: list[int]
    metrics: list[str]
    rows: list[Row]
    reference: Row | None
    show_data: bool

    @property
    def primary(self) -> str:
        return self.metrics[0]


@dataclass
class Report:
    run_dir: Path
    generated_at: str
    tables: list[TaskTable]
    reference_model: str | None
    citations: list[dict[str, Any]]  # numbered published rows: model, task, value, citation, url...
    cost_profiles: list[dict[str, Any]]
    api_prices: list[dict[str, Any]]
    provenance: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def n_cells(self) -> int:
        return sum(len(t.rows) for t in self.tables)


def build_report(run_dir: Path, reference: str | None = None, cost_profile_name: str | None = None) -> Report:
    """Read a run folder and lay out its report. ``reference`` defaults to the grid's; a cost profile
    name re-prices every measured cell (otherwise each keeps the profile it was run with)."""
    from bedside.evaluation.grid import read_grid_file

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder not found: {run_dir}")
    if not (run_dir / RESULTS_FILE).is_file():
        raise InputError(f"no {RESULTS_FILE} in {run_dir}: run `bedside eval run ... --out {run_dir}` first")
    cells = [c for c in read_results(run_dir).get("cells", []) if isinstance(c, dict) and "key" in c]
    if not cells:
        raise InputError(f"{run_dir / RESULTS_FILE} holds no cells")
    grid = read_grid_file(run_dir)
    if reference is None and grid is not None:
        reference = grid["config"].get("reference")
    if reference is not None and not any(c["key"].get("model") == reference for c in cells):
        reference = _published_reference(cells, reference)
    if cost_profile_name is not None:
        profile = cost_profile(cost_profile_name)
        cells = [{**c, "cost": cell_cost(profile, (c.get("latency_ms") or {}).get("mean"))}
                 if c.get("measured", True) else c for c in cells]
    cells = annotate(cells, reference)
    refs = reference_cells_by_task(cells, reference)

    citations: list[dict[str, Any]] = []
    tables = []
    for task in sorted({c["key"]["task"] for c in cells}):
        task_cells = sorted((c for c in cells if c["key"]["task"] == task), key=_order)
        rows = []
        for cell in task_cells:
            row = _row(cell)
            row.is_reference = cell is refs.get(task)
            if not row.measured:
                citations.append({**cell.get("reference", {}), "no": len(citations) + 1})
                row.citation_no = len(citations)
            rows.append(row)
        metrics: list[str] = []
        for cell in task_cells:
            for name in cell.get("metrics") or {}:
                if name not in metrics:
                    metrics.append(name)
        versions = sorted({v for c in task_cells if (v := c["key"].get("task_version")) is not None})
        show_data = len({r.data for r in rows if r.measured}) > 1
        reference_row = next((r for r in rows if r.is_reference), None)
        tables.append(TaskTable(task, versions, metrics or ["(none)"], rows, reference_row, show_data))

    notes = _notes(cells, reference, refs)
    models = [(c.get("cost") or {}).get("cost_model") or {} for c in cells]
    return Report(
        run_dir=run_dir, generated_at=now_utc(), tables=tables, reference_model=reference, citations=citations,
        cost_profiles=_unique_by_name(m for m, c in zip(models, cells, strict=True) if c.get("measured", True)),
        api_prices=_unique_by_name(m.get("api_price") for m, c in zip(models, cells, strict=True)
                                   if not c.get("measured", True)),
        provenance=[_provenance(c) for c in sorted(cells, key=_order) if c.get("measured", True)],
        notes=notes,
    )


def _published_reference(cells: list[dict[str, Any]], reference: str) -> str:
    """Add the bundled published rows of ``reference`` for the run's tasks (a report-time comparison)."""
    from bedside.evaluation.references import rows_for

    tasks = sorted({c["key"]["task"] for c in cells})
    rows = rows_for([reference], tasks)
    if not rows:
        raise InputError(f"reference '{reference}' is not a model of this run and has no published rows "
                         f"for its tasks ({', '.join(tasks)})")
    versions = {c["key"]["task"]: c["key"].get("task_version") for c in cells}
    cells.extend(r.cell(versions.get(r.task)) for r in rows)
    return reference


def _order(cell: dict[str, Any]) -> tuple:
    key = cell["key"]
    published = not cell.get("measured", True)
    return (published, key.get("model", ""), STRATEGY_ORDER.get(key.get("strategy"), 9), key.get("shots") or 0,
            key.get("decoding", ""), key.get("data", ""))


def _row(cell: dict[str, Any]) -> Row:
    key = cell["key"]
    measured = bool(cell.get("measured", True))
    if measured:
        strategy = key.get("strategy", "?")
        if strategy == "few-shot":
            strategy = f"few-shot-{key.get('shots')}"
        if strategy != "pipeline":  # a pipeline does not decode
            strategy = f"{strategy} · {key.get('decoding', '?')}"
    else:
        strategy = (cell.get("reference") or {}).get("setting") or PUBLISHED
    return Row(cell, str(key.get("model", "?")), strategy, str(key.get("data", "")), measured)


def _unique_by_name(items) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        if item and item.get("name") not in seen:
            seen[item.get("name")] = item
    return list(seen.values())


def _notes(cells: list[dict[str, Any]], reference: str | None, refs: dict[str, Any]) -> list[str]:
    notes = []
    malformed = sum(c.get("n_malformed") or 0 for c in cells if c.get("measured", True))
    if malformed:
        notes.append(f"{malformed} malformed dataset lines were skipped and counted (see results.json).")
    unparsed = sum(c.get("n_unparsed") or 0 for c in cells if c.get("measured", True))
    if unparsed:
        notes.append(f"{unparsed} model outputs could not be read as an answer; they are scored wrong.")
    if any(not c.get("measured", True) for c in cells):
        notes.append("Published rows were evaluated on the benchmarks' official sets, which are not the items "
                     "measured here: they show the level a large model reaches, not a paired comparison.")
    if reference and not refs:
        notes.append(f"The reference model '{reference}' has no row on any task of this run.")
    return notes


def prompt_hash(provenance: dict[str, Any]) -> str | None:
    prompt = provenance.get("prompt")
    if prompt is None:
        return None
    return hashlib.sha256(json.dumps(prompt, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _provenance(cell: dict[str, Any]) -> dict[str, Any]:
    prov = cell.get("provenance") or {}
    model = prov.get("model") or {}
    task = prov.get("task") or {}
    dataset = prov.get("dataset") or {}
    cpu = prov.get("cpu_model") or "unknown CPU"
    machine = f"{cpu} × {prov.get('cpu_count', '?')} ({prov.get('platform', '?')}, Python {prov.get('python', '?')})"
    profile = ((cell.get("cost") or {}).get("cost_model") or {}).get("name")
    return {
        "label": cell.get("label") or json.dumps(cell["key"]),
        "git_revision": prov.get("git_revision"), "git_dirty": prov.get("git_dirty"),
        "bedside_version": prov.get("bedside_version"),
        "model": model.get("name"), "model_sha256": model.get("sha256"), "backend": model.get("backend"),
        "task_version": task.get("version"), "task_sha256": task.get("sha256"),
        "prompt_sha256": prompt_hash(prov), "seed": prov.get("seed"),
        "dataset": Path(dataset["path"]).name if dataset.get("path") else None,
        "dataset_sha256": dataset.get("sha256"), "date": prov.get("created_at"), "machine": machine,
        "cost_profile": profile,
    }


# -- formatting (shared by HTML and Markdown) ----------------------------------------------------
def fmt_metric(m: dict[str, Any] | None) -> str:
    """A 0..1 metric as a percentage with its 95% CI: 72.4 [69.0, 75.7]."""
    if not m or m.get("value") is None:
        return "n/a"
    text = f"{m['value'] * 100:.1f}"
    if m.get("ci_low") is not None and m.get("ci_high") is not None:
        text += f" [{m['ci_low'] * 100:.1f}, {m['ci_high'] * 100:.1f}]"
    return text


def fmt_money(value: float | None, currency: str | None = None) -> str:
    """Two decimals from 1 up; three significant digits below, never in scientific notation."""
    if value is None:
        return "n/a"
    if value == 0:
        text = "0"
    elif abs(value) >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.{-math.floor(math.log10(abs(value))) + 2}f}"
    return f"{text} {currency}" if currency else text


def fmt_number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_plain(value: float | None) -> str:
    """A parameter as written in the cost file: 4, 0.5, 1200 (no trailing .0)."""
    return "n/a" if value is None else f"{value:g}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def short(sha: str | None, n: int = 12) -> str:
    return sha[:n] if sha else "n/a"


def row_cells(table: TaskTable, row: Row) -> dict[str, str]:
    """The formatted columns of one table row, in display order (keys are the headers)."""
    cell = row.cell
    lat = cell.get("latency_ms") or {}
    tps = cell.get("tokens_per_s") or {}
    cost = cell.get("cost") or {}
    model = row.model if row.measured else f"{row.model} (published, not measured here) [{row.citation_no}]"
    cols: dict[str, str] = {"Model": model, "Strategy": row.strategy}
    if table.show_data:
        cols["Data"] = row.data if row.measured else PUBLISHED
    for name in table.metrics:
        cols[f"{name} (95% CI)"] = fmt_metric(row.metric(name))
    cols["n"] = fmt_number(cell.get("n"))
    cols["Unparsed"] = fmt_number(cell.get("n_unparsed")) if row.measured else "n/a"
    cols["Latency p50 / p95 (ms)"] = (
        f"{fmt_number(lat.get('p50'))} / {fmt_number(lat.get('p95'))}" if row.measured else "n/a"
    )
    cols["Tokens/s (out / all)"] = (
        f"{fmt_number(tps.get('completion'), 2)} / {fmt_number(tps.get('total'), 1)}" if row.measured else "n/a"
    )
    cols["Peak memory (MB)"] = fmt_number(cell.get("peak_rss_mb"))
    money = fmt_money(cost.get("per_1k_items"), cost.get("currency"))
    if cost.get("estimate") and cost.get("per_1k_items") is not None:
        money = f"≈ {money} (API)"
    elif row.measured and (cost.get("cost_model") or {}).get("name"):
        money = f"{money} ({cost['cost_model']['name']})"
    cols["Cost / 1,000 items"] = money
    cols[f"vs {table.reference.model}" if table.reference else "Relative"] = (
        "reference" if row.is_reference else fmt_ratio(cell.get("relative_to_reference"))
    )
    return cols


def headers(table: TaskTable) -> list[str]:
    return list(row_cells(table, table.rows[0]).keys())
