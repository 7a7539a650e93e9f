"""Unit tests of the reasoning graph with ScriptedPolicy: every node and router, backtracking,
revision, budgets, bad input. Fast; no model."""

from __future__ import annotations

import pytest
from helpers import TableReward, step_responder

from o1agent import Budget, Reasoner
from o1agent.errors import (
    BackendError,
    ConfigError,
    InvalidQuestionError,
    PromptError,
    RunError,
    UnknownModelError,
    UnknownRewardError,
    UnknownStrategyError,
)
from o1agent.graph import build_reasoning_graph
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Result

BACKTRACK_SCRIPT = {
    "0": ["Bad start\nwrong idea", "Good start\nmultiply 3 by 4"],
    "0.0": ["Dead end\nnonsense"],
    "0.1": ["Finish\n3*4 = 12\nFinal answer: 12"],
}
BACKTRACK_TABLE = {"Bad": 0.6, "Good": 0.55, "Dead": 0.1, "Finish": 0.9}


def _dfs(policy, reward, **cfg):
    return Reasoner(
        model=policy,
        strategy="dfs",
        strategy_config={"k": 2, "threshold": 0.5, "greedy_first": False, **cfg},
        reward=reward,
    )


def test_graph_has_the_roadmap_nodes():
    g = build_reasoning_graph()
    nodes = set(g.get_graph().nodes)
    assert {"decompose", "select", "propose", "verify", "revise", "finalize"} <= nodes


async def test_greedy_follows_one_path_to_the_answer():
    script = {"0": ["Count\n3 pens of 4"], "0.0": ["Multiply\n3*4 = 12\nFinal answer: 12"]}
    r = Reasoner(model=ScriptedPolicy(step_responder(script)), strategy="greedy", reward=None)
    res = await r.asolve("How many sheep?")
    assert res.answer == "12"
    assert [n.id for n in res.best_path] == ["0.0", "0.0.0"]
    assert len(res.tree) == 3
    assert not res.budget_exhausted


async def test_dfs_backtracks_from_a_dead_end():
    reward = TableReward(BACKTRACK_TABLE)
    res = await _dfs(ScriptedPolicy(step_responder(BACKTRACK_SCRIPT)), reward).asolve("How many sheep?")
    kinds = [e.kind for e in res.trace]
    assert "backtrack" in kinds
    # 0.0's two candidates are the same text: the second is marked a duplicate of the first
    # (neither scored nor pruned), so only the first is pruned.
    assert kinds.count("prune") == 1
    assert res.tree.get("0.0.1").status == "duplicate" and res.tree.get("0.0.1").duplicate_of == "0.0.0"
    assert res.answer == "12"
    assert [n.id for n in res.best_path] == ["0.1", "0.1.0"]
    # The backtrack event names the node we left and the one we went to.
    bt = next(e for e in res.trace if e.kind == "backtrack")
    assert bt.node_id == "0.1" and bt.data["from"] == "0.0"
    assert res.tree.get("0.0.0").status == "pruned"


async def test_revision_rewrites_a_weak_step():
    script = {
        "0": ["Guess\n3+4 = 7\nFinal answer: 7"],
        "revise:0.0": ["Recheck\n3*4 = 12\nFinal answer: 12"],
    }
    reward = TableReward({"Guess": 0.1, "Recheck": 0.95})
    r = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy="greedy",
        strategy_config={"revise_below": 0.5, "max_revisions": 1},
        reward=reward,
    )
    res = await r.asolve("A farmer has 3 pens with 4 sheep in each. How many sheep?")
    assert res.answer == "12"
    old, new = res.tree.get("0.0"), res.tree.get("0.1")
    assert old.status == "revised"
    assert new.revised_from == "0.0" and new.revisions == 1
    assert "revise" in [e.kind for e in res.trace]
    # The critique of the weak step reached the revise prompt.
    assert any("table score" in m.content for req in r.policy.requests for m in req.messages)  # type: ignore[attr-defined]


async def test_revision_is_bounded_by_max_revisions():
    script = {
        "0": ["Guess\nFinal answer: 7"],
        "revise:0.0": ["Guess again\nFinal answer: 8"],
        "revise:0.1": ["Guess more\nFinal answer: 9"],
    }
    reward = TableReward({"Guess": 0.1})
    r = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy="greedy",
        strategy_config={"revise_below": 0.5, "max_revisions": 2},
        reward=reward,
    )
    res = await r.asolve("q?")
    revised = [n for n in res.tree.nodes.values() if n.revised_from]
    assert len(revised) == 2
    assert res.answer == "9"


async def test_budget_of_nodes_stops_and_still_answers():
    script = {"0": ["Step\nthinking 1"], "0.0": ["Step\nthinking 2 so 5"], "0.0.0": ["Step\nthinking 3"]}
    r = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy="greedy",
        reward=None,
        budget=Budget(max_nodes=2),
    )
    res = await r.asolve("q?")
    assert res.budget_exhausted and res.exhausted_by == "nodes"
    assert res.usage.nodes == 2
    assert res.answer == "5"  # read leniently from the best path: never nothing


