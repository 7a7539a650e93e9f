"""The server's limits with test doubles: budget ceilings, the admission queue (503 + Retry-After,
waiting is not running), client disconnects, setup off the event loop, and a run that stops its
tasks when cancelled. Real uvicorn on loopback; the embedded-model versions are in
test_server_load.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import httpx
import pytest
from helpers import post_raw, step_responder

from o1agent import Reasoner
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import Completion, join_run
from o1agent.schema import Budget
from o1agent.server import CLIPPED_HEADER, create_app, serve_in_thread
from o1agent.serving import Admission, LoopLagMonitor

SCRIPT = {"0": ["Count pens\n3 pens with 4 sheep each"], "0.0": ["Multiply\n3*4 = 12\nFinal answer: 12"]}
QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"


def provider(latency: float = 0.0, budget: Budget | None = None, strategy: str = "greedy"):
    policy = ScriptedPolicy(step_responder(SCRIPT), latency=latency)
    reasoner = Reasoner(model=policy, strategy=strategy, reward=None, budget=budget)
    return lambda _model_id: reasoner


def body(**extra) -> dict:
    return {"model": "scripted", "messages": [{"role": "user", "content": QUESTION}], **extra}


# ---- budget ceilings ---------------------------------------------------------------------------


def test_budget_within_clips_larger_and_unbounded_values_and_keeps_smaller_ones():
    ceiling = Budget(max_tokens=4000, max_nodes=64, max_seconds=None)
    asked = Budget(max_tokens=None, max_nodes=10, max_seconds=30.0)
    got, clipped = asked.within(ceiling)
    assert (got.max_tokens, got.max_nodes, got.max_seconds) == (4000, 10, 30.0)
    assert clipped == {"max_tokens": {"requested": None, "allowed": 4000}}
    same, none = Budget(max_tokens=100, max_nodes=1).within(ceiling)
    assert none == {} and (same.max_tokens, same.max_nodes) == (100, 1)
    over, clipped = Budget(max_tokens=10**9, max_nodes=10**6).within(ceiling)
    assert (over.max_tokens, over.max_nodes) == (4000, 64) and set(clipped) == {"max_tokens", "max_nodes"}


def test_a_request_cannot_lift_the_served_budget_and_is_told_so():
    app = create_app(provider(budget=Budget(max_tokens=4000, max_nodes=1)), models=["scripted"])
    with serve_in_thread(app) as base:
        url = f"{base}/chat/completions"
        r = httpx.post(url, json=body(budget={"max_tokens": None, "max_nodes": None}))
        assert r.status_code == 200, r.text
        assert r.headers[CLIPPED_HEADER] == "max_tokens=4000,max_nodes=1"
        extra = r.json()["o1agent"]
        assert extra["budget_clipped"] == {
            "max_tokens": {"requested": None, "allowed": 4000},
            "max_nodes": {"requested": None, "allowed": 1},
        }
        # The run really ran under the ceiling: one node, then the node budget stopped it.
        assert extra["nodes"] == 1 and extra["exhausted_by"] == "nodes"

        # Lowering a bound is the client's right: nothing clipped, no header.
        r = httpx.post(url, json=body(budget={"max_tokens": 50}))
        assert r.status_code == 200 and CLIPPED_HEADER not in r.headers
        assert r.json()["o1agent"]["budget_clipped"] == {}

        # Streaming: the header comes with the 200, the field with the usage chunk.
        with httpx.stream("POST", url, json=body(stream=True, budget={"max_nodes": 500})) as s:
            assert s.headers[CLIPPED_HEADER] == "max_nodes=1"
            events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
        tail = events[-1]
        assert tail["o1agent"]["budget_clipped"] == {"max_nodes": {"requested": 500, "allowed": 1}}


# ---- admission ---------------------------------------------------------------------------------


def test_a_full_queue_is_a_503_with_retry_after():
    app = create_app(provider(latency=0.5), models=["scripted"], max_concurrent_runs=1, max_queued=1)

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as c:

            async def one(delay: float) -> httpx.Response:
                await asyncio.sleep(delay)  # arrive in order: running, waiting, refused
                return await c.post(f"{base}/chat/completions", json=body())

            return await asyncio.gather(one(0.0), one(0.2), one(0.4))

    with serve_in_thread(app) as base:
        rs = asyncio.run(burst(base))
        stats = app.state.stats
    assert [r.status_code for r in rs] == [200, 200, 503]
    refused = rs[2]
    assert refused.json()["error"]["code"] == "server_busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert (stats.finished, stats.rejected, stats.active, stats.queued) == (2, 1, 0, 0)


def test_waiting_for_a_slot_does_not_use_up_the_run_timeout():
    # Each run takes ~0.6 s (two calls of 0.3 s) and runs one at a time: the fifth waits ~2.4 s,
    # four times the 1 s run timeout, and still gets its answer.
    app = create_app(provider(latency=0.3), models=["scripted"], max_concurrent_runs=1, request_timeout=1.0)

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as c:
            return await asyncio.gather(*(c.post(f"{base}/chat/completions", json=body()) for _ in range(5)))

    with serve_in_thread(app) as base:
        rs = asyncio.run(burst(base))
    assert [r.status_code for r in rs] == [200] * 5
    assert [r.json()["choices"][0]["message"]["content"] for r in rs] == ["12"] * 5


def test_a_wait_past_queue_timeout_is_a_503():
    app = create_app(provider(latency=2.0), models=["scripted"], max_concurrent_runs=1, queue_timeout=0.5)

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as c:
            first = asyncio.ensure_future(c.post(f"{base}/chat/completions", json=body()))
            await asyncio.sleep(0.2)
            second = await c.post(f"{base}/chat/completions", json=body())
            return [await first, second]

    with serve_in_thread(app) as base:
        first, second = asyncio.run(burst(base))
    assert first.status_code == 200
    assert second.status_code == 503 and "within 0.5s" in second.json()["error"]["message"]
    assert "Retry-After" in second.headers


def test_admission_retry_after_follows_the_line_and_the_run_times():
    adm = Admission(max_active=2, max_queued=10, queue_timeout=None)
    adm._mean_run_s = 4.0
    assert adm.retry_after() == 2  # one more request, two slots, 4 s runs
    adm.stats.queued = 5
    assert adm.retry_after() == 12
    with pytest.raises(ValueError):
        Admission(max_active=0, max_queued=1, queue_timeout=None)


# ---- disconnects -------------------------------------------------------------------------------


def _wait(cond, timeout: float) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out waiting"
        time.sleep(0.01)
    return time.monotonic() - t0


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_cancels_its_run_and_its_place_in_line(stream):
    policy = ScriptedPolicy(step_responder(SCRIPT), latency=30.0)
    reasoner = Reasoner(model=policy, strategy="greedy", reward=None)
    app = create_app(lambda _m: reasoner, models=["scripted"], max_concurrent_runs=1)
    stats = app.state.stats
    with serve_in_thread(app) as base:
        running = post_raw(base, body(stream=stream))
        _wait(lambda: stats.active == 1, 10)
        waiting = post_raw(base, body(stream=stream))
        _wait(lambda: stats.queued == 1, 10)
        waiting.close()
        assert _wait(lambda: stats.queued == 0, 5) < 1.0
        running.close()
        assert _wait(lambda: stats.active == 0, 5) < 1.0
        assert stats.cancelled == 2 and stats.finished == 0
        # The server still serves (nothing left holding the slot).
        reasoner.policy._latency = 0.0  # type: ignore[attr-defined]
        r = httpx.post(f"{base}/chat/completions", json=body(), timeout=30)
        assert r.status_code == 200 and stats.finished == 1


class _ThreadedPolicy:
    """Each call works in a thread for ``seconds`` unless told to stop — like the embedded
    backend, whose decode cannot be cancelled from asyncio without a flag."""

    name = "threaded"
    supports_logprobs = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.lock = threading.Lock()

    def _work(self, stop: threading.Event) -> None:
        with self.lock:
            self.running += 1
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.seconds and not stop.wait(0.01):
                pass
            time.sleep(0.2)  # stopping takes a while: the run must wait for it
        finally:
            with self.lock:
                self.running -= 1

    async def complete(self, request) -> list[Completion]:
        join_run()
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._work, stop))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            while not work.done():  # the run may cancel this task again while it stops
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(work)
            raise
        return [Completion(text="Step\nFinal answer: 1", prompt_tokens=1, completion_tokens=1)] * request.n

    async def aclose(self) -> None:
        return None


def test_a_cancelled_run_returns_only_once_its_model_calls_have_stopped():
    # Two candidates per step, the first greedy: asyncio.gather returns at its first cancelled
    # child (the one waiting), while the other is still in its thread. The run must wait for it.
    policy = _ThreadedPolicy(seconds=30)
    reasoner = Reasoner(model=policy, strategy="dfs", strategy_config={"k": 2}, reward=None, seed=None)

    async def main() -> tuple[int, int]:
        task = asyncio.ensure_future(reasoner.asolve("q"))
        while policy.running < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return policy.running, 0

    running_after, _ = asyncio.run(main())
    assert running_after == 0


# ---- the event loop ----------------------------------------------------------------------------


def test_the_loop_lag_monitor_sees_a_blocking_call():
    async def main() -> tuple[float, float]:
        mon = LoopLagMonitor(interval=0.01)
        mon.start()
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        time.sleep(0.3)  # a blocking call on the loop, on purpose
        await asyncio.sleep(0.05)
        await mon.stop()
        return mon.max_since(t0), mon.max_lag

    since, overall = asyncio.run(main())
    assert 0.25 <= since <= overall


def test_a_provider_that_loads_a_model_does_not_block_the_loop():
    reasoner = Reasoner(model=ScriptedPolicy(step_responder(SCRIPT)), strategy="greedy", reward=None)

    def slow_provider(_model_id: str) -> Reasoner:
        time.sleep(1.5)  # loading a model: seconds, in a worker thread
        return reasoner

    app = create_app(slow_provider, models=["scripted"])

    async def main(base: str) -> tuple[int, float, float]:
        async with httpx.AsyncClient(timeout=60) as c:
            solve = asyncio.ensure_future(c.post(f"{base}/chat/completions", json=body()))
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            health = await c.get(base.removesuffix("/v1") + "/health")
            health_s = time.monotonic() - t0
            r = await solve
            return r.status_code, health_s, health.json()["loop_lag"]["max_ms"]

    with serve_in_thread(app) as base:
        status, health_s, lag_ms = asyncio.run(main(base))
    assert status == 200
    assert health_s < 0.5 and lag_ms < 500
