"""One budget for every strategy: a tight ``Budget`` stops any registered strategy within one
expansion round of the bound, and the run still answers, flagged ``budget_exhausted``.

The scripted policy never states a final answer, so only the budget can end these runs (max_depth
is set far out of reach). "Within one round" is checked from the trace: everything the graph
created after its last ``select`` is the last round, and the usage *before* that round must be
under the bound — the budget was checked, found unspent, and one round ran.
"""

from __future__ import annotations

import pytest
from helpers import TableReward

from o1agent import Budget, Reasoner
from o1agent.config import GenerationConfig
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import CompletionRequest
from o1agent.schema import Node, Result
from o1agent.search import available_strategies

# Strategy configs for the test, and the most nodes one round of each may create (proposals plus
# the graph's revisions of them).
CONFIGS: dict[str, tuple[dict, int]] = {
    "greedy": ({}, 1),
    "dfs": ({"k": 2}, 2),
    "beam": ({"width": 2, "k": 2}, 4),
    "best_of_n": ({"n": 3}, 3),
    "mcts": ({"k": 2, "simulations": 10_000}, 2),
    "mcts_rollout": ({"k": 2, "simulations": 10_000, "evaluation": "rollout"}, 2),
    "revision": ({"rounds": 2}, 3),
    "hybrid": ({"width": 2, "k": 2, "rounds": 1, "revise_below": 0.75}, 8),
    "hybrid_kept": ({"width": 2, "k": 2, "rounds": 1, "revise_below": 0.75, "revise": "kept"}, 4),
    "deepconf": ({"n": 3}, 3),
    "adaptive_sc": ({"first": 3}, 3),
    "adaptive": ({"first": 2}, 2),
    "particle": ({"particles": 3}, 3),
    "verified_vote": ({"n": 3}, 3),
}


def _cases() -> list[str]:
    # Every registered strategy must be covered: a new one without a config here fails loudly.
    return sorted({*available_strategies(), *CONFIGS})


def _never_finishes(req: CompletionRequest) -> list[str]:
    purpose = req.metadata.get("purpose")
    if purpose == "finalize":
        return ["3"] * req.n
    # Each step differs from its parent (the graph ends a chain whose step repeats its parent).
    depth = req.assistant_prefix.count("Step ")
    if purpose == "revise":
        return [f"Rethink {depth}\nso x = 3"] * req.n
    return [f"Think {depth}\nso x = 3"] * req.n


def _run(case: str, budget: Budget) -> Result:
    name = case.removesuffix("_rollout").removesuffix("_kept")
    assert case in CONFIGS, f"strategy {case!r} has no budget-test config"
    cfg = {**CONFIGS[case][0], "max_depth": 60}
    r = Reasoner(
        model=ScriptedPolicy(_never_finishes),
        strategy=name,
        strategy_config=cfg,
        reward=TableReward({"Think": 0.6, "Rethink": 0.6}),
        budget=budget,
    )
    return r.solve("What is x?")


def _last_round(res: Result) -> list[Node]:
    last_select = max(e.seq for e in res.trace if e.kind == "select")
    ids = [e.node_id for e in res.trace if e.kind in ("propose", "revise") and e.seq > last_select]
    return [res.tree.get(i) for i in ids if i is not None]


def _tokens(nodes: list[Node]) -> int:
    return sum(n.prompt_tokens + n.completion_tokens for n in nodes)


@pytest.mark.parametrize("case", _cases())
def test_node_budget_stops_within_one_round(case):
    res = _run(case, Budget(max_nodes=9, max_tokens=None))
    assert res.budget_exhausted and res.exhausted_by == "nodes"
    assert res.answer == "3"
    last = _last_round(res)
    assert 1 <= len(last) <= CONFIGS[case][1]
    assert res.usage.nodes >= 9
    assert res.usage.nodes - len(last) < 9
    assert res.usage.nodes == len(res.tree) - 1


@pytest.mark.parametrize("case", _cases())
def test_token_budget_stops_within_one_step(case):
    res = _run(case, Budget(max_tokens=900, max_nodes=None))
    assert res.budget_exhausted and res.exhausted_by == "tokens"
    assert res.answer == "3"
    nodes = [n for n in res.tree.nodes.values() if n.id != res.tree.root_id]
    # No finalize call once the budget is spent: every token is on a node of the tree.
    assert res.usage.total_tokens == _tokens(nodes)
    # Each call is clipped to what is left (meter.py): the bound is overshot by less than one
    # step's tokens, however many candidates the last round asked for ...
    assert res.usage.total_tokens <= 900 + GenerationConfig().step_tokens
    # ... and the run did not stop early: the call it refused would not have fit.
    biggest_call = max(n.prompt_tokens + n.completion_tokens for n in nodes)
    assert res.usage.total_tokens > 900 - 2 * biggest_call


@pytest.mark.parametrize("case", ["beam", "mcts", "hybrid"])
def test_unbounded_search_is_bounded_by_the_budget_alone(case):
    # With a generous budget the same scripted runs still end, by the budget, and answer.
    res = _run(case, Budget(max_nodes=40, max_tokens=None))
    assert res.budget_exhausted and res.answer == "3"
    assert res.usage.nodes < 40 + CONFIGS[case][1]
