"""Grounded signals through the whole graph, on a ScriptedPolicy: duplicate siblings, critiques
from grounded checks (and generated ones) in the revise prompt, token confidence on nodes,
``Result.allocation``, the execution check (arithmetic, tools, docstring examples in the real
sandbox), and that gold answers and hidden tests never reach the search."""

from __future__ import annotations

import json

import pytest

from o1agent import Reasoner
from o1agent.evaluation import EvalConfig, run_eval
from o1agent.evaluation.runner import ITEMS
from o1agent.policies.base import Completion, CompletionRequest, TokenLogprob
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards import ArithmeticCheck, ExecutionCheck, ScoreRequest, Weighted
from o1agent.rewards.base import Verdict
from o1agent.schema import Step, ToolCall


def purpose(req: CompletionRequest) -> str:
    return str(req.metadata.get("purpose", ""))


def prompt_of(req: CompletionRequest) -> str:
    return "\n".join(m.content for m in req.messages) + req.assistant_prefix


# ---- duplicates -------------------------------------------------------------------------------


async def test_identical_samples_are_marked_not_expanded_and_still_counted():
    roots = iter(["Count the sheep.\n3 * 4 = 12", "Count the sheep.\n3 * 4 = 12", "Guess\nFinal answer: 7"])

    def respond(req):
        if req.metadata.get("node_id") == "0":
            return [next(roots) for _ in range(req.n)]
        return ["Done\nFinal answer: 12"] * req.n

    policy = ScriptedPolicy(respond)
    res = await Reasoner(
        model=policy, strategy="best_of_n", strategy_config={"n": 3, "select_by": "majority"}, reward=None
    ).asolve("3 pens of 4 sheep?")
    dup = res.tree.get("0.1")
    assert dup.status == "duplicate" and dup.duplicate_of == "0.0" and dup.children == []
    assert dup.score is None and dup.completion_tokens > 0  # its tokens were spent
    # Only 0.0 was continued; its answer votes twice (for itself and its duplicate) and wins.
    assert [r.metadata.get("node_id") for r in policy.requests if purpose(r) == "propose"] == [
        "0",
        "0",
        "0.0",
    ]
    assert res.answer == "12"
    assert res.allocation is not None and res.allocation["duplicates"] == 1
    assert res.usage.completion_tokens == sum(n.completion_tokens for n in res.tree.nodes.values())


async def test_dfs_does_not_score_or_expand_a_duplicate():
    scored: list[str] = []

    class Spy:
        name, kind = "spy", "process"

        async def score(self, reqs):
            scored.extend(r.candidate.raw for r in reqs)
            return [Verdict(score=0.9) for _ in reqs]

    def respond(req):
        if req.metadata.get("node_id") == "0":
            return ["Determine the total number of sheep."] * req.n
        return ["Multiply\n3 * 4 = 12\nFinal answer: 12"] * req.n

    res = await Reasoner(
        model=ScriptedPolicy(respond), strategy="dfs", strategy_config={"k": 2}, reward=Spy()
    ).asolve("sheep?")
    assert res.tree.get("0.1").status == "duplicate"
    assert scored.count("Determine the total number of sheep.") == 1
    assert not res.tree.get("0.1").children and res.answer == "12"


# ---- critiques --------------------------------------------------------------------------------


def _revise_script(first: str, fixed: str):
    def respond(req):
        if purpose(req) == "revise":
            return [fixed] * req.n
        if purpose(req) == "critique":
            return [" the product is wrong: 3 * 4 is 12."] * req.n
        return [first] * req.n

    return respond


