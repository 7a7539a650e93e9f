"""Per-request setup cost of ``o1agent serve``: from sending an HTTP request to the moment the
policy receives its first completion call.

Requests override the strategy and budget (extra body fields ``strategy``, ``budget``), alternating
greedy and beam over two budgets, so each one builds its own Reasoner and graph — the cost a
server pays before any inference. The policy is a zero-latency ``ScriptedPolicy`` that records
``time.perf_counter()`` at its first ``complete()`` of each request, and the reward is "none", so
nothing else is called. The server runs on loopback in a thread of this process (same clock);
requests are sent one at a time. The last line is ``setup_ms_per_request: X`` (the median).

It measures the framework's setup, not inference, and not the time to the answer.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx

import o1agent
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import Completion, CompletionRequest
from o1agent.server import create_app, serve_in_thread

WARMUP = 6
REQUESTS = 40
QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"
# (strategy, strategy_config, budget): two strategies x two budgets, taken in turn.
VARIANTS: list[tuple[str, dict, dict]] = [
    ("greedy", {"max_depth": 3}, {"max_nodes": 4, "max_tokens": 2000}),
    ("beam", {"width": 2, "k": 2, "max_depth": 2}, {"max_nodes": 8, "max_tokens": None}),
    ("greedy", {"max_depth": 3}, {"max_nodes": 8, "max_tokens": None}),
    ("beam", {"width": 2, "k": 2, "max_depth": 2}, {"max_nodes": 4, "max_tokens": 2000}),
]


class FirstCallClock(ScriptedPolicy):
    """A ScriptedPolicy that notes when the first completion of the current request arrives."""

    def __init__(self) -> None:
        super().__init__(["Multiply the pens by the sheep\n3 * 4 = 12\nFinal answer: 12"], cycle=True)
        self.first_call: float | None = None

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        return await super().complete(request)


def _app(policy: ScriptedPolicy) -> object:
    """The server app serving ``policy`` as "scripted"."""
    try:
        from o1agent.server import ReasonerPool
    except ImportError:  # the release before core v2 (PolicyPool), for the "before" figure
        from o1agent.server import PolicyPool  # type: ignore[attr-defined]

        old = PolicyPool()
        old._policies["scripted"] = policy
        return create_app(old, models=["scripted"], default_reward="none")  # type: ignore[call-arg]
    pool = ReasonerPool(strategy="greedy", reward="none")
    pool.add("scripted", policy)
    return create_app(pool, models=["scripted"])


def main() -> None:
    print(f"o1agent: {o1agent.__file__}", file=sys.stderr)
    policy = FirstCallClock()
    app = _app(policy)
    samples: dict[str, list[float]] = {}
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60.0) as client:
        for i in range(WARMUP + REQUESTS):
            strategy, config, budget = VARIANTS[i % len(VARIANTS)]
            body = {
                "model": "scripted",
                "messages": [{"role": "user", "content": QUESTION}],
                "strategy": strategy,
                "strategy_config": config,
                "budget": budget,
                "reward": "none",
            }
            policy.first_call = None
            sent = time.perf_counter()
            resp = client.post("/chat/completions", json=body)
            resp.raise_for_status()
            if policy.first_call is None:
                raise SystemExit(f"request {i} ({strategy}) finished without calling the policy")
            if i >= WARMUP:
                key = f"{strategy} max_nodes={budget['max_nodes']}"
                samples.setdefault(key, []).append((policy.first_call - sent) * 1000)
    for key, ms in samples.items():
        print(f"{key}: median {statistics.median(ms):.2f} ms over {len(ms)}", file=sys.stderr)
    every = [m for ms in samples.values() for m in ms]
    print(f"requests: {len(every)}")
    print(f"setup_ms_p90: {statistics.quantiles(every, n=10)[-1]:.2f}")
    print(f"setup_ms_per_request: {statistics.median(every):.2f}")


if __name__ == "__main__":
    main()
