"""Evaluation harness: tasks as data files, loaders, metrics with bootstrap CIs, a resumable runner.

A task is a YAML file (spec.py); the registry finds bundled and user task files; the runner sends
every item through ``bedside.runtime.Runtime`` (or, for ``--model bedside-ner``, bedside's own
extraction pipeline: pipelines.py) and writes per-item records and per-cell results with
provenance (results.py).

Loaders, parsers, metrics and pipeline adapters are registries; the modules of structured tasks add
theirs when imported here: mentions (NER), icd_coding (CodiEsp), ddi (DDI 2013), grounding
(radiology impressions).
"""

# Registrations (loaders, parsers, metrics, adapters) of the structured tasks (import order is free).
from bedside.evaluation import ddi, grounding, icd_coding, mentions  # noqa: F401
from bedside.evaluation.loaders import Dataset, Item, Malformed, load_dataset
from bedside.evaluation.metrics import Metric, get_metric, metric_names, register_metric, score
from bedside.evaluation.registry import TaskRegistry
from bedside.evaluation.runner import RunOptions, RunSummary, run_task
from bedside.evaluation.spec import TaskSpec, load_task_file

__all__ = [
    "Dataset", "Item", "Malformed", "Metric", "RunOptions", "RunSummary", "TaskRegistry", "TaskSpec",
    "get_metric", "load_dataset", "load_task_file", "metric_names", "register_metric", "run_task", "score",
]