async def test_a_failed_arithmetic_claim_is_repaired_and_the_rewrite_continues_from_it():
    # The model only writes what follows the corrected prefix "Multiply\n3 * 4 = 12".
    policy = ScriptedPolicy(_revise_script("Multiply\n3 * 4 = 13\nFinal answer: 13", "\nFinal answer: 12"))
    res = await Reasoner(
        model=policy,
        strategy="revision",
        strategy_config={"rounds": 1, "revise_below": 0.4},
        reward=ArithmeticCheck(),
    ).asolve("3 pens of 4 sheep?")
    old = res.tree.get("0.0")
    assert old.status == "revised" and old.critique_source == "check"
    assert old.critique == "A calculator re-checked the arithmetic: 3 * 4 = 12, not 13."
    assert old.repair == "Multiply\n3 * 4 = 12"
    (rev,) = [r for r in policy.requests if purpose(r) == "revise"]
    # Verify-and-Edit: the proposal prompt, continued greedily from the corrected prefix.
    assert rev.assistant_prefix.endswith("Step 1: Multiply\n3 * 4 = 12") and rev.temperature == 0.0
    (propose,) = [r for r in policy.requests if purpose(r) == "propose"][:1]
    assert rev.messages == propose.messages
    new = res.tree.get("0.1")
    assert new.revised_from == "0.0" and new.step.raw == "Multiply\n3 * 4 = 12\nFinal answer: 12"
    assert new.score == 1.0 and res.answer == "12"
    # The control: the same trigger, but the rewrite is told only that the step may be wrong.
    policy = ScriptedPolicy(
        _revise_script("Multiply\n3 * 4 = 13\nFinal answer: 13", "Multiply\n3 * 4 = 12\nFinal answer: 12")
    )
    await Reasoner(
        model=policy,
        strategy="revision",
        strategy_config={"rounds": 1, "revise_below": 0.4, "critique": "none"},
        reward=ArithmeticCheck(),
    ).asolve("3 pens of 4 sheep?")
    (rev,) = [r for r in policy.requests if purpose(r) == "revise"]
    assert "Reviewer: this step may be wrong; check it." in prompt_of(rev) and "not 13" not in prompt_of(rev)
    assert not rev.assistant_prefix.endswith("12")  # no repair either


class _Judge:
    """Rationale only, like the logprob judge: no grounded critique."""

    name, kind = "judge", "process"

    async def score(self, reqs):
        return [Verdict(score=0.2 if "13" in r.candidate.raw else 0.9, rationale="P(yes)=0.20") for r in reqs]


async def test_a_judges_rationale_or_a_generated_critique():
    script = _revise_script(
        "Multiply\n3 * 4 = 13\nFinal answer: 13", "Multiply\n3 * 4 = 12\nFinal answer: 12"
    )
    policy = ScriptedPolicy(script)
    await Reasoner(model=policy, strategy="revision", strategy_config={"rounds": 1}, reward=_Judge()).asolve(
        "q?"
    )
    (rev,) = [r for r in policy.requests if purpose(r) == "revise"]
    assert "Reviewer: P(yes)=0.20" in prompt_of(rev)
    # critique="generated": the model writes one first (one more call, its tokens counted).
    policy = ScriptedPolicy(script)
    res = await Reasoner(
        model=policy,
        strategy="revision",
        strategy_config={"rounds": 1, "critique": "generated"},
        reward=_Judge(),
    ).asolve("q?")
    kinds = [purpose(r) for r in policy.requests]
    assert kinds.index("critique") < kinds.index("revise")
    (rev,) = [r for r in policy.requests if purpose(r) == "revise"]
    assert "Reviewer: the product is wrong: 3 * 4 is 12." in prompt_of(rev)
    assert res.usage.calls == len(policy.requests)


async def test_weighted_blend_keeps_the_grounded_critique():
    blend = Weighted([(_Judge(), 0.5), (ArithmeticCheck(), 0.5)])
    (v,) = await blend.score([ScoreRequest(question="q", candidate=Step(raw="3 * 4 = 13"))])
    assert v.critique == "A calculator re-checked the arithmetic: 3 * 4 = 12, not 13."
    assert "P(yes)" in v.rationale


# ---- token confidence and allocation ----------------------------------------------------------


def _confident(text: str, top: float) -> Completion:
    words = text.split()
    lps = [TokenLogprob(token=w, logprob=-0.01, top={w: -0.01, "x": top}) for w in words]
    return Completion(text=text, finish_reason="stop", completion_tokens=len(words), logprobs=lps)


async def test_deepconf_asks_for_top_logprobs_and_nodes_keep_token_confidence():
    answers = iter(["7", "5", "5"])

    def respond(req):
        assert req.top_logprobs == 20
        if req.metadata.get("node_id") == "0":
            out = []
            for _ in range(req.n):
                a = next(answers)
                out.append(_confident(f"Add {a}\nFinal answer: {a}", -9.0 if a == "7" else -1.0))
            return out
        return ["Final answer: 0"] * req.n

    res = await Reasoner(
        model=ScriptedPolicy(respond), strategy="deepconf", strategy_config={"n": 3, "eta": 100}, reward=None
    ).asolve("q?")
    node = res.tree.get("0.0")
    assert node.token_confidence == [4.505] * 5  # (0.01 + 9) / 2 per token (5 words)
    # One confident 7 outweighs two unsure 5s (4.5 > 0.505 + 0.505).
    assert res.answer == "7"
    # The two 5s are the same text: one is a duplicate that votes with its original.
    assert res.allocation["duplicates"] == 1 and res.allocation["kept"] == 2
    assert res.allocation["stop"] == "all 3 samples drawn"


