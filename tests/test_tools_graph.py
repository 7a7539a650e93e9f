"""Tool-using steps inside the reasoning graph: the call pauses generation, the tool runs, the
observation lands in the step, the tree and the trace, and counts against the budget."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.tools import tool

from o1agent import Reasoner
from o1agent.policies import ScriptedPolicy


def _scripted_calc(req):
    # First round writes the call; after the observation the model states the result.
    if req.assistant_prefix.rstrip().endswith("So"):
        return " the total is 1788.\nFinal answer: 1788"
    return "Compute\n```calc\n37*48+12\n```\n"


async def test_calculator_call_runs_and_is_recorded():
    policy = ScriptedPolicy(_scripted_calc)
    r = Reasoner(model=policy, strategy="greedy", reward=None, tools=["calculator"])
    res = await r.asolve("What is 37*48+12?")
    step = res.best_path[0].step
    assert res.answer == "1788"
    assert step.tool_calls and step.tool_calls[0].output == "1788" and step.tool_calls[0].error is None
    assert "```output\n1788\n```" in step.raw
    assert res.usage.tool_calls == 1
    assert any(e.kind == "tool" for e in res.trace)
    # The prompt taught the protocol.
    assert "```calc" in policy.requests[0].messages[0].content


async def test_tool_errors_are_observations_not_crashes():
    def bad(req):
        if req.assistant_prefix.rstrip().endswith("So"):
            return " it failed.\nFinal answer: unknown"
        return "Try\n```calc\n__import__('os')\n```\n"

    res = await Reasoner(
        model=ScriptedPolicy(bad), strategy="greedy", reward=None, tools=["calculator"]
    ).asolve("q?")
    call = res.best_path[0].step.tool_calls[0]
    assert call.error and call.output is None


async def test_langchain_tool_inside_a_solve():
    @tool
    def sheep_per_pen(pens: int) -> str:
        """Number of sheep in the given number of pens (4 per pen)."""
        return str(4 * int(pens))

    def respond(req):
        if req.assistant_prefix.rstrip().endswith("So"):
            return " there are 12 sheep.\nFinal answer: 12"
        return "Look up\n```sheep_per_pen\n3\n```\n"

    policy = ScriptedPolicy(respond)
    res = await Reasoner(model=policy, strategy="greedy", reward=None, tools=[sheep_per_pen]).asolve(
        "How many sheep in 3 pens?"
    )
    call = res.best_path[0].step.tool_calls[0]
    assert call.name == "sheep_per_pen" and call.output == "12"
    assert res.answer == "12"


@pytest.mark.slow
def test_cli_calculator_on_the_embedded_model():
    cli = str(Path(sys.executable).with_name("o1agent"))
    proc = subprocess.run(
        [cli, "solve", "What is 37*48+12?", "--tools", "calculator"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "150"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "calc(37*48+12) → 1788" in proc.stdout
    assert "Answer: 1788" in proc.stdout
