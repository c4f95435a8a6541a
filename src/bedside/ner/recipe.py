"""Training recipes: which corpora (each with its category) and which hyperparameters.

A recipe is a TOML or JSON file, or the name of one bundled in ``bedside/ner/recipes/``::

    base = "minilm"
    [[train]]
    path = "ncbi_disease/train.tsv"
    category = "MEDICAL_CONDITION"   # optional: otherwise the corpus's own types are mapped
    [[dev]]
    path = "ncbi_disease/dev.tsv"
    category = "MEDICAL_CONDITION"
    [params]
    epochs = 3
    [label_bias]                      # optional logit offsets per category, stored with the model
    MEDICAL_CONDITION = -1.5

Relative corpus paths resolve against ``--data-root`` when given, else against the recipe's folder.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bedside.errors import InputError
from bedside.ner.data import CorpusRef
from bedside.ner.labels import check_category


@dataclass
class TrainParams:
    """Hyperparameters: general defaults; a recipe's [params] table overrides them, the command line overrides both."""

    base: str = "minilm"  # catalog name (or path) of the HF encoder to fine-tune
    epochs: float = 4.0  # fractional epochs allowed: the schedule is planned in steps
    batch_size: int = 32
    lr: float = 1e-4
    warmup: float = 0.06  # fraction of steps with a linear warm-up
    weight_decay: float = 0.01
    max_len: int = 128  # subwords per window, [CLS] and [SEP] included
    seed: int = 13
    max_steps: int = 0  # > 0: stop after this many optimizer steps (and plan the schedule for them)
    # > 0: the LR schedule is re-planned from the measured step time so that training ends within
    # this many minutes (export and scoring come after), decayed properly rather than cut off.
    time_limit_min: float = 0.0
    partial_labels: bool = True  # O in a corpus that does not annotate category X may still be X
    threads: int = 0  # torch threads (0: the settings' threads, else all cores)
    quantize: bool = True

    def update(self, values: dict[str, Any], where: str) -> None:
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in names:
                raise InputError(f"{where}: unknown parameter '{key}' (known: {', '.join(names)})")
            if value is None:
                continue
            kind = type(getattr(self, key))
            if kind is bool and not isinstance(value, bool):
                raise InputError(f"{where}: parameter '{key}' must be true or false")
            try:
                setattr(self, key, kind(value))
            except (TypeError, ValueError) as exc:
                raise InputError(f"{where}: parameter '{key}': {value!r} is not a {kind.__name__}") from exc


@dataclass
class Recipe:
    train: list[CorpusRef] = field(default_factory=list)
    dev: list[CorpusRef] = field(default_factory=list)
    params: TrainParams = field(default_factory=TrainParams)
    label_bias: dict[str, float] = field(default_factory=dict)  # see bedside.ner.infer.bias_vector
    source: str = "command line"


def bundled(name: str) -> Path | None:
    ref = resources.files("bedside.ner").joinpath(f"recipes/{name}.toml")
    return Path(str(ref)) if ref.is_file() else None


def load_recipe(spec: str, data_root: Path | None = None) -> Recipe:
    path = bundled(spec) if "/" not in spec and not spec.endswith((".toml", ".json")) else None
    path = path or Path(spec)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"recipe not found: {spec} (a .toml/.json file or a bundled name such as 'default')"
        ) from exc
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"recipe {path}: cannot parse: {exc}") from exc
    root = data_root or path.parent
    unknown = set(data) - {"train", "dev", "params", "base", "description", "label_bias"}
    if unknown:
        raise InputError(f"recipe {path}: unknown keys {', '.join(sorted(unknown))}")
    recipe = Recipe(source=str(path))
    recipe.train = [_corpus(c, root, path) for c in data.get("train", [])]
    recipe.dev = [_corpus(c, root, path) for c in data.get("dev", [])]
    recipe.params.update({"base": data.get("base"), **data.get("params", {})}, f"recipe {path}")
    recipe.label_bias = _label_bias(data.get("label_bias", {}), path)
    return recipe


def _label_bias(table: Any, where: Path) -> dict[str, float]:
    if not isinstance(table, dict):
        raise InputError(f"recipe {where}: label_bias must be a table of category = number")
    out = {}
    for cat, value in table.items():
        try:
            cat = check_category(cat)
        except ValueError as exc:
            raise InputError(f"recipe {where}: label_bias: {exc}") from exc
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"recipe {where}: label_bias.{cat} must be a number, not {value!r}")
        out[cat] = float(value)
    return out


def _corpus(entry: Any, root: Path, where: Path) -> CorpusRef:
    if not isinstance(entry, dict) or "path" not in entry:
        raise InputError(f"recipe {where}: each train/dev entry needs a 'path'")
    p = Path(entry["path"]).expanduser()
    try:
        cat = check_category(entry["category"]) if entry.get("category") else None
    except ValueError as exc:
        raise InputError(f"recipe {where}: {exc}") from exc
    return CorpusRef(p if p.is_absolute() else root / p, cat)
