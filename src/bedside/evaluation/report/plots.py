"""The report's charts as inline SVG, drawn by matplotlib's SVG backend (no browser-side code).

Text is drawn as paths, so the charts look the same without any font and carry no markup taken
from model names; mathtext is off, so a '$' in a name stays a '$'. IDs are salted with a fixed
string per chart (so IDs never collide between the charts of one page) and the date is left out,
so the same results give byte-identical SVG.

Published rows are drawn apart from measured ones: a star where the row has a value on the
x axis (an API cost estimate), else a grey horizontal line at its score, named in the legend.
"""

from __future__ import annotations

import io
import math

from bedside.evaluation.report.tables import Row, TaskTable

RC = {"svg.fonttype": "path", "text.parse_math": False, "font.size": 8}
MARKERS = {"zero-shot": "o", "few-shot": "s", "pipeline": "D"}
PUBLISHED_COLOR = "#444444"
LINESTYLES = ["--", ":", "-."]


def _figure(n_panels: int, panel_w: float, panel_h: float, ncols_max: int = 3):
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols_max, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_w * ncols, panel_h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG is inlined in HTML


def _colors(tables: list[TaskTable]) -> dict[str, str]:
    from matplotlib import colormaps

    models = sorted({r.model for t in tables for r in t.rows if r.measured})
    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(models)}


def _pct(row: Row, metric: str) -> tuple[float | None, list[list[float]] | None]:
    m = row.metric(metric)
    if not m or m.get("value") is None:
        return None, None
    y = m["value"] * 100
    if m.get("ci_low") is None or m.get("ci_high") is None:
        return y, None
    return y, [[max(0.0, y - m["ci_low"] * 100)], [max(0.0, m["ci_high"] * 100 - y)]]


def quality_vs(tables: list[TaskTable], x: str) -> str:
    """One panel per task: the primary metric against cost per 1,000 items or p50 latency per item."""
    from matplotlib import rc_context

    xlabel = {"cost": "cost per 1,000 items (log scale)", "latency": "latency p50 per item, ms (log scale)"}[x]
    with rc_context({**RC, "svg.hashsalt": f"bedside-{x}"}):
        colors = _colors(tables)
        fig, axes = _figure(len(tables), 4.4, 3.3)
        for ax, table in zip(axes, tables, strict=False):
            xs = []
            lines = 0
            for row in table.rows:
                y, err = _pct(row, table.primary)
                if y is None:
                    continue
                xv = row.cost if x == "cost" else row.latency_p50
                if row.measured and xv:
                    marker = MARKERS.get(row.key.get("strategy"), "^")
                    ax.errorbar([xv], [y], yerr=err, fmt=marker, color=colors[row.model], capsize=3,
                                markersize=6, label=row.label)
                    xs.append(xv)
                elif not row.measured and xv:
                    ax.scatter([xv], [y], marker="*", s=160, color=PUBLISHED_COLOR, zorder=3,
                               label=f"{row.model} (published, est. API cost)")
                    xs.append(xv)
                elif not row.measured:  # in the legend, not as text: close scores would overprint
                    style = LINESTYLES[lines % len(LINESTYLES)]
                    lines += 1
                    ax.axhline(y, linestyle=style, linewidth=1.2, color=PUBLISHED_COLOR,
                               label=f"{row.model} (published)")
            if xs:
                _log_x(ax, min(xs) / 2, max(xs) * 2)
            else:
                ax.text(0.5, 0.5, f"no {x} measured", transform=ax.transAxes, ha="center", color="#888888")
            ax.set_ylim(-3, 103)  # a margin, or scores of 0 and 100 sit half outside the frame
            ax.set_title(table.task)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{table.primary} (%)")
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="best")
        return _svg(fig)


def _log_x(ax, lo: float, hi: float) -> None:
    """A log x axis labelled with plain numbers (0.2, 5, 1,000): easier to read than powers of ten."""
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    # 1-2-5 steps within two decades; beyond that only powers of ten, or the labels overlap.
    subs = (1.0, 2.0, 5.0) if hi / lo <= 100 else (1.0,)
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=8))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.10g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def task_bars(tables: list[TaskTable]) -> str:
    """One panel per task: a bar per row with its 95% CI; published rows hatched and grey."""
    from matplotlib import rc_context

    with rc_context({**RC, "svg.hashsalt": "bedside-bars"}):
        colors = _colors(tables)
        most = max(len(t.rows) for t in tables)
        fig, axes = _figure(len(tables), 5.0, 0.9 + 0.32 * most, ncols_max=2)
        for ax, table in zip(axes, tables, strict=False):
            labels, ys = [], []
            for i, row in enumerate(table.rows):
                y, err = _pct(row, table.primary)
                labels.append(row.label + ("" if row.measured else " (published)"))
                ys.append(i)
                if y is None:
                    continue
                if row.measured:
                    ax.barh(i, y, xerr=err, color=colors[row.model], capsize=3, height=0.6)
                else:
                    ax.barh(i, y, color="#dddddd", edgecolor=PUBLISHED_COLOR, hatch="//", height=0.6)
                ax.text(min(y + 1, 92), i, f"{y:.1f}", va="center", fontsize=7)
            ax.set_yticks(ys, labels)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(f"{table.primary} (%), 95% CI")
            ax.set_title(table.task)
            ax.grid(True, axis="x", alpha=0.3)
        return _svg(fig)