async def test_other_strategies_keep_no_token_confidence():
    def respond(req):
        assert req.top_logprobs == 0
        return ["Final answer: 1"] * req.n

    res = await Reasoner(model=ScriptedPolicy(respond, logprob=-0.1), strategy="greedy", reward=None).asolve(
        "q?"
    )
    assert res.tree.get("0.0").token_confidence is None and res.allocation is None


async def test_allocation_reports_a_budget_cut():
    policy = ScriptedPolicy(lambda req: ["Think more about it and count again slowly"] * req.n)
    res = await Reasoner(
        model=policy,
        strategy="adaptive_sc",
        strategy_config={"first": 2, "max_depth": 6},
        reward=None,
        # The warm-up of 2 fits; the meter refuses the wave after it (120 tokens fit only one).
        budget={"max_tokens": 300, "max_nodes": 64},
    ).asolve("q?")
    assert res.budget_exhausted and res.allocation["stop"] == "budget (tokens)"
    assert res.allocation["samples"] == 2


# ---- verification by execution ----------------------------------------------------------------


async def test_execution_check_rechecks_the_whole_path_of_a_final_step():
    check = ExecutionCheck()
    prev = [Step(raw="First 20 + 30 = 50")]
    bad = ScoreRequest(
        question="q",
        previous=[Step(raw="20 + 31 = 50")],
        candidate=Step(raw="Final answer: 50", is_final=True),
    )
    good = ScoreRequest(
        question="q", previous=prev, candidate=Step(raw="50 + 5 = 55\nFinal answer: 55", is_final=True)
    )
    prose = ScoreRequest(question="q", candidate=Step(raw="Let us think."))
    open_bad = ScoreRequest(
        question="q", previous=[Step(raw="20 + 31 = 50")], candidate=Step(raw="then 1 + 1 = 2")
    )
    v_bad, v_good, v_prose, v_open = await check.score([bad, good, prose, open_bad])
    assert v_bad.score == 0.0 and v_bad.critique == "Checked by execution: 20 + 31 = 51, not 50."
    assert v_good.score == 1.0 and v_good.critique is None
    assert v_prose.score == 0.5 and v_prose.rationale == "nothing checkable by execution"
    assert v_open.score == 1.0  # an open step is checked on its own


async def test_execution_check_fails_a_step_built_on_a_tool_error():
    call = ToolCall(name="calculator", arguments={"expression": "1/0"}, error="division by zero")
    req = ScoreRequest(question="q", candidate=Step(raw="I computed it.", tool_calls=[call]))
    (v,) = await ExecutionCheck().score([req])
    assert v.score == 0.0 and "the calculator tool failed on '1/0': division by zero" in (v.critique or "")


QUESTION = '''Complete the following Python function.

from typing import List

def total(xs: List[int]) -> int:
    """Sum of xs.
    >>> total([1, 2])
    3
    >>> total([])
    0
    """
'''


def _final(code: str) -> ScoreRequest:
    return ScoreRequest(
        question=QUESTION,
        candidate=Step(raw=f"Here:\n```python\n{code}\n```\nFinal answer: done", is_final=True),
    )


async def test_execution_check_runs_the_questions_examples_in_the_sandbox():
    right = "def total(xs: List[int]) -> int:\n    return sum(xs)"
    wrong = "def total(xs: List[int]) -> int:\n    return sum(xs) + 1"
    crash = "def total(xs: List[int]) -> int:\n    return xs[0] + xs[1]"
    v_right, v_wrong, v_crash = await ExecutionCheck().score([_final(right), _final(wrong), _final(crash)])
    assert v_right.score == 1.0 and "2 example" in v_right.rationale
    assert v_wrong.score == 0.0
    assert (
        v_wrong.critique
        == "Checked by execution: total([1, 2]) gave 4, expected 3; total([]) gave 1, expected 0."
    )
    assert v_crash.score == 0.0 and "IndexError" in (v_crash.critique or "")
    # No program that defines a function: nothing to run.
    (v,) = await ExecutionCheck().score([_final("print(3)")])
    assert v.score == 0.5


