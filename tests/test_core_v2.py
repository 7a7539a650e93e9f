"""Core v2 guarantees: one compiled graph, isolated runs, honest seeds, bounded rounds, marked
failures, names validated before loading. Fast tests on ScriptedPolicy; the real-model checks
(8 concurrent seeded requests to ``o1agent serve``) live in test_server.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time

import pytest
from helpers import TableReward, step_responder

import o1agent
from o1agent import Reasoner
from o1agent.cleanup import StepCleanup, answer_from_path, end_if_repeated
from o1agent.errors import ConfigError, UnknownRewardError, UnknownStrategyError
from o1agent.graph import build_reasoning_graph, make_context, shared_graph
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import CompletionRequest
from o1agent.rewards.base import ScoreRequest, Verdict
from o1agent.schema import Node, Step

SCRIPT = {"0": ["Multiply\n3*4 = 12\nFinal answer: 12"]}
OTHER = {"0": ["Add\n2+3 = 5\nFinal answer: 5"]}


def _by_question(req: CompletionRequest) -> list[str]:
    text = req.messages[-1].content
    script = SCRIPT if "sheep" in text else OTHER
    return step_responder(script)(req)


async def test_a_finished_thread_starts_clean_for_its_next_question(tmp_path):
    from o1agent.integrations.checkpoint import open_checkpointer

    async with open_checkpointer(tmp_path / "t.sqlite") as saver:
        r = Reasoner(model=ScriptedPolicy(_by_question), strategy="greedy", reward=None, checkpointer=saver)
        first = await r.asolve("How many sheep?", thread_id="t")
        second = await r.asolve("What is 2+3?", thread_id="t")
    assert (first.answer, second.answer) == ("12", "5")
    assert second.question == "What is 2+3?" and second.run_id != first.run_id
    # Own tree, own budget, own events: nothing of the first run leaks into the second.
    assert len(second.tree) == 2 and second.tree.get("0.0").step.title == "Add"
    assert second.usage.nodes == 1 and second.usage.calls == first.usage.calls
    assert second.usage.total_tokens == pytest.approx(second.tree.get("0.0").prompt_tokens + 7, abs=20)
    assert {e.run_id for e in second.trace} == {second.run_id}
    assert second.trace.events[0].kind == "start" and second.trace.events[0].seq == 0


async def test_unseeded_runs_send_no_seed_anywhere():
    policy = ScriptedPolicy(["Step\nthinking", "Final answer: 4"], cycle=True)
    r = Reasoner(model=policy, strategy="beam", strategy_config={"width": 2, "k": 3}, reward=None, seed=None)
    await r.asolve("q?", budget={"max_nodes": 6})
    assert policy.requests and all(req.seed is None for req in policy.requests)
    seeded = ScriptedPolicy(["Step\nthinking", "Final answer: 4"], cycle=True)
    await Reasoner(model=seeded, strategy="beam", strategy_config={"k": 3}, reward=None, seed=3).asolve(
        "q?", budget={"max_nodes": 6}
    )
    seeds = [req.seed for req in seeded.requests]
    assert all(s is not None for s in seeds) and len(set(seeds)) == len(seeds)  # sampled ≠ greedy seed


async def test_an_empty_rewrite_fails_like_an_empty_proposal():
    script = {"0": ["Guess\n3+4 = 7\nFinal answer: 7"], "revise:0.0": [""]}
    reward = TableReward({"Guess": 0.1})
    r = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy="greedy",
        strategy_config={"revise_below": 0.5, "max_revisions": 1},
        reward=reward,
    )
    res = await r.asolve("q?")
    rewrite = res.tree.get("0.1")
    assert rewrite.revised_from == "0.0" and rewrite.status == "failed" and rewrite.score == 0.0
    assert rewrite.critique == "the backend returned an empty step"
    # The original stays live (attempt counted) and answers; it is not rewritten forever.
    original = res.tree.get("0.0")
    assert original.status != "revised" and original.revisions == 1
    assert res.answer == "7" and len(res.tree) == 3


@pytest.mark.parametrize("strategy", ["greedy", "dfs", "beam", "best_of_n", "mcts", "revision", "hybrid"])
async def test_an_empty_expansion_cannot_loop(strategy):
    policy = ScriptedPolicy([""], cycle=True)
    r = Reasoner(model=policy, strategy=strategy, reward=TableReward({}), seed=1)
    # No node or token bound: only the graph's handling of empty expansions can stop this run.
    res = await asyncio.wait_for(
        r.asolve("q?", budget={"max_nodes": None, "max_tokens": None, "max_seconds": 30}), timeout=30
    )
    assert not res.budget_exhausted, "the run only stopped because the budget ran out"
    assert res.tree.root.status == "failed" and res.usage.nodes <= 8
    assert res.answer is None and res.no_answer_reason == "every step the model proposed was empty"


def test_a_round_is_clipped_to_the_node_budget():
    policy = ScriptedPolicy(["Final answer: 4"], cycle=True)
    res = Reasoner(model=policy, strategy="best_of_n", strategy_config={"n": 64}, reward=None).solve(
        "q?", budget={"max_nodes": 8, "max_tokens": None}
    )
    assert res.usage.nodes == 8 and len(res.tree) == 9
    assert sum(r.n for r in policy.requests if r.metadata.get("purpose") == "propose") == 8


async def test_tool_using_candidates_are_generated_concurrently():
    in_flight = {"now": 0, "max": 0}

    class Slow(ScriptedPolicy):
        async def complete(self, request):
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            try:
                await asyncio.sleep(0.2)
                return await super().complete(request)
            finally:
                in_flight["now"] -= 1

    policy = Slow(["Compute\nSo 2+2 = 4\nFinal answer: 4"], cycle=True)
    r = Reasoner(model=policy, strategy="beam", strategy_config={"width": 1, "k": 3}, reward=None, tools=["calculator"])
    t0 = time.perf_counter()
    await r.asolve("What is 2+2?", budget={"max_nodes": 3})
    assert in_flight["max"] >= 3
    assert time.perf_counter() - t0 < 0.2 * 3


class _Broken:
    name = "broken-judge"
    kind = "process"

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        raise ConnectionError("judge backend down")


async def test_a_grader_failure_is_logged_and_marked_not_scored(caplog):
    r = Reasoner(model=ScriptedPolicy(step_responder(SCRIPT)), strategy="greedy", reward=_Broken())
    with caplog.at_level(logging.WARNING):
        res = await r.asolve("How many sheep?")
    node = res.tree.get("0.0")
    assert node.score is None and node.step_score is None
    assert node.verify_error == "broken-judge failed: ConnectionError: judge backend down"
    assert "judge backend down" in caplog.text
    ev = next(e for e in res.trace if e.kind == "verify")
    assert ev.data["error"] == node.verify_error and "score" not in ev.scores
    assert res.answer == "12"


def test_a_dollar_bound_needs_a_priced_model():
    with pytest.raises(ConfigError, match="reports no prices"):
        Reasoner(model=ScriptedPolicy(["x"]), reward=None, budget={"max_dollars": 1.0})
    r = Reasoner(model=ScriptedPolicy(["x"]), reward=None)
    with pytest.raises(ConfigError, match="reports no prices"):
        r.context_for(budget={"max_dollars": 1.0})
    # A priced model takes it.
    Reasoner(model=ScriptedPolicy(["x"], dollars_per_call=0.01), reward=None, budget={"max_dollars": 1.0})


def test_a_dollar_bound_on_a_model_litellm_cannot_price():
    from o1agent.policies.litellm import LiteLLMPolicy

    unpriced = LiteLLMPolicy("openai/my-local-alias", api_base="http://127.0.0.1:9/v1")
    assert unpriced.prices_tokens is False
    with pytest.raises(ConfigError, match="my-local-alias"):
        Reasoner(model=unpriced, reward=None, budget={"max_dollars": 0.5})
    assert LiteLLMPolicy("openai/gpt-4o-mini", api_key="x").prices_tokens is True


def test_importing_o1agent_changes_no_environment_or_logging():
    code = (
        "import logging, os, json; before = dict(os.environ); root = list(logging.root.handlers);"
        "level = logging.root.level; import o1agent, o1agent.server, o1agent.integrations.langchain;"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k));"
        "print(json.dumps([changed, logging.root.handlers == root, logging.root.level == level]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "LITELLM_LOCAL_MODEL_COST_MAP")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], True, True]


def test_names_are_validated_before_any_model_loads(monkeypatch):
    import o1agent.policies as policies

    def no_load(*_a, **_k):
        raise AssertionError("a model was loaded before the names were checked")

    monkeypatch.setattr(policies, "make_policy", no_load)
    with pytest.raises(UnknownRewardError):
        Reasoner(model="embedded", reward="bogus")
    with pytest.raises(UnknownStrategyError):
        Reasoner(model="embedded", strategy="bogus")
    with pytest.raises(ConfigError):
        Reasoner(model="embedded", strategy_config={"step_tokens": 1})
    from o1agent.integrations.langchain import O1ChatModel

    with pytest.raises(UnknownStrategyError):
        O1ChatModel(strategy="bogus")
    with pytest.raises(UnknownRewardError):
        O1ChatModel(reward="nope")


def test_a_path_works_as_prompts(tmp_path):
    import shutil

    from o1agent.prompts import prompts_root

    folder = tmp_path / "mine"
    shutil.copytree(prompts_root() / "g1", folder)
    res = Reasoner(model=ScriptedPolicy(step_responder(SCRIPT)), strategy="greedy", reward=None, prompts=folder).solve(
        "How many sheep?"
    )
    assert res.answer == "12"
    with pytest.raises(o1agent.errors.PromptError, match="not found"):
        Reasoner(model=ScriptedPolicy(["x"]), prompts=tmp_path / "missing")


async def test_overrides_make_a_new_context_never_a_new_graph(monkeypatch):
    from langgraph.graph import StateGraph

    policy = ScriptedPolicy(step_responder(SCRIPT))
    shared_graph()  # compiled once per process
    r = Reasoner(model=policy, strategy="greedy", reward=None)
    compiled: list[int] = []
    real = StateGraph.compile
    monkeypatch.setattr(StateGraph, "compile", lambda self, *a, **k: compiled.append(1) or real(self, *a, **k))
    for strategy in ("greedy", "beam", "dfs"):
        await r.asolve("How many sheep?", strategy=strategy, budget={"max_nodes": 4}, seed=None, reward="none")
    from o1agent.integrations.langchain import O1ChatModel

    chat = O1ChatModel(model=policy, strategy="greedy", reward=None)
    await chat.ainvoke("How many sheep?", strategy="beam", budget={"max_nodes": 2})
    assert compiled == [] and r.graph is shared_graph() and chat.reasoner().graph is shared_graph()


async def test_a_vote_answer_is_the_answer_with_no_extra_call():
    # Three chains; two never finish but their path says 12, one finishes with 7: majority wins
    # and no finalize call may change the vote.
    def respond(req: CompletionRequest) -> list[str]:
        if req.metadata.get("purpose") == "finalize":
            return ["999"]
        if req.metadata.get("node_id") == "0":
            return ["Work\n3*4 = 12", "Work\n3*4 = 12", "Final answer: 7"][: req.n]
        return ["Still working\n3*4 = 12"] * req.n

    policy = ScriptedPolicy(respond)
    r = Reasoner(
        model=policy,
        strategy="best_of_n",
        strategy_config={"n": 3, "select_by": "majority", "max_depth": 2},
        reward=None,
    )
    res = await r.asolve("How many sheep?")
    assert res.answer == "12"
    assert not [q for q in policy.requests if q.metadata.get("purpose") == "finalize"]


async def test_live_events_are_slim_and_the_trace_is_full():
    r = Reasoner(model=ScriptedPolicy(step_responder(SCRIPT)), strategy="greedy", reward=TableReward({}))
    live: list[dict] = []
    res = await r.asolve("How many sheep?", on_event=live.append)
    propose = next(e for e in live if e["kind"] == "propose")
    assert "node" not in propose["data"] and propose["prompt"] is None
    assert propose["node_id"] == "0.0" and propose["text"].startswith("Multiply")
    full = next(e for e in res.trace if e.kind == "propose")
    assert full.data["node"]["id"] == "0.0" and full.prompt and "sheep" in full.prompt
    assert res.trace.tree().get("0.0").step.answer == "12"


async def test_a_graph_run_without_context_says_what_it_needs():
    with pytest.raises(ConfigError, match="needs a RunContext"):
        await build_reasoning_graph().ainvoke({"question": "q?"})
    ctx = make_context(policy=ScriptedPolicy(step_responder(SCRIPT)), strategy="greedy")
    state = await build_reasoning_graph().ainvoke({"question": "How many sheep?"}, context=ctx)
    assert state["result"].answer == "12"


# ---- the step clean-up layer: each rule names the model behaviour it is for -----------------


def _node(nid: str, raw: str, depth: int = 1) -> Node:
    return Node(id=nid, parent_id="0", depth=depth, step=Step(title=raw.split("\n")[0], raw=raw))


def test_end_if_repeated_stops_smollm2_loops():
    # SmolLM2 repeats its parent word for word once it loops; every later step would too.
    parent = _node("0.0", "Add\n2 + 3 = 5")
    step = end_if_repeated(Step(title="Add", raw="Add\n2  +  3 = 5"), parent)
    assert step.is_final and step.answer == "5"
    fresh = end_if_repeated(Step(title="Add", raw="Add\n5 + 1 = 6"), parent)
    assert not fresh.is_final


def test_answer_from_path_keeps_the_worked_result_of_a_bare_closing_title():
    # SmolLM2 ends a chain with "Provide the final answer" after the work is done.
    path = [_node("0.0", "Multiply\n37*48 = 1776")]
    bare = Step(title="Provide the final answer", raw="Provide the final answer", is_final=True, answer="the final")
    assert answer_from_path(bare, path).answer == "1776"
    stated = Step(title="Done", raw="Final answer: 12", is_final=True, answer="12")
    assert answer_from_path(stated, path).answer == "12"  # an explicit answer is never replaced


def test_the_tool_cue_follows_an_observation_only():
    # After an observation block SmolLM2 emits empty fences; "So" makes it state the result.
    assert StepCleanup().cue_after("```calc\n2+2\n```\n```output\n4\n```") == "So"
    assert StepCleanup().cue_after("2+2 is") == ""
    assert StepCleanup.none().cue_after("```output\n4\n```") == ""


def test_a_style_without_rules_keeps_steps_as_parsed():
    script = {"0": ["Add\n2 + 3 = 5"], "0.0": ["Add\n2 + 3 = 5"], "0.0.0": ["Final answer: 5"]}
    kept = Reasoner(model=ScriptedPolicy(step_responder(script)), strategy="greedy", reward=None).solve("q?")
    raw = Reasoner(
        model=ScriptedPolicy(step_responder(script)), strategy="greedy", reward=None, cleanup="none"
    ).solve("q?")
    assert len(kept.best_path) == 2 and kept.best_path[-1].step.is_final
    assert len(raw.best_path) == 3


def test_seeded_runs_are_exclusive_on_a_stateful_policy():
    # A stand-in for llama.cpp's contract: reproducible_run holds the policy; other runs' calls wait.
    class Stateful(ScriptedPolicy):
        def __init__(self) -> None:
            super().__init__(["Final answer: 1"], cycle=True, latency=0.02)
            self.log: list[str] = []
            self.resets = 0

        def reproducible_run(self, key):
            from o1agent.policies.llamacpp import LlamaCppPolicy

            return LlamaCppPolicy.reproducible_run(self, key)  # type: ignore[arg-type]

        def reset(self) -> None:
            self.resets += 1

        async def complete(self, request):
            self.log.append(request.messages[-1].content)
            return await super().complete(request)

    pytest.importorskip("llama_cpp")
    pol = Stateful()
    pol._run_lock = __import__("o1agent._aio", fromlist=["PerLoop"]).PerLoop(asyncio.Lock)
    pol._owner = None
    r = Reasoner(model=pol, strategy="best_of_n", strategy_config={"n": 3}, reward=None, seed=1)

    async def main():
        await asyncio.gather(r.asolve("alpha?"), r.asolve("beta?"))

    asyncio.run(main())
    assert pol.resets == 2
    order = ["alpha" if "alpha" in m else "beta" for m in pol.log]
    assert order == sorted(order, key=order.index)  # each run's calls are contiguous


def test_reasoner_pool_serves_one_reasoner_per_model():
    from o1agent.server import ReasonerPool

    pool = ReasonerPool(strategy="greedy", reward=None)
    pool.add("s", ScriptedPolicy(["x"]))
    assert pool("s") is pool("s")

