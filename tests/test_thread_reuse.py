"""A finished thread reused with a new question answers the new question, with a fresh tree,
usage, budget and trace — on SQLite and on PostgreSQL (issue 13, item 8: Q2 on Q1's finished
thread used to return Q1's answer with all of Q1's nodes and usage).

The bulk runs on a ScriptedPolicy that answers by question; one test runs the embedded model and
checks the reused thread gives exactly what a fresh thread gives."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import step_responder

from o1agent import Reasoner
from o1agent.errors import ConfigError, RunError
from o1agent.integrations.checkpoint import open_checkpointer, resume
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import CompletionRequest

Q1 = "A farmer has 3 pens with 4 sheep in each. How many sheep?"
Q2 = "What is 2+3?"
SCRIPTS = {
    Q1: {
        "0": ["Count pens\n3 pens of 4", "Multiply\n3*4 = 12"],
        "0.0": ["Multiply\n3*4 = 12\nFinal answer: 12"],
    },
    Q2: {"0": ["Add\n2+3 = 5\nFinal answer: 5"]},
}


def by_question(req: CompletionRequest) -> list[str]:
    text = "\n".join(m.content for m in req.messages)
    question = Q1 if "sheep" in text else Q2
    return step_responder(SCRIPTS[question])(req)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def store(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "threads.sqlite")
    return request.getfixturevalue("postgres_url")


def reasoner(saver: Any, **kw: Any) -> Reasoner:
    kw.setdefault("strategy", "greedy")
    return Reasoner(model=ScriptedPolicy(by_question), reward=None, checkpointer=saver, **kw)


async def test_a_new_question_on_a_finished_thread_gets_its_own_run(store) -> None:
    thread = f"reuse-{id(store)}"
    async with open_checkpointer(store) as saver:
        r = reasoner(saver)
        first = await r.asolve(Q1, thread_id=thread)
        second = await r.asolve(Q2, thread_id=thread)
        # A fresh reasoner (another process, say) reads the same thread the same way.
        third = await reasoner(saver).asolve(Q1, thread_id=thread)
        resumed = await resume(reasoner(saver), thread)  # finished: its last result, no call
        history = [
            s.values["result"]
            async for s in r.graph.aget_state_history({"configurable": {"thread_id": thread}})
            if s.values.get("result") is not None
        ]
    assert (first.answer, second.answer, third.answer) == ("12", "5", "12")
    assert second.question == Q2 and second.tree.root.step.text == Q2
    assert len(second.tree) == 2 and second.tree.get("0.0").step.title == "Add"
    assert second.usage.nodes == 1 and second.usage.calls == 1
    assert (
        second.usage.total_tokens
        == second.tree.get("0.0").prompt_tokens + second.tree.get("0.0").completion_tokens
    )
    assert len({first.run_id, second.run_id, third.run_id}) == 3
    assert {e.run_id for e in second.trace} == {second.run_id}
    # Asking Q1 again is a new run with its own tree, not Q1's old one replayed or merged.
    assert sorted(third.tree.nodes) == sorted(first.tree.nodes) and third.usage.nodes == first.usage.nodes
    assert resumed.run_id == third.run_id and resumed.answer == "12"
    # The checkpoint history keeps every run's answer.
    assert {"12", "5"} <= {res.answer for res in history}


async def test_a_reused_thread_gets_a_fresh_budget(store) -> None:
    thread = f"budget-{id(store)}"
    async with open_checkpointer(store) as saver:
        tight = reasoner(saver, strategy="dfs", strategy_config={"k": 2}, budget={"max_nodes": 2})
        first = await tight.asolve(Q1, thread_id=thread)
        second = await tight.asolve(Q2, thread_id=thread)
    assert first.budget_exhausted and first.exhausted_by == "nodes" and first.usage.nodes == 2
    # Q1's spent budget is not Q2's: Q2 spends its own two nodes (none, had it inherited Q1's).
    assert second.answer == "5" and second.usage.nodes == 2 and len(second.tree) == 3
    assert all(n.step.title == "Add" for n in second.tree.nodes.values() if n.id != "0")


async def test_an_unfinished_thread_refuses_another_question(store) -> None:
    thread = f"unfinished-{id(store)}"
    calls = {"n": 0}

    def dies_in_the_second_call(req: CompletionRequest) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RunError("simulated crash")
        return by_question(req)

    async with open_checkpointer(store) as saver:
        r = Reasoner(
            model=ScriptedPolicy(dies_in_the_second_call), strategy="greedy", reward=None, checkpointer=saver
        )
        with pytest.raises(RunError):
            await r.asolve(Q1, thread_id=thread)
        with pytest.raises(ConfigError, match="unfinished run of another question"):
            await r.asolve(Q2, thread_id=thread)
        done = await r.asolve(Q1, thread_id=thread)  # the same question continues it
    assert done.answer == "12"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_embedded_model_answers_the_new_question_on_a_reused_thread(
    backend, tmp_path, embedded_policy, request
):
    store = str(tmp_path / "e.sqlite") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    q1, q2 = "What is 6*6?", "What is 7+5?"
    kw: dict[str, Any] = {
        "model": embedded_policy,
        "strategy": "greedy",
        "reward": None,
        "seed": 0,
        "tools": ["calculator"],
        "strategy_config": {"max_depth": 3},
        "budget": {"max_tokens": 1500, "max_nodes": 6},
    }
    async with open_checkpointer(store) as saver:
        r = Reasoner(checkpointer=saver, **kw)
        first = await r.asolve(q1, thread_id=f"e-{backend}")
        reused = await r.asolve(q2, thread_id=f"e-{backend}")
        fresh = await r.asolve(q2, thread_id=f"e-{backend}-fresh")
    assert reused.question == q2 and reused.run_id != first.run_id
    # What a fresh thread gives for Q2, node for node and token for token (seeded, exclusive).
    assert reused.answer == fresh.answer
    assert [(n.id, n.step.raw) for n in reused.tree.nodes.values()] == [
        (n.id, n.step.raw) for n in fresh.tree.nodes.values()
    ]
    assert reused.usage.total_tokens == fresh.usage.total_tokens
    assert reused.usage.nodes == len(reused.tree) - 1
    assert all(q1 not in n.prompt for n in reused.tree.nodes.values())
