"""Grading in the eval executor: a grader that could not judge is recorded as an error on the row
(and counts as wrong), not passed off as a wrong answer."""

from __future__ import annotations

from o1agent.errors import BackendError
from o1agent.evaluation.datasets import EvalItem
from o1agent.evaluation.executors import Task, grade, solve_task
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards.base import ScoreRequest, Verdict


class Grader:
    kind = "outcome"
    name = "fixed"

    def __init__(self, verdict: Verdict | Exception) -> None:
        self.verdict = verdict

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return [self.verdict for _ in requests]


ITEM = EvalItem(id="q1", question="What is 2 + 2?", gold="4")


def task(grader: Grader) -> Task:
    return Task(
        item=ITEM,
        grader=grader,
        method="greedy",
        strategy="greedy",
        strategy_config={},
        reward="none",
        max_tokens=400,
        max_nodes=4,
        seed=0,
        model=ScriptedPolicy(["Add.\nFinal answer: 4"], cycle=True),
    )


async def test_a_grader_that_could_not_judge_marks_the_row() -> None:
    failed = Grader(Verdict.failed("tests", OSError("sandbox did not start"), kind="outcome"))
    out = await solve_task(task(failed))
    row = out.row
    assert row["answer"] == "4" and row["correct"] is False and row["score"] == 0.0
    assert row["error"] == "grading: tests failed: OSError: sandbox did not start"


async def test_a_real_verdict_is_no_error() -> None:
    right = await solve_task(task(Grader(Verdict(score=1.0, kind="outcome", rationale="ok"))))
    assert right.row["correct"] is True and right.row["error"] is None
    wrong = await solve_task(task(Grader(Verdict(score=0.0, kind="outcome", rationale="no"))))
    assert wrong.row["correct"] is False and wrong.row["error"] is None and wrong.row["grade"] == "no"


async def test_grade_reports_a_raising_grader_as_an_error() -> None:
    out = await solve_task(task(Grader(BackendError("judge down"))))
    assert out.row["error"] == "grader raised BackendError: judge down" and not out.row["correct"]
    assert await grade(Grader(Verdict(score=1.0)), ITEM, None) == (0.0, "no result", None)
