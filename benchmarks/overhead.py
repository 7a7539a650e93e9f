"""o1agent's own cost per search node, with a zero-latency ScriptedPolicy and reward.

Runs a ~1,000-node DFS (k=10, depth 3) through the full LangGraph reasoning graph — prompts
rendered, steps parsed, tree merged, trace recorded — and prints the wall time per node. The
last line is ``overhead_ms_per_node: X`` (target ≤ 1.0). No model is involved: this measures the
framework, not inference.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from o1agent import Budget, Reasoner
from o1agent.policies import ScriptedPolicy
from o1agent.rewards.base import ScoreRequest, Verdict

NODES = 1000


class ConstantReward:
    kind = "process"
    name = "constant"

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [Verdict(score=0.6) for _ in requests]


async def run_once() -> tuple[int, float]:
    counter = iter(range(10**9))
    # Every step differs from its parent (the graph ends a chain whose step repeats its parent).
    policy = ScriptedPolicy(lambda req: f"Think {next(counter)}\nconsider the pens and the sheep")
    reasoner = Reasoner(
        model=policy,
        strategy="dfs",
        strategy_config={"k": 10, "max_depth": 3, "threshold": 0.1, "greedy_first": False},
        reward=ConstantReward(),
        budget=Budget(max_nodes=NODES, max_tokens=None),
    )
    t0 = time.perf_counter()
    result = await reasoner.asolve("How many sheep are there?")
    elapsed = time.perf_counter() - t0
    return len(result.tree) - 1, elapsed


def main() -> None:
    asyncio.run(run_once())  # warm-up: imports, graph compile paths
    best = None
    for _ in range(3):
        nodes, elapsed = asyncio.run(run_once())
        per = elapsed * 1000 / nodes
        print(f"run: {nodes} nodes in {elapsed:.2f}s = {per:.3f} ms/node", file=sys.stderr)
        best = per if best is None else min(best, per)
    if nodes < NODES:
        raise SystemExit(f"the search built only {nodes} nodes; the benchmark needs {NODES}")
    print(f"nodes: {nodes}")
    print(f"overhead_ms_per_node: {best:.3f}")


if __name__ == "__main__":
    main()
