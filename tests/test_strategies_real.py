"""The grounded and adaptive strategies once each on the real embedded model (SmolLM2-135M via
LlamaCppPolicy), lean: the signals they read are real (llama.cpp's top logprobs become token
confidences, the calculator re-checks real claims, docstring examples run in the real sandbox)
and each reaches the right answer on a question it solves at seed 0. Slow: CI runs them.

The questions were found by running each configuration on a few small arithmetic questions
(9 + 8, 6 * 7, 3 * 3, 5 + 4); a wrong answer here means the strategy, the prompts or the parsing
changed what the model is led to — rerun the search for questions if that was on purpose.
"""

from __future__ import annotations

import re

import pytest

from o1agent import solve

pytestmark = pytest.mark.slow

SMALL = {"max_depth": 3, "step_tokens": 48}
BUDGET = {"max_tokens": 1500, "max_nodes": 24}

# name → (strategy config, reward, question, right answer)
CASES: dict[str, tuple[dict, str, str, str]] = {
    "deepconf": ({"n": 3, **SMALL}, "none", "What is 9 + 8?", "17"),
    "adaptive_sc": ({"first": 2, "max_samples": 4, **SMALL}, "none", "What is 9 + 8?", "17"),
    "adaptive": ({"first": 2, "max_samples": 4, **SMALL}, "none", "What is 9 + 8?", "17"),
    "particle": ({"particles": 3, **SMALL}, "arith", "What is 9 + 8?", "17"),
    # After the step protocol's fix (prompts/g1) it answers 6 on 3 * 3; it solves 9 + 8 and 6 * 7.
    "verified_vote": ({"n": 3, **SMALL}, "exec", "What is 9 + 8?", "17"),
}


def numbers(text: str) -> list[str]:
    # The test's own reading of the answer, not o1agent's parser.
    return re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_strategy_solves_on_the_embedded_model(name, fresh_embedded):
    config, reward, question, right = CASES[name]
    res = solve(
        question, model=fresh_embedded, strategy=name, strategy_config=config, reward=reward, budget=BUDGET
    )
    assert numbers(res.answer)[-1:] == [right], f"{name} answered {res.answer!r} to {question!r}"
    report = res.allocation
    assert report is not None and report["stop"], report
    steps = [n for n in res.tree.nodes.values() if n.id != res.tree.root_id and n.status != "failed"]
    if name in ("deepconf", "adaptive"):
        # llama.cpp's top-20 logprobs became one confidence per generated token of every step.
        for n in steps:
            assert n.token_confidence is not None and len(n.token_confidence) == n.completion_tokens
            assert all(c > 0 for c in n.token_confidence)
        assert report["confidence"]
    else:
        assert all(n.token_confidence is None for n in steps)
    if name in ("adaptive_sc", "adaptive"):
        assert 2 <= report["samples"] <= 4
    if name == "particle":
        assert all(n.score is not None for n in steps if n.status != "duplicate")  # every step scored
    if name == "verified_vote":
        assert all(n.score is not None for n in res.tree.terminals())  # every answer checked


def test_a_real_arithmetic_slip_is_revised_from_the_calculators_value(fresh_embedded):
    res = solve(
        "What is 21 + 81 - 58?",
        model=fresh_embedded,
        strategy="revision",
        strategy_config={"rounds": 1, "revise_below": 0.4, **SMALL},
        reward="arith",
        budget=BUDGET,
    )
    revised = [n for n in res.tree.nodes.values() if n.status == "revised"]
    assert revised, "the greedy path made no arithmetic slip the calculator caught"
    for old in revised:
        assert old.critique_source == "check" and "not" in (old.critique or "") and old.repair
        (new,) = [n for n in res.tree.nodes.values() if n.revised_from == old.id]
        # The rewrite continued the step from the calculator's correction (Verify-and-Edit).
        assert new.prompt.endswith(old.repair) and new.step.raw.startswith(old.repair)
        assert new.score is not None


def test_identical_real_samples_are_marked_counted_and_vote_together(fresh_embedded):
    # At temperature 0.05 two of the three first steps of 9 + 8 come out the same text.
    res = solve(
        "What is 9 + 8?",
        model=fresh_embedded,
        strategy="best_of_n",
        strategy_config={"n": 3, "select_by": "majority", "temperature": 0.05, **SMALL},
        reward="none",
        budget=BUDGET,
    )
    dups = [n for n in res.tree.nodes.values() if n.status == "duplicate"]
    assert dups, "no two samples were the same text"
    for d in dups:
        original = res.tree.get(d.duplicate_of or "")
        assert " ".join(d.step.raw.split()) == " ".join(original.step.raw.split())
        assert d.children == [] and d.score is None and d.completion_tokens > 0
    # Every token spent is counted, the duplicate's included.
    assert res.usage.completion_tokens == sum(n.completion_tokens for n in res.tree.nodes.values())
    assert res.allocation["duplicates"] == len(dups) and max(res.allocation["votes"].values()) >= 2
