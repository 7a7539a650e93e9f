"""Evaluation harness: honest test-time-compute numbers for every strategy and budget.

``run_eval(EvalConfig(...)) -> EvalSummary`` (or ``o1agent eval ...``) solves a dataset with each
method at each token budget, grades every answer after the solve, and writes ``items.jsonl``,
``summary.md``, ``scaling.png`` and ``traces/`` into the output folder; an interrupted run resumes.
What this package is not: a training loop or a model zoo — it measures what the search does.
"""

from __future__ import annotations

from .datasets import EvalDataset, EvalItem, load_dataset, parse_config
from .runner import EvalConfig, EvalSummary, MethodSpec, ProgressEvent, arun_eval, resolve_methods, run_eval
from .stats import MethodStats, bootstrap_interval, percentile, summarize, wilson_interval

__all__ = [
    "EvalConfig",
    "EvalDataset",
    "EvalItem",
    "EvalSummary",
    "MethodSpec",
    "MethodStats",
    "ProgressEvent",
    "arun_eval",
    "bootstrap_interval",
    "load_dataset",
    "parse_config",
    "percentile",
    "resolve_methods",
    "run_eval",
    "summarize",
    "wilson_interval",
]