async def test_execution_check_marks_a_sandbox_that_did_not_start(monkeypatch):
    from o1agent.tools import sandbox
    from o1agent.tools.sandbox import SandboxResult

    async def broken(code, **kw):
        return SandboxResult(ok=False, error="no interpreter", exit_code=None)

    monkeypatch.setattr(sandbox, "arun_python", broken)
    (v,) = await ExecutionCheck().score([_final("def total(xs):\n    return sum(xs)")])
    assert v.score is None and v.error is not None and "did not start" in v.error


# ---- gold answers and hidden tests never reach the search ------------------------------------


def _rows(out):
    return [json.loads(line) for line in (out / ITEMS).read_text().splitlines()]


def test_gold_answers_never_reach_the_search_of_a_verified_vote(tmp_path, monkeypatch):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"question": f"What is {a} + {b}?", "answer": f"{a + b}"})
            for a, b in ((17, 25), (31, 44))
        )
        + "\n"
    )
    seen: list[ScoreRequest] = []
    original = ExecutionCheck.score

    async def spy(self, reqs):
        seen.extend(reqs)
        return await original(self, reqs)

    monkeypatch.setattr(ExecutionCheck, "score", spy)
    # The policy never writes the right sums (off by 100), so the gold values can appear in
    # what the search reads only if they leaked from the gold answers.
    policy = ScriptedPolicy(lambda req: ["Add\n1 + 1 = 2\nFinal answer: 1000"] * req.n)
    run_eval(
        EvalConfig(
            dataset=f"jsonl:{data}",
            strategies=["verified_vote"],
            baselines=False,
            budgets=[600],
            model=policy,
            reward="exec",
            out=tmp_path / "o",
        )
    )
    assert seen and policy.requests
    for gold in ("42", "75"):
        for req in policy.requests:
            assert gold not in prompt_of(req)
        for r in seen:
            assert gold not in r.model_dump_json()
    rows = _rows(tmp_path / "o")
    assert len(rows) == 2 and not any(r["correct"] for r in rows)
    assert all(r["allocation"]["samples"] == 4 for r in rows)


def test_hidden_tests_never_run_in_the_search(tmp_path, monkeypatch):
    from o1agent.rewards.code import CodeTests
    from o1agent.tools import sandbox

    programs: list[tuple[str, bool]] = []
    grading = {"on": False}
    run = sandbox.arun_python

    async def spy(code, **kw):
        programs.append((code, grading["on"]))
        return await run(code, **kw)

    original = CodeTests.score

    async def grade(self, reqs):
        grading["on"] = True
        try:
            return await original(self, reqs)
        finally:
            grading["on"] = False

    monkeypatch.setattr(sandbox, "arun_python", spy)
    monkeypatch.setattr(CodeTests, "score", grade)

    def respond(req):
        # HumanEval/0's canonical idea, written as a whole function.
        code = (
            "def has_close_elements(numbers, threshold):\n"
            "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])"
        )
        return [f"Solution\n```python\n{code}\n```\nFinal answer: done"] * req.n

    run_eval(
        EvalConfig(
            dataset="human_eval",
            n=1,
            strategies=["verified_vote"],
            overrides={"n": 2},
            baselines=False,
            budgets=[3000],
            model=ScriptedPolicy(respond),
            reward="exec",
            out=tmp_path / "o",
        )
    )
    searched = [code for code, during_grading in programs if not during_grading]
    graded = [code for code, during_grading in programs if during_grading]
    assert searched and graded  # the docstring examples ran in the search, the tests after it
    assert all("def check(" not in code for code in searched)
    assert any("def check(" in code for code in graded)
    (row,) = _rows(tmp_path / "o")
    assert row["correct"]


@pytest.mark.parametrize("name", ["deepconf", "adaptive_sc", "adaptive", "particle", "verified_vote"])
async def test_every_new_strategy_runs_through_the_graph(name):
    def respond(req):
        if req.metadata.get("node_id") == "0":
            return [f"Try {i}\n2 + 3 = 5" for i in range(req.n)]
        return ["Done\nFinal answer: 5"] * req.n

    res = await Reasoner(model=ScriptedPolicy(respond, logprob=-0.2), strategy=name, reward="arith").asolve(
        "2 + 3?"
    )
    assert res.answer == "5" and res.strategy == name
    assert res.allocation is not None and res.allocation["stop"]
