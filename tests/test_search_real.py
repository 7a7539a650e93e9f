"""Every search strategy once on the real embedded model (SmolLM2-135M) with the LLM judge, under a
small budget, reaching the right answer; and beam search reproducible from its seed. Slow: CI runs
them, kept short.

The questions are ones this model answers right with that strategy, config and seed (0, the
default): found by running each strategy on a handful of small arithmetic questions (see CASES).
A 135M model gets most of them wrong under such a small budget, so a wrong answer here means the
search, the prompts or the parsing changed what the model is led to — rerun the search for
questions if the model or the prompts are changed on purpose.
"""

from __future__ import annotations

import re

import pytest

from o1agent import Budget, Reasoner, solve

pytestmark = pytest.mark.slow

QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"

SMALL: dict[str, dict] = {
    "beam": {"width": 2, "k": 2, "max_depth": 2, "step_tokens": 24},
    "best_of_n": {"n": 2, "max_depth": 2, "step_tokens": 24},
    "mcts": {"k": 2, "simulations": 2, "max_depth": 2, "step_tokens": 24},
    "revision": {"rounds": 1, "max_depth": 2, "step_tokens": 24},
    "hybrid": {"width": 1, "k": 2, "rounds": 1, "max_depth": 2, "step_tokens": 24},
    "hybrid_kept": {"width": 1, "k": 2, "rounds": 1, "max_depth": 2, "step_tokens": 24, "revise": "kept"},
}
BUDGET = {"max_tokens": 800, "max_nodes": 6}

# Strategy config → (question, right answer) it reaches at seed 0. Measured on commit a0b0d3b, each
# config over five questions (sheep, apples, 6 * 7, pencils, 9 + 8; mcts over seven more): beam
# also solves 9 + 8, best_of_n 9 + 8, hybrid and hybrid_kept both 6 * 7 and 9 + 8; revision only
# 6 * 7; mcts only 3 * 3. None solves the sheep QUESTION at this budget (answers 3 or 4: a number
# copied from the question). Re-checked after core v2: best_of_n's apples answer had come from an
# extra finalize call after the vote (a vote's answer is now final), so it uses 9 + 8.
# Re-checked after the step protocol's fix (it stops at its result, prompts/g1): mcts now answers
# 6 on 3 * 3 and solves 6 * 7 and 9 + 8, so it uses 6 * 7.
CASES: dict[str, tuple[str, str]] = {
    "beam": ("What is 6 * 7?", "42"),
    "best_of_n": ("What is 9 + 8?", "17"),
    "mcts": ("What is 6 * 7?", "42"),
    "revision": ("What is 6 * 7?", "42"),
    "hybrid": ("What is 9 + 8?", "17"),
    "hybrid_kept": ("What is 6 * 7?", "42"),
}


def numbers(text: str) -> list[str]:
    # The test's own reading of the answer, not o1agent's parser: a broken parser must not agree
    # with itself.
    return re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_strategy_solves_on_the_embedded_model(name, fresh_embedded):
    strategy = name.removesuffix("_kept")
    question, right = CASES[name]
    res = solve(
        question,
        model=fresh_embedded,
        strategy=strategy,
        strategy_config=SMALL[name],
        reward="judge",
        budget=BUDGET,
    )
    assert res.strategy == strategy
    assert numbers(res.answer)[-1:] == [right], f"{name} answered {res.answer!r} to {question!r}"
    assert res.best_path and res.best_path[-1].id in res.tree.nodes
    kinds = [e.kind for e in res.trace]
    # More than one generation (revision may answer in one step, then rewrite it).
    assert kinds.count("propose") + kinds.count("revise") >= 2 and "finalize" in kinds
    # Every answer the search reached was graded by the judge (rollouts and chains verify only
    # answers; beam, hybrid and revision verify every step).
    assert all(n.score is not None for n in res.tree.terminals())
    if strategy in ("beam", "hybrid", "revision"):
        assert "verify" in kinds
    # The budget held: at most one round past a bound (a round here makes at most 4 nodes).
    assert res.usage.nodes <= BUDGET["max_nodes"] + 4
    if not res.budget_exhausted:
        assert res.usage.total_tokens < BUDGET["max_tokens"] + 200  # + the finalize call


async def test_beam_is_reproducible_from_its_seed(fresh_embedded):
    def snapshot(res):
        return [
            (n.id, n.step.raw, n.score, n.status) for n in sorted(res.tree.nodes.values(), key=lambda n: n.id)
        ]

    runs = []
    for _ in range(2):
        # A fresh Reasoner each time; a seeded run resets the policy's KV cache first.
        r = Reasoner(
            model=fresh_embedded,
            strategy="beam",
            strategy_config={"width": 2, "k": 2, "max_depth": 2, "step_tokens": 24},
            reward="judge",
            budget=Budget(max_tokens=700, max_nodes=6),
            seed=11,
        )
        runs.append(await r.asolve(QUESTION))
    first, second = runs
    # The root's second candidate is sampled (greedy_first), so the seed matters.
    assert len(first.tree.root.children) == 2 and first.tree.get("0.1").seed is not None
    assert snapshot(first) == snapshot(second)
    assert first.answer == second.answer
