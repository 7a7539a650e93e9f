"""Graders and the tool loop against the real embedded model (SmolLM2-135M). Slow; kept short."""

from __future__ import annotations

import math

import pytest

from o1agent.policies.base import Completion, CompletionRequest, Message
from o1agent.rewards import Confidence, LLMJudge, ScoreRequest
from o1agent.schema import Step
from o1agent.tools import generate_with_tools, make_tools, stop_sequences, tool_descriptions

pytestmark = pytest.mark.slow

QUESTION = "What is 37 * 48 + 12?"


async def test_judge_gives_probabilities_for_right_and_wrong_steps(fresh_embedded) -> None:
    judge = LLMJudge(fresh_embedded)
    right, wrong = await judge.score(
        [
            ScoreRequest(question=QUESTION, candidate=Step(raw="37 * 48 = 1776, and 1776 + 12 = 1788.")),
            ScoreRequest(question=QUESTION, candidate=Step(raw="37 * 48 = 12, and 12 + 12 = 5.")),
        ]
    )
    for v in (right, wrong):
        assert v.score is not None and 0.0 <= v.score <= 1.0
        assert "P(yes)" in v.rationale  # read from logprobs, not from parsed text
        assert v.usage.calls == 1 and v.usage.prompt_tokens > 0


async def test_confidence_from_a_real_completion(fresh_embedded) -> None:
    outs = await fresh_embedded.complete(
        CompletionRequest(
            messages=[Message(role="user", content=QUESTION)], max_tokens=16, temperature=0.0, logprobs=True
        )
    )
    lp = outs[0].mean_logprob
    assert lp is not None and lp < 0
    (v,) = await Confidence().score(
        [ScoreRequest(question=QUESTION, candidate=Step(raw=outs[0].text), mean_logprob=lp)]
    )
    assert v.score == pytest.approx(math.exp(lp)) and 0.0 < v.score < 1.0


async def test_tool_loop_with_the_real_model(fresh_embedded) -> None:
    tools = make_tools(["calc"])
    request = CompletionRequest(
        messages=[
            Message(role="system", content="Use tools:\n" + tool_descriptions(tools)),
            Message(role="user", content=QUESTION),
        ],
        max_tokens=24,
        temperature=0.0,
        stop=["\nStep 2:", *stop_sequences(tools)],
    )
    prompts: list[str] = []

    async def complete(text_so_far: str) -> Completion:
        prompts.append(text_so_far)
        if not text_so_far:  # round 0 scripted: the call a tool-using model would write
            return Completion(
                text="I will use the calculator.\n```calc\n37*48+12\n```\n", finish_reason="stop"
            )
        out = await fresh_embedded.complete(request.model_copy(update={"assistant_prefix": text_so_far}))
        return out[0]

    res = await generate_with_tools(complete, tools, max_rounds=2)
    assert len(prompts) >= 2 and prompts[1].endswith("```output\n1788\n```\n")  # the model saw the result
    assert res.tool_calls[0].output == "1788"
    assert res.completions[1].completion_tokens > 0 and res.text.startswith(prompts[1])
