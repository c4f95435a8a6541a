"""The committed evaluation grid: bundled models x dev-data tasks x strategies, run and reported.

    python benchmarks/eval_grid.py [--config benchmarks/eval_grid.yaml] [--out DIR] [--limit N] [--threads N]

Runs ``bedside eval run --config CONFIG --out DIR`` (resumable: a rerun reuses every finished item),
then ``bedside eval report DIR --html DIR/report.html --md DIR/report.md``, and writes DIR/run.json:
the exact commands, date, machine, git revision, wall time, and how much CPU the run got (CPU seconds
/ wall seconds, load average before and after). That share says how busy the machine was: the
latencies, tokens/s and costs in the report are measured wall time, so on a shared machine they are
upper bounds. A short "How this run was made" section goes into report.md under its title.

Engine threads default to 1 (``BEDSIDE_THREADS``). On a machine that other work keeps busy, llama.cpp
with one thread per core collapses: its threads wait on each other at every layer, and a descheduled
one stalls the rest. Measured on the 2-core development machine beside another full-core job,
Qwen2.5-0.5B on five MedMCQA items: 27 s with one thread, 66-176 s with two. On a quiet machine,
``--threads 0`` (all cores) is faster.

Audit rows go to a temporary database, never the user's audit trail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK = "<!-- added by benchmarks/eval_grid.py -->"


def rel(path: Path) -> str:
    """Paths in commands and reports relative to the repository root, so they read the same anywhere."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def machine() -> dict[str, object]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                  if ln.startswith("MemTotal"))
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
                         capture_output=True, text=True).stdout.strip() or None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version(), "nice": os.nice(0),
            "bedside": version("bedside"), "xllamacpp": version("xllamacpp"), "git": git}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def children_cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def earlier_runs(record_path: Path) -> list[dict]:
    if not record_path.exists():
        return []
    prev = json.loads(record_path.read_text(encoding="utf-8"))
    if "runs" in prev:
        return prev["runs"]
    # a record written before invocations were kept: its one run
    return [{"command": prev["command"], "started_utc": prev["started_utc"], "finished_utc": prev["finished_utc"],
             **prev["run"]}]


def section(record: dict) -> str:
    m, run = record["machine"], record["run"]
    lines = [
        MARK, "## How this run was made", "",
        f"- reproduce: `{record['command']}` (runs `{record['commands']['run']}`, then "
        f"`{record['commands']['report']}`)",
        f"- date (UTC): {record['started_utc']} to {record['finished_utc']}; grid wall time "
        f"{run['wall_s'] / 60:.1f} min"
        + (f" over {run['invocations']} invocations (the grid resumes; see run.json)"
           if run.get("invocations", 1) > 1 else ""),
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; git {m['git']}",
        f"- engine threads: {run['engine_threads']} (`BEDSIDE_THREADS`; see benchmarks/eval_grid.py)",
        f"- the machine was shared with other work and the grid ran at nice {m['nice']}: it got "
        f"{run['cpu_share']:.2f} of its {m['cores']} cores on average (load average "
        f"{run['loadavg_before'][1]:.1f} before, {run['loadavg_after'][1]:.1f} after, 5-min). Latency, tokens/s "
        "and cost per 1,000 items are wall-time figures: read them as upper bounds for a quiet machine.",
        f"- n per cell (the n column): the first usable items of each task's default file, "
        f"{', '.join(f'{t} {n}' for t, n in run['limits'].items())}; "
        "published rows are the papers' own n on the official sets.",
        "",
    ]
    return "\n".join(lines)


def add_section(md: Path, text: str) -> None:
    """Insert the section after the report's header paragraph (replacing an earlier one)."""
    body = md.read_text(encoding="utf-8")
    if MARK in body:
        start = body.index(MARK)
        end = body.find("\n## ", body.index("\n", start) + 1)
        body = body[:start] + body[end + 1:] if end != -1 else body[:start]
    first_section = body.find("\n## ")
    at = first_section + 1 if first_section != -1 else len(body)
    md.write_text(body[:at] + text + "\n" + body[at:], encoding="utf-8")


