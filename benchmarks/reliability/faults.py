"""Runs through a faulty backend: a real ``llama_cpp.server`` behind a proxy that breaks ~30 % of calls.

The embedded SmolLM2 GGUF is served by ``llama_cpp.server`` on loopback (``tests/llama_server.py``)
and reached through ``tests/fault_proxy.py``, which answers a seeded share of completion requests
with 429 (``Retry-After``), 503 (HTTP-date ``Retry-After``), 500, a dropped connection, truncated
JSON or a slow reply. Each run is a short beam search (``LiteLLMPolicy`` in completions mode, token
budget ``--max-tokens``) on a reasoning-gym ``products`` question. Per run it checks:

* finished — the run returned a result (a ``RunError`` is a run that did not);
* overshoot — tokens spent beyond ``--max-tokens`` (the budget meter promises at most one step's
  ``step_tokens``);
* accounting — the run's ``usage`` (of its result, or of the ``RunError``'s partial) equals the
  tokens the server delivered intact to it, as counted by the proxy from the server's own
  ``usage`` fields;
* a ``RunError`` raised after the first node was proposed must carry ``.partial``.

    python benchmarks/reliability/faults.py --runs 50 [--fault-rate 0.3] [--seed 0]

The last lines are ``fault_runs``, ``faults_injected``, ``finished``, ``max_overshoot_tokens``,
``accounting_mismatches``, ``errors_without_partial`` (``name: value``). ``fault_runs(runs)`` is
the same as a function (the tests call it with a few runs).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the loopback server and proxy helpers live there

from fault_proxy import FaultProxy  # noqa: E402
from llama_server import LlamaServer  # noqa: E402

from o1agent import Reasoner, gym  # noqa: E402
from o1agent.config import GenerationConfig  # noqa: E402
from o1agent.errors import RunError  # noqa: E402
from o1agent.policies.litellm import LiteLLMPolicy  # noqa: E402

TASK_CONFIG = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}


@dataclass
class FaultReport:
    runs: int = 0
    faults_injected: int = 0
    backend_calls: int = 0
    abandoned_replies: int = 0
    finished: int = 0
    max_overshoot_tokens: int = 0
    accounting_mismatches: int = 0
    errors_without_partial: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # which run, and both counts, for each
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"fault_runs: {self.runs}",
            f"faults_injected: {self.faults_injected} of {self.backend_calls} backend calls",
            f"abandoned_replies: {self.abandoned_replies} (the client had left: timed out or cancelled)",
            f"finished: {self.finished}",
            f"max_overshoot_tokens: {self.max_overshoot_tokens}",
            f"accounting_mismatches: {self.accounting_mismatches}",
            f"errors_without_partial: {self.errors_without_partial}",
        ]


async def _one(
    reasoner: Reasoner, proxy: FaultProxy, question: str, label: str, max_tokens: int
) -> dict[str, Any]:
    proxy.label = label
    proposed = False

    def seen(ev: dict[str, Any]) -> None:
        nonlocal proposed
        proposed = proposed or ev.get("kind") == "propose"

    result, error = None, None
    try:
        result = await reasoner.asolve(question, on_event=seen)
    except RunError as exc:
        error = exc
        result = exc.partial
    spent = result.usage.total_tokens if result is not None else None
    return {
        "finished": error is None,
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "overshoot": max(0, (spent or 0) - max_tokens),
        # A run without a result or partial has nothing to compare (counted below instead).
        "mismatch": spent is not None and spent != proxy.delivered[label],
        "counts": f"{label}: usage {spent} tokens, delivered {proxy.delivered[label]}, "
        f"{'finished' if error is None else type(error).__name__}",
        "without_partial": error is not None and error.partial is None and proposed,
    }


async def fault_runs_async(
    runs: int,
    *,
    base_url: str,
    alias: str,
    fault_rate: float = 0.3,
    seed: int = 0,
    max_tokens: int = 1500,
) -> FaultReport:
    report = FaultReport(runs=runs)
    ds = gym.create_dataset("products", size=max(runs, 1), seed=seed, config=TASK_CONFIG)
    items = gym.items(ds, runs)
    t0 = time.perf_counter()
    with FaultProxy(base_url, fault_rate=fault_rate, seed=seed) as proxy:
        # A long read timeout: the one server decodes the beam's calls one at a time, and on a busy
        # machine a queued call can wait a minute; client timeouts are not among the faults.
        policy = LiteLLMPolicy(
            f"openai/{alias}", api_base=proxy.base_url, chat_template="embedded", logprobs=False, timeout=300
        )
        reasoner = Reasoner(
            model=policy,
            strategy="beam",
            strategy_config={"width": 2, "k": 2, "max_depth": 4},
            reward=None,
            budget={"max_tokens": max_tokens, "max_nodes": 24},
            seed=seed,
        )
        for i, item in enumerate(items):
            row = await _one(reasoner, proxy, str(item["question"]), f"run{i}", max_tokens)
            report.finished += row["finished"]
            report.max_overshoot_tokens = max(report.max_overshoot_tokens, row["overshoot"])
            report.accounting_mismatches += row["mismatch"]
            if row["mismatch"]:
                report.mismatches.append(row["counts"])
            report.errors_without_partial += row["without_partial"]
            if row["error"]:
                report.errors.append(row["error"])
        report.faults_injected = sum(proxy.injected.values())
        report.backend_calls = proxy.calls
        report.abandoned_replies = proxy.abandoned
    report.seconds = time.perf_counter() - t0
    return report


def fault_runs(
    runs: int = 50,
    *,
    fault_rate: float = 0.3,
    seed: int = 0,
    max_tokens: int = 1500,
    base_url: str | None = None,
    alias: str = "smollm2",
) -> FaultReport:
    """``runs`` short runs through the fault proxy; starts a ``llama_cpp.server`` unless
    ``base_url`` names one already serving the embedded GGUF as ``alias``."""
    if base_url is not None:
        return asyncio.run(
            fault_runs_async(
                runs, base_url=base_url, alias=alias, fault_rate=fault_rate, seed=seed, max_tokens=max_tokens
            )
        )
    with LlamaServer(alias=alias) as server:
        return asyncio.run(
            fault_runs_async(
                runs,
                base_url=server.base_url,
                alias=alias,
                fault_rate=fault_rate,
                seed=seed,
                max_tokens=max_tokens,
            )
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--fault-rate", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=1500)
    p.add_argument("--api-base", default=None, help="a running llama_cpp.server (else one is started)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    report = fault_runs(
        args.runs,
        fault_rate=args.fault_rate,
        seed=args.seed,
        max_tokens=args.max_tokens,
        base_url=args.api_base,
    )
    for err in report.errors:
        print(f"run error: {err[:200]}")
    for line in report.mismatches:
        print(f"accounting mismatch: {line}")
    print(f"step_tokens: {GenerationConfig().step_tokens} (the overshoot bound)")
    print(f"seconds: {report.seconds:.0f}")
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
