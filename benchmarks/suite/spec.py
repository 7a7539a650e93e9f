"""The suite's spec: ``tasks.toml`` read into plain dataclasses, checked before anything runs.

What this is not: the runner (``run.py``) or the report (``report.py``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEC = HERE / "tasks.toml"
TOOL_METHODS = ("default_calculator",)


@dataclass(frozen=True)
class SuiteTask:
    name: str
    dataset: str
    config: dict[str, Any]
    reward: str  # the grounded reward best-of-N (and any extra strategy without its own) uses
    tools: bool  # an arithmetic task: methods with the calculator run here

    def methods(self, names: list[str]) -> list[str]:
        """The method names that run on this task (tool methods only where tools are allowed)."""
        return [m for m in names if self.tools or m not in TOOL_METHODS]


@dataclass(frozen=True)
class Suite:
    model: str
    n: int
    budgets: list[int]
    sample_tokens: int
    seeds: dict[str, int]
    methods: list[str]
    blind_strategy: str
    tasks: dict[str, SuiteTask]
    adaptive: list[str] = field(default_factory=list)
    path: Path = SPEC


def load_suite(path: Path = SPEC) -> Suite:
    """Read and check ``tasks.toml``; a missing key or a bad value names itself."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"cannot read the suite spec {path}: {exc}") from None
    head = data.get("suite") or {}
    missing = [k for k in ("n", "budgets", "sample_tokens", "seeds", "methods") if k not in head]
    if missing:
        raise SystemExit(f"{path}: [suite] lacks {missing}")
    seeds = {str(k): int(v) for k, v in head["seeds"].items()}
    if set(seeds) != {"dev", "test"} or seeds["dev"] == seeds["test"]:
        raise SystemExit(f"{path}: seeds must be two different ones named dev and test, got {seeds}")
    tasks = {}
    for name, t in (data.get("tasks") or {}).items():
        if "dataset" not in t:
            raise SystemExit(f"{path}: task {name} has no dataset")
        tasks[name] = SuiteTask(
            name=name,
            dataset=str(t["dataset"]),
            config=dict(t.get("config") or {}),
            reward=str(t.get("reward", "arith+confidence")),
            tools=bool(t.get("tools", False)),
        )
    if not tasks:
        raise SystemExit(f"{path}: no [tasks.NAME] table")
    return Suite(
        model=str(head.get("model", "embedded")),
        n=int(head["n"]),
        budgets=[int(b) for b in head["budgets"]],
        sample_tokens=int(head["sample_tokens"]),
        seeds=seeds,
        methods=[str(m) for m in head["methods"]],
        blind_strategy=str(head.get("blind_strategy", "best_of_n")),
        tasks=tasks,
        adaptive=[str(a) for a in (data.get("targets") or {}).get("adaptive", [])],
        path=path,
    )