async def test_budget_of_tokens_is_checked_before_each_expansion():
    r = Reasoner(
        model=ScriptedPolicy([f"a b c d e f g h i {i}" for i in range(100)]),
        strategy="greedy",
        strategy_config={"max_depth": 50},
        reward=None,
        budget=Budget(max_tokens=200, max_nodes=None),
    )
    res = await r.asolve("q?")
    assert res.budget_exhausted and res.exhausted_by == "tokens"
    per_step = res.best_path[-1].prompt_tokens + res.best_path[-1].completion_tokens
    assert res.usage.total_tokens < 200 + per_step + 50


async def test_events_stream_live_in_order():
    r = _dfs(ScriptedPolicy(step_responder(BACKTRACK_SCRIPT)), TableReward(BACKTRACK_TABLE))
    kinds = [ev["kind"] async for ev in r.astream("How many sheep?")]
    assert kinds[0] == "start" and kinds[-1] == "result"
    assert kinds.index("propose") < kinds.index("verify") < kinds.index("finalize")


async def test_empty_backend_output_scores_low_not_crash():
    r = Reasoner(model=ScriptedPolicy([""], cycle=True), strategy="greedy", reward=TableReward({}))
    res = await r.asolve("q?")
    node = res.tree.get("0.0")
    assert node.status == "failed" and node.score == 0.0
    assert isinstance(res, Result)


async def test_backend_failure_keeps_partial_work():
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] > 1:
            raise BackendError("server went away")
        return "First step\n3 pens"

    r = Reasoner(model=ScriptedPolicy(flaky), strategy="greedy", reward=None)
    with pytest.raises(RunError) as info:
        await r.asolve("q?")
    assert info.value.partial is not None
    assert "0.0" in info.value.partial.tree.nodes


@pytest.mark.parametrize("question", ["", "   ", None, 42])
def test_bad_question(question):
    r = Reasoner(model=ScriptedPolicy(["x"]), strategy="greedy", reward=None)
    with pytest.raises(InvalidQuestionError):
        r.solve(question)  # type: ignore[arg-type]


def test_bad_names_fail_clearly():
    with pytest.raises(UnknownStrategyError, match="nope"):
        Reasoner(model=ScriptedPolicy(["x"]), strategy="nope")
    with pytest.raises(UnknownModelError, match="gpt"):
        Reasoner(model="gpt-imaginary", strategy="greedy")
    with pytest.raises(UnknownRewardError, match="nope"):
        Reasoner(model=ScriptedPolicy(["x"]), strategy="greedy", reward="nope")
    with pytest.raises(ConfigError, match="max_tokens"):
        Budget(max_tokens=0)
    with pytest.raises(ConfigError, match="k"):
        Reasoner(model=ScriptedPolicy(["x"]), strategy="dfs", strategy_config={"k": 0})
    with pytest.raises(PromptError, match="style"):
        Reasoner(model=ScriptedPolicy(["x"]), strategy="greedy", prompts="no-such-style")


async def test_prompt_styles_render_and_differ():
    seen = {}
    for style in ("g1", "thinking", "stepwise"):
        p = ScriptedPolicy(["Final answer: 1"], cycle=True)
        await Reasoner(model=p, strategy="greedy", reward=None, prompts=style).asolve("q?")
        seen[style] = p.requests[0].messages[0].content
    assert len(set(seen.values())) == 3
    assert "exactly one operation" in seen["stepwise"]


async def test_user_prompt_folder_overrides_one_template(tmp_path):
    (tmp_path / "propose.md.j2").write_text(
        "<<user>>\nCUSTOM {{ question }}\n<<assistant>>\nStep {{ steps|length + 1 }}:"
    )
    p = ScriptedPolicy(["Final answer: 1"], cycle=True)
    await Reasoner(model=p, strategy="greedy", reward=None, prompts=str(tmp_path)).asolve("q?")
    assert p.requests[0].messages[-1].content == "CUSTOM q?"


async def test_a_bare_closing_step_takes_the_answer_its_path_worked_out():
    # SmolLM2 often ends with a step title ("Provide the final answer") repeated after the work:
    # the answer is the path's last number, not the title, and never a number from the question.
    script = {
        "0": ["Compute the product\n6 * 8 = 48\nSo the result is 48."],
        "0.0": ["Provide the final answer"],
        "0.0.0": ["Provide the final answer"],
    }
    r = Reasoner(model=ScriptedPolicy(step_responder(script)), strategy="greedy", reward=None)
    res = await r.asolve("What is 6 * 8 + 0?")
    assert res.answer == "48"
    assert res.best_path[-1].step.answer == "48"


async def test_an_explicit_answer_is_never_replaced_by_the_path():
    script = {"0": ["Compute\n6 * 8 = 48"], "0.0": ["Final answer: forty-eight"]}
    r = Reasoner(model=ScriptedPolicy(step_responder(script)), strategy="greedy", reward=None)
    res = await r.asolve("What is 6 * 8?")
    assert res.answer == "forty-eight"
