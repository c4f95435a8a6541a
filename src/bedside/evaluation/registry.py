"""Every task file bedside can see: the bundled ones (resources/tasks/*.yaml) and the user's.

User folders, in order: ``$BEDSIDE_TASKS_DIR`` (os.pathsep-separated), ``<data_dir>/tasks``, and
any ``--tasks-dir``. A user task with a bundled task's name replaces it (the listing shows which
file won); two files with one name in the same folder are an error, since neither can be meant.
Adding a task is adding a file: nothing else changes.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from bedside.errors import ConfigError, InputError
from bedside.evaluation.spec import TaskSpec, load_task_file, load_task_text

TASKS_DIR_ENV = "BEDSIDE_TASKS_DIR"
SUFFIXES = (".yaml", ".yml")


def bundled_tasks() -> list[TaskSpec]:
    folder = resources.files("bedside").joinpath("resources/tasks")
    specs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(SUFFIXES):
            specs.append(load_task_text(entry.read_text(encoding="utf-8"), f"bundled:{entry.name}"))
    return specs


def user_task_dirs(extra: Iterable[Path] = (), data_dir: Path | None = None) -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get(TASKS_DIR_ENV, "").split(os.pathsep) if p]
    if data_dir is not None:
        dirs.append(data_dir / "tasks")
    dirs.extend(Path(p).expanduser() for p in extra)
    return dirs


class TaskRegistry:
    def __init__(self, specs: Iterable[TaskSpec] = ()):
        self.specs: dict[str, TaskSpec] = {}
        for spec in specs:
            self.specs[spec.name] = spec

    @classmethod
    def discover(cls, dirs: Iterable[Path] = ()) -> TaskRegistry:
        registry = cls(bundled_tasks())
        for folder in dirs:
            if not folder.exists():
                continue  # the default user folders are optional
            if not folder.is_dir():
                raise ConfigError(f"tasks folder {folder} is not a folder")
            in_folder: dict[str, TaskSpec] = {}
            for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES):
                spec = load_task_file(path)
                if spec.name in in_folder:
                    raise ConfigError(f"task '{spec.name}' is defined twice: {in_folder[spec.name].source} and {path}")
                in_folder[spec.name] = spec
            registry.specs.update(in_folder)
        return registry

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(sorted(self.specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self.specs)

    def get(self, name: str) -> TaskSpec:
        """A task by name, or a task file by path (handy while writing one)."""
        if name in self.specs:
            return self.specs[name]
        if name.endswith(SUFFIXES) and Path(name).expanduser().is_file():
            return load_task_file(Path(name).expanduser())
        close = difflib.get_close_matches(name, sorted(self.specs), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"unknown task '{name}'{hint}; `bedside eval tasks` lists them")
