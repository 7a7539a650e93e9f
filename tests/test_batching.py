"""Batch calls without a model: ``complete_many``'s default, the graph's rounds (a search round
and lockstep tool loops reach a batching policy as one call each), and the embedded backend's
scheduler (reproducible runs exclusive, one group at a time; a caller that gives up is dropped).
The real batched decoding is tested in test_batching_embedded.py."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from helpers import BatchingScripted, ScriptedEngine, step_responder

from o1agent import Reasoner
from o1agent.config import GenerationConfig
from o1agent.graph import rounds
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import (
    CompletionRequest,
    Message,
    batch_complete,
    complete_concurrently,
)
from o1agent.policies.llamacpp_batch import Scheduler

STEP = GenerationConfig().step_tokens


def _req(text: str = "q", **kw) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="user", content=text)], **kw)


@pytest.fixture()
def batching():
    made: list[BatchingScripted] = []

    def make(responses, **kw) -> BatchingScripted:
        made.append(BatchingScripted(responses, **kw))
        return made[-1]

    yield make
    for p in made:
        p.close()


# ---- complete_many's default ------------------------------------------------------------------


async def test_default_batch_call_is_concurrent_single_calls_within_the_limit():
    in_flight = peak = 0

    class Slow(ScriptedPolicy):
        async def complete(self, request):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().complete(request)

    pol = Slow(lambda r: r.messages[0].content.upper())
    outs = await complete_concurrently(pol, [_req(f"r{i}") for i in range(6)], limit=2)
    assert [o[0].text for o in outs] == [f"R{i}" for i in range(6)] and peak == 2
    assert [o[0].text for o in await pol.complete_many([_req("a"), _req("b")])] == ["A", "B"]

    class OnlyComplete:  # a user's policy object with no complete_many: still served
        name = "mine"

        async def complete(self, request):
            return await pol.complete(request)

    assert [o[0].text for o in await batch_complete(OnlyComplete(), [_req("x")])] == ["X"]


# ---- rounds ---------------------------------------------------------------------------------


async def test_a_round_flushes_when_every_live_seat_waits_in_seat_order_whatever_the_timing():
    calls: list[list[str]] = []

    async def call(reqs: list[str]) -> list[str]:
        calls.append(list(reqs))
        return [r.upper() for r in reqs]

    async def seat(name: str, turns: int) -> list[str]:
        got = []
        for t in range(turns):
            await asyncio.sleep(random.random() / 100)  # timing must not change the batches
            got += await rounds.submit(call, [f"{name}{t}"])
        return got

    for _ in range(3):
        calls.clear()
        out = await rounds.gather(call, seat("a", 1), seat("b", 3), seat("c", 2))
        assert out == [["A0"], ["B0", "B1", "B2"], ["C0", "C1"]]
        # A seat that is done no longer holds the others back.
        assert calls == [["a0", "b0", "c0"], ["b1", "c1"], ["b2"]]


async def test_nested_seats_join_the_round_and_errors_reach_every_seat():
    calls: list[list[str]] = []

    async def call(reqs: list[str]) -> list[str]:
        calls.append(list(reqs))
        if "boom" in reqs:
            raise RuntimeError("backend down")
        return reqs

    async def leaf(x: str) -> str:
        return (await rounds.submit(call, [x]))[0]

    async def inner() -> list[str]:
        return await rounds.gather(call, leaf("b"), leaf("c"))

    assert await rounds.gather(call, leaf("a"), inner(), leaf("d")) == ["a", ["b", "c"], "d"]
    assert calls == [["a", "b", "c", "d"]]
    with pytest.raises(RuntimeError, match="backend down"):
        await rounds.gather(call, leaf("x"), leaf("boom"))
    assert await rounds.submit(call, ["outside"]) == ["outside"]  # no round: a direct call


async def test_a_batch_call_every_seat_gave_up_on_is_cancelled():
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def call(reqs: list[str]) -> list[str]:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return reqs

    async def leaf(x: str) -> str:
        async with asyncio.timeout(0.2):  # as the budget meter's max_seconds does
            return (await rounds.submit(call, [x]))[0]

    with pytest.raises(TimeoutError):
        await rounds.gather(call, leaf("a"), leaf("b"))
    assert started.is_set()
    await asyncio.wait_for(cancelled.wait(), 5)  # nobody reads it: the backend call stops


def test_the_budget_meter_clips_every_request_of_a_batch(batching):
    seen = iter(range(10**6))
    pol = batching(lambda r: f"Think about part {next(seen)} of it\nand keep going")
    res = Reasoner(
        model=pol,
        strategy="beam",
        strategy_config={"width": 2, "k": 3, "max_depth": 50},
        reward=None,
        budget={"max_tokens": 900, "max_nodes": None},
        seed=0,
    ).solve("What is x?")
    assert res.exhausted_by == "tokens" and max(pol.batches) > 1  # the rounds were batched
    assert res.usage.total_tokens <= 900 + STEP
    # The last rounds asked for fewer tokens, or fewer choices, than the strategy wanted.
    assert min(r.max_tokens for r in pol.requests) < STEP or any(r.n < 2 for r in pol.requests[1:])


def test_a_beam_round_reaches_a_batching_policy_as_one_call(batching):
    # Two different root steps: identical siblings would be one candidate and its duplicate.
    script = {"0": ["Step A\nstart", "Step B\nother"], "0.0": ["Final answer: 1"], "0.1": ["Final answer: 2"]}
    pol = batching(step_responder(script))
    Reasoner(
        model=pol,
        strategy="beam",
        strategy_config={"width": 2, "k": 2, "max_depth": 2},
        reward=None,
        budget={"max_nodes": 6},
        seed=0,
    ).solve("q?")
    # Root: one expansion, greedy + sampled in one call; then both beams' expansions together.
    propose = [len(s) for s in pol._engine.steps if s and s[0].metadata.get("purpose") == "propose"]
    assert pol.batches[:2] == [2, 4] and propose[:2] == [2, 4]


def test_tool_loops_advance_in_lockstep_one_call_per_round(batching):
    def respond(req):
        if req.assistant_prefix.rstrip().endswith("So"):
            return " the total is 1788.\nFinal answer: 1788"
        return "Compute\n```calc\n37*48+12\n```\n"

    pol = batching(respond)
    res = Reasoner(
        model=pol, strategy="best_of_n", strategy_config={"n": 3}, reward=None, tools=["calculator"], seed=0
    ).solve("What is 37*48+12?")
    assert res.answer == "1788"
    # Three candidates: their first rounds in one call, their continuations after the tool in another.
    assert pol.batches[:2] == [3, 3]


def test_a_policy_that_does_not_batch_keeps_its_concurrent_single_calls():
    pol = ScriptedPolicy(step_responder({"0": ["Final answer: 1"]}))
    res = Reasoner(model=pol, strategy="best_of_n", strategy_config={"n": 3}, reward=None, seed=0).solve("q?")
    assert res.answer == "1" and [r.n for r in pol.requests[:2]] == [1, 2]


# ---- the scheduler --------------------------------------------------------------------------


def test_a_held_policy_runs_only_its_owners_groups_one_at_a_time(batching):
    pol = batching(lambda r: r.messages[0].content, latency=0.01)
    sched: Scheduler = pol._scheduler
    engine: ScriptedEngine = pol._engine
    owner = object()
    sched.acquire(owner).result(timeout=10)
    assert sched.owner is owner and engine.resets == 1
    other = sched.submit([_req("other")], None).future
    mine1 = sched.submit([_req("m1"), _req("m2")], owner).future
    mine2 = sched.submit([_req("m3")], owner).future
    assert [o[0].text for o in mine1.result(timeout=10)] == ["m1", "m2"]
    assert mine2.result(timeout=10)[0][0].text == "m3"
    assert not other.done()  # held back while the owner holds the policy
    sched.release(owner)
    assert other.result(timeout=10)[0][0].text == "other"
    texts = [[r.messages[0].content for r in s] for s in engine.steps]
    assert texts == [["m1", "m2"], ["m3"], ["other"]]  # the owner's groups never share a step


def test_unowned_groups_share_steps_and_an_acquire_waits_for_them_to_drain(batching):
    pol = batching(lambda r: r.messages[0].content)
    sched: Scheduler = pol._scheduler
    engine: ScriptedEngine = pol._engine
    hold, entered, go = threading.Event(), threading.Event(), threading.Event()
    real_step = engine.step

    def slow_step():
        entered.set()
        go.wait(10)
        real_step()

    engine.step = slow_step  # type: ignore[method-assign]
    busy = threading.Thread(target=sched.call, args=(lambda: hold.wait(10),))
    busy.start()  # the worker is busy: both groups queue up
    a = sched.submit([_req("a")], None).future
    b = sched.submit([_req("b")], None).future
    hold.set()
    assert entered.wait(10)
    held = sched.acquire(key := object())
    assert not held.done()  # a and b are decoding
    go.set()
    held.result(timeout=10)
    assert a.done() and b.done()
    assert [[r.messages[0].content for r in s] for s in engine.steps] == [["a", "b"]]
    sched.release(key)
    busy.join()


def test_a_caller_that_gives_up_is_dropped_before_it_runs(batching):
    gate = threading.Event()
    pol = batching(lambda r: r.messages[0].content)
    engine: ScriptedEngine = pol._engine
    real_step = engine.step
    engine.step = lambda: (gate.wait(10), real_step())  # type: ignore[method-assign]
    engine.width = 1
    first = pol._scheduler.submit([_req("first")], None).future
    gone = pol._scheduler.submit([_req("gone")], None).future
    assert gone.cancel()
    gate.set()
    first.result(timeout=10)
    pol.reset()  # runs once the worker is idle
    assert [r.messages[0].content for s in engine.steps for r in s] == ["first"]