def drop_prompts(items: Path) -> None:
    """Keep only the sha256 of each prompt in the committed run: prompts are the shared datasets'
    text, which must not be copied into the repository (../shared/data/README.md). Resuming keys on
    the prompt hash, so a stripped run still resumes without recomputing."""
    if not items.exists():
        return
    rows = [json.loads(line) for line in items.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["prompt"] = None
    tmp = items.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=HERE / "eval_grid.yaml", help="grid file")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "eval_grid", help="run folder")
    ap.add_argument("--limit", type=int, default=None, help="items per cell (default: the grid's limit)")
    ap.add_argument("--threads", type=int, default=1, help="engine threads (default: 1; 0: all cores)")
    ap.add_argument("--report-only", action="store_true", help="only (re)write the report of an existing run")
    args = ap.parse_args(argv)
    out, config = rel(args.out), rel(args.config)
    bedside = [Path(sys.executable).name, "-m", "bedside"]
    run_cmd = [*bedside, "eval", "run", "--config", config, "--out", out, "--no-progress"]
    if args.limit:
        run_cmd += ["--limit", str(args.limit)]
    report_cmd = [*bedside, "eval", "report", out, "--html", f"{out}/report.html", "--md", f"{out}/report.md"]
    record_path = args.out / "run.json"

    if args.report_only:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory(prefix="bedside-bench-") as tmp:
            started, load0, cpu0, t0 = datetime.now(UTC), loadavg(), children_cpu_s(), time.perf_counter()
            env = {**os.environ, "BEDSIDE_THREADS": str(args.threads)}
            proc = subprocess.run([*run_cmd, "--db", str(Path(tmp) / "audit.sqlite3")], cwd=ROOT, env=env)
            wall, cpu = time.perf_counter() - t0, children_cpu_s() - cpu0
        import yaml  # a bedside dependency

        grid = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        limits = {t if isinstance(t, str) else t["name"]: args.limit or (None if isinstance(t, str) else t.get("limit"))
                  or grid.get("limit") for t in grid["tasks"]}
        command = shlex.join([Path(sys.executable).name, rel(Path(__file__)), *sys.argv[1:]])
        this = {"command": command, "started_utc": started.isoformat(timespec="seconds"),
                "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"), "exit_code": proc.returncode,
                "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_share": round(cpu / wall, 2),
                "loadavg_before": load0, "loadavg_after": loadavg(), "limits": limits,
                "engine_threads": args.threads or os.cpu_count()}
        # A resumed grid's cost is every invocation's: keep the earlier ones and total them.
        runs = [*earlier_runs(record_path), this]
        wall_total, cpu_total = sum(r["wall_s"] for r in runs), sum(r["cpu_s"] for r in runs)
        record = {
            "benchmark": "eval_grid",
            "command": command,
            "commands": {"run": shlex.join(run_cmd) + " --db TMP/audit.sqlite3", "report": shlex.join(report_cmd)},
            "started_utc": runs[0]["started_utc"],
            "finished_utc": this["finished_utc"],
            "machine": machine(),
            "run": {**this, "wall_s": round(wall_total, 1), "cpu_s": round(cpu_total, 1),
                    "cpu_share": round(cpu_total / wall_total, 2), "loadavg_before": runs[0]["loadavg_before"],
                    "invocations": len(runs)},
            "runs": runs,
        }
        record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if proc.returncode != 0:
            print(f"grid exited {proc.returncode}; rerun to retry the failed cells", file=sys.stderr)
    drop_prompts(args.out / "items.jsonl")
    subprocess.run(report_cmd, cwd=ROOT, check=True)
    add_section(args.out / "report.md", section(record))
    print(f"wall {record['run']['wall_s'] / 60:.1f} min, CPU share {record['run']['cpu_share']:.2f}; "
          f"{rel(args.out)}/report.md", file=sys.stderr)
    return record["run"]["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
