"""Every registered strategy on a LiteLLM backend: a real llama_cpp.server on loopback."""

from __future__ import annotations

import pytest

from o1agent import Reasoner
from o1agent.search import available_strategies

pytestmark = pytest.mark.slow

SMALL = {
    "dfs": {"k": 2, "max_depth": 2},
    "best_of_n": {"n": 2, "max_depth": 2},
    "beam": {"width": 2, "k": 2, "max_depth": 2},
    "mcts": {"k": 2, "simulations": 2, "max_depth": 2},
    "revision": {"rounds": 1, "max_depth": 2},
    "hybrid": {"width": 2, "k": 2, "rounds": 1, "max_depth": 2},
    "greedy": {"max_depth": 2},
}


@pytest.mark.parametrize("strategy", available_strategies())
async def test_strategy_runs_on_litellm(llama_server, strategy):
    r = Reasoner(
        model=llama_server.model,
        api_base=llama_server.base_url,
        api_key="x",
        strategy=strategy,
        strategy_config={**SMALL.get(strategy, {}), "step_tokens": 32},
        reward="judge",
        budget={"max_tokens": 3000, "max_nodes": 8},
    )
    res = await r.asolve("What is 2+3?")
    assert res.strategy == strategy
    assert len(res.tree) > 1 and res.usage.total_tokens > 0
    assert res.answer  # always an answer, even when the budget ran out
