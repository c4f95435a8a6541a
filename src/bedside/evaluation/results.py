"""What a run leaves in its out dir, and how a rerun finds what is already done.

- ``items.jsonl``: one line per scored item, appended (and flushed) as soon as the item is done,
  so an interrupted run loses at most the item in flight. A rerun reuses a line when its cell key,
  item id, prompt hash, model hash and gold all match; anything else is computed again. The last
  matching line wins, and a torn last line (killed mid-write) is skipped with a warning.
- ``results.json``: one entry per cell (task x model x strategy x shots x decoding x data), each
  with metrics + CIs, counts, latency, throughput, memory, and provenance. A run replaces its own
  cell and keeps the others, so one folder can hold a whole grid. The cost is priced when the cell
  is written (cost.py); relative performance to a reference row is filled by a grid run or the report
  (references.py), null until then. Published reference rows are cells with ``measured: false``.

The per-item prompt and output text are kept unless ``store_text`` is off (then only hashes):
these are the per-sample records a reviewer needs, and they stay in the user's out dir.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedside.errors import InputError

ITEMS_FILE = "items.jsonl"
RESULTS_FILE = "results.json"
RESULTS_FORMAT = "bedside.eval.results/1"

log = logging.getLogger("bedside.evaluation")


@dataclass(frozen=True)
class CellKey:
    task: str
    task_version: int
    model: str
    strategy: str  # zero-shot | few-shot | pipeline
    shots: int
    decoding: str  # constrained | free | none (pipeline)
    data: str  # the evaluated file's name: dev and held-back test runs are separate cells

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        strategy = f"{self.strategy}-{self.shots}" if self.strategy == "few-shot" else self.strategy
        if self.strategy != "pipeline":  # a pipeline does not decode
            strategy = f"{strategy} · {self.decoding}"
        return f"{self.task} v{self.task_version} · {self.model} · {strategy} · {self.data}"


class ItemLog:
    def __init__(self, out_dir: Path):
        self.path = out_dir / ITEMS_FILE
        self._fh: Any = None

    def load(self, key: CellKey) -> dict[str, dict[str, Any]]:
        """This cell's finished items by item id (later lines win)."""
        done: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return done
        wanted = key.as_dict()
        with self.path.open("rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    log.warning("%s:%d: unreadable result line skipped (an interrupted write?)", self.path, line_no)
                    continue
                if isinstance(record, dict) and record.get("cell") == wanted and "item_id" in record:
                    done[str(record["item_id"])] = record
        return done

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torn = self.path.exists() and self.path.stat().st_size > 0 and not self._ends_with_newline()
            self._fh = self.path.open("a", encoding="utf-8")
            if torn:  # a killed run's half line: end it, or the next record would be glued onto it
                self._fh.write("\n")
        self._fh.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._fh.flush()

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_results(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RESULTS_FILE
    if not path.exists():
        return {"format": RESULTS_FORMAT, "cells": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}; move it away to start a fresh results file") from exc
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise InputError(f"{path} is not a bedside results file ({RESULTS_FORMAT})")
    return data


def write_cell(out_dir: Path, cell: dict[str, Any]) -> Path:
    """Put ``cell`` into results.json, replacing the cell with the same key; atomic."""
    data = read_results(out_dir)
    cells = [c for c in data.get("cells", []) if c.get("key") != cell["key"]]
    cells.append(cell)
    cells.sort(key=lambda c: json.dumps(c["key"], sort_keys=True))
    data = {"format": RESULTS_FORMAT, "updated_at": now_utc(), "cells": cells}
    path = out_dir / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process (the model included: it runs in-process).

    On Linux this is the peak since the last ``reset_peak_rss`` (VmHWM), so each cell of a grid
    reports its own peak rather than the largest model loaded before it; elsewhere the process peak.
    """
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return round(hwm / 1024, 1)
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def reset_peak_rss() -> bool:
    """Start a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM to the current RSS)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_model() -> str | None:
    """The CPU's marketing name where the OS tells it (Linux), for the report's machine line."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_revision() -> tuple[str | None, bool | None]:
    """(commit, has uncommitted changes) of the bedside source checkout; (None, None) if installed."""
    import bedside

    src = Path(bedside.__file__).resolve().parent
    try:
        top = _git(src, "rev-parse", "--show-toplevel")
        if top is None or not (Path(top) / "src" / "bedside").is_dir():
            return None, None  # installed inside some other repository's tree
        rev = _git(src, "rev-parse", "HEAD")
        status = _git(src, "status", "--porcelain")  # new untracked modules change behaviour too
    except OSError:
        return None, None
    return rev, (bool(status) if status is not None else None)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    from bedside import __version__

    rev, dirty = git_revision()
    return {
        "bedside_version": __version__, "git_revision": rev, "git_dirty": dirty,
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
    }
