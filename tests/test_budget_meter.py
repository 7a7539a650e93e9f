"""The budget inside a node (``o1agent/graph/meter.py``): every call clipped to the tokens and
seconds left, rounds cut to the choices that fit, tool rounds included; usage of calls that
finished in a failing node reaching ``RunError.partial``. Scripted policies only (the real-server
figures come from ``benchmarks/reliability/faults.py`` and its test in test_faults.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from o1agent import Reasoner
from o1agent.config import GenerationConfig
from o1agent.errors import BackendError, RunError
from o1agent.graph.meter import Meter, estimate_prompt_tokens
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import Completion, CompletionRequest, Message
from o1agent.schema import Budget, Usage

STEP = GenerationConfig().step_tokens


class PerChoicePolicy:
    """Bills the whole prompt on every choice, as a chat API emulating ``n`` does; prompt and
    completion tokens are fixed per call, and every delivered token is summed in ``delivered``."""

    name = "per-choice"
    supports_logprobs = False
    bills_prompt_per_choice = True

    def __init__(
        self,
        *,
        prompt: int = 200,
        text: str = "Think\nso x = 3",
        fail_at: int | None = None,
        latency: float = 0.0,
    ) -> None:
        self.prompt, self.text, self.fail_at, self.latency = prompt, text, fail_at, latency
        self.requests: list[CompletionRequest] = []
        self.delivered = 0

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        self.requests.append(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail_at is not None and len(self.requests) >= self.fail_at:
            raise BackendError("simulated outage")
        depth = request.assistant_prefix.count("Step ")
        used = min(request.max_tokens, 12)
        out = [
            Completion(
                text=f"Think {depth}.{i}\nso x = 3",
                finish_reason="length",
                prompt_tokens=self.prompt,
                completion_tokens=used,
            )
            for i in range(request.n)
        ]
        self.delivered += sum(c.prompt_tokens + c.completion_tokens for c in out)
        return out

    async def aclose(self) -> None:
        return None


def reasoner(policy, strategy: str = "beam", **kw) -> Reasoner:
    kw.setdefault("strategy_config", {"width": 2, "k": 3, "max_depth": 50})
    return Reasoner(model=policy, strategy=strategy, reward=None, **kw)


@pytest.mark.parametrize("max_tokens", [700, 1500, 2999])
def test_a_round_is_cut_to_the_choices_that_fit(max_tokens: int) -> None:
    policy = PerChoicePolicy()
    res = reasoner(policy, budget={"max_tokens": max_tokens, "max_nodes": None}).solve("What is x?")
    assert res.budget_exhausted and res.exhausted_by == "tokens"
    assert res.usage.total_tokens == policy.delivered  # accounting is what the backend billed
    assert res.usage.total_tokens <= max_tokens + STEP
    # Without the meter a 3-choice round costs 3 prompts: the last ones were cut, not sent.
    assert any(r.n < 3 for r in policy.requests[1:]) or res.usage.total_tokens <= max_tokens


def test_tool_rounds_are_metered_and_max_tokens_clipped() -> None:
    def with_calc(req: CompletionRequest) -> str:
        if req.assistant_prefix.rstrip().endswith("```"):
            return "So it is 6.\n"
        return "Multiply\n```calc\n2*3\n```\n"

    policy = ScriptedPolicy(with_calc)
    r = Reasoner(
        model=policy,
        strategy="greedy",
        strategy_config={"max_depth": 50},
        reward=None,
        tools=["calculator"],
        budget={"max_tokens": 1200, "max_nodes": None},
    )
    res = r.solve("What is 2*3?")
    assert res.exhausted_by == "tokens" and res.usage.tool_calls >= 1
    assert res.usage.total_tokens <= 1200 + STEP
    # The last call asked for no more tokens than were left.
    assert min(q.max_tokens for q in policy.requests) < STEP


def test_max_seconds_is_kept_within_a_step() -> None:
    # Calls take 0.4 s, one at a time, and a beam round makes 4 of them: without the meter the
    # second round would end at 2.4 s.
    policy = PerChoicePolicy(latency=0.4, prompt=10)
    r = reasoner(policy, budget={"max_seconds": 1.0, "max_tokens": None, "max_nodes": None}, concurrency=1)
    t0 = time.perf_counter()
    res = r.solve("q?")
    elapsed = time.perf_counter() - t0
    assert res.exhausted_by == "seconds"
    assert elapsed < 1.5, elapsed  # the call in flight is cancelled at the deadline


def test_usage_of_a_failing_node_reaches_the_partial_result() -> None:
    # Greedy-first rounds make two calls per beam; the 6th call fails after three others of its
    # round finished: their tokens must be in the partial result's usage.
    policy = PerChoicePolicy(fail_at=6)
    cfg = {"width": 2, "k": 3, "max_depth": 50, "greedy_first": True, "temperature": 0.8}
    r = reasoner(policy, strategy_config=cfg, budget={"max_tokens": None, "max_nodes": None}, concurrency=1)
    with pytest.raises(RunError) as info:
        r.solve("q?")
    partial = info.value.partial
    assert partial is not None, "a RunError after the first node carries .partial"
    assert len(policy.requests) == 6 and policy.delivered > 0
    assert partial.usage.total_tokens == policy.delivered


def test_meter_admits_the_first_call_and_refuses_what_cannot_fit() -> None:
    req = CompletionRequest(messages=[Message(role="user", content="x" * 400)], max_tokens=96, n=3)
    est = estimate_prompt_tokens(object(), req)
    m = Meter(budget=Budget(max_tokens=50), spent_before=Usage())
    first, reserved = m.admit(ScriptedPolicy(["a"]), req)
    assert first is not None and first.max_tokens >= 1 and reserved > 0  # a tiny budget still answers once
    m = Meter(budget=Budget(max_tokens=est + 200), spent_before=Usage(prompt_tokens=1))
    clipped, _ = m.admit(PerChoicePolicy(), req)
    assert clipped is not None and clipped.n == 1 and clipped.max_tokens == 96
    again, _ = m.admit(PerChoicePolicy(), req)
    assert again is None and m.refused == "tokens"
    assert Meter(budget=Budget(max_tokens=None), spent_before=Usage()).admit(PerChoicePolicy(), req)[0] is req
