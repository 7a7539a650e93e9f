"""ArithmeticCheck: a grounded process reward that re-computes a step's own arithmetic claims."""

from __future__ import annotations

import asyncio
import time

import pytest

from o1agent.rewards import ArithmeticCheck, check_claims, find_claims, make_reward
from o1agent.rewards.base import ScoreRequest
from o1agent.schema import Step


@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("3 * 4 = 12", [("3 * 4", "12")]),
        ("so 37×48 + 12 = 1,788 sheep", [("37×48 + 12", "1788")]),
        ("7 x 8 = 54", [("7*8", "54")]),
        ("There are 3 pens and 12 sheep.", []),
        ("(2 + 3) * 4 = 20", [("(2 + 3) * 4", "20")]),
        # Prose claims, as SmolLM2 writes them.
        ("Add 21 and 81 to get 160.", [("21 + 81", "160")]),
        ("Subtract 160 from 200 to get 80.", [("200 - 160", "80")]),
        ("Multiply 16 by 80 to get 1080.", [("16 * 80", "1080")]),
        ("Divide 12 by 4 to get 3", [("12 / 4", "3")]),
        ("the sum of 3 and 4 and 5 is 12", [("3 + 4 + 5", "12")]),
        ("The difference between 9 and 4 is 5", [("9 - 4", "5")]),
        ("6 times 7 is 42, and 1,200 plus 30 equals 1,230", [("1200 + 30", "1230"), ("6 * 7", "42")]),
        ("Add 19 to 72", []),  # no result stated: nothing to check
        ("Add 28 and 61\n28 + 61 = 109", [("28 + 61", "109")]),
    ],
)
def test_find_claims(text, claims):
    assert find_claims(text) == claims


def test_check_claims_counts_right_and_wrong():
    correct, total, notes = check_claims("3*4 = 12 and 7*8 = 54 and 10/4 = 2.5")
    assert (correct, total) == (2, 3)
    assert notes == ["7*8 = 56, not 54"]


async def test_scores_steps_strictly_or_by_fraction():
    strict, soft = ArithmeticCheck(), ArithmeticCheck(strict=False)
    req = lambda raw: ScoreRequest(question="q", candidate=Step(raw=raw))  # noqa: E731
    good, bad, mixed, prose = (
        req("3*4 = 12"),
        req("3*4 = 13"),
        req("3*4 = 12, 2+2 = 5"),
        req("Count the pens."),
    )
    s = [v.score for v in await strict.score([good, bad, mixed, prose])]
    assert s == [1.0, 0.0, 0.0, 0.5]
    assert (await soft.score([mixed]))[0].score == 0.5
    v = (await strict.score([bad]))[0]
    assert "3*4 = 12, not 13" in v.rationale


async def test_registered_and_composable():
    rm = make_reward("arith+confidence", policy=None)  # type: ignore[arg-type]
    out = await rm.score([ScoreRequest(question="q", candidate=Step(raw="2+2 = 5"), mean_logprob=-0.1)])
    assert out[0].score is not None and out[0].score < 0.5


def test_repair_puts_the_calculators_value_at_the_first_wrong_claim():
    from o1agent.rewards.arith import repair_of

    assert repair_of("Add 21 and 81 to get 160. Then 102 - 58 = 44") == "Add 21 and 81 to get 102"
    assert repair_of("First 2 + 2 = 4, then 4 * 3 = 13 and 13 + 1 = 14") == "First 2 + 2 = 4, then 4 * 3 = 12"
    assert repair_of("3 * 4 = 12") is None and repair_of("no claims") is None


async def test_grading_a_huge_step_leaves_the_event_loop_free():
    # ~64 kB of claims, each re-computed by the calculator: CPU work the server's loop must not
    # wait for (other runs decode and stream meanwhile).
    text = "123*456 = 56088, " * 3_800
    requests = [ScoreRequest(question="q", candidate=Step(raw=text)) for _ in range(4)]
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            lags.append(now - last - 0.005)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    verdicts = await ArithmeticCheck().score(requests)
    grading = time.perf_counter() - t0
    done.set()
    await task
    assert [v.score for v in verdicts] == [1.0] * 4
    assert "3800/3800" in verdicts[0].rationale
    # Blocked, the loop would stall for the whole grading; off the loop it stalls for GIL slices.
    assert max(lags) < max(0.1, grading / 4), (max(lags), grading)
