"""Composition: weighted blends with no-opinion graders, operator sugar, aggregation, potential
shaping, and the registry presets."""

from __future__ import annotations

import pytest

from o1agent.errors import ConfigError, UnknownRewardError
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards import (
    AnswerVerifier,
    Confidence,
    LLMJudge,
    PotentialShaping,
    ScoreRequest,
    Verdict,
    Weighted,
    aggregate,
    available_rewards,
    make_reward,
    reward,
)
from o1agent.schema import Step, Usage


class Fixed:
    """A grader returning fixed scores, with usage, to check blending arithmetic."""

    def __init__(self, score: float | None, kind: str = "process", name: str = "fixed") -> None:
        self.value, self.kind, self.name = score, kind, name

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [Verdict(score=self.value, kind=self.kind, usage=Usage(calls=1)) for _ in requests]  # type: ignore[arg-type]


def rq(step: Step, previous: list[Step] | None = None, lp: float | None = None) -> ScoreRequest:
    return ScoreRequest(question="q", previous=previous or [], candidate=step, mean_logprob=lp)


async def test_weighted_renormalises_over_graders_with_an_opinion() -> None:
    w = Weighted([(Fixed(1.0), 0.7), (Fixed(0.0), 0.3)])
    (v,) = await w.score([rq(Step(raw="s"))])
    assert v.score == pytest.approx(0.7) and v.usage.calls == 2 and w.kind == "process"
    mixed = Weighted([(Fixed(0.4), 1.0), (Fixed(None, "outcome", "ans"), 3.0)])
    (v,) = await mixed.score([rq(Step(raw="s"))])
    assert v.score == pytest.approx(0.4) and "ans: no opinion" in v.rationale
    (v,) = await Weighted([(Fixed(None, "outcome"), 1.0)]).score([rq(Step(raw="s"))])
    assert v.score is None


def test_weighted_rejects_bad_weights() -> None:
    for terms in ([], [(Fixed(1.0), -1.0)], [(Fixed(1.0), 0.0)], [(object(), 1.0)]):
        with pytest.raises(ConfigError):
            Weighted(terms)  # type: ignore[arg-type]


async def test_operator_sugar_in_one_line() -> None:
    judge = LLMJudge(ScriptedPolicy(["Yes"], cycle=True))
    blend = 0.7 * reward(judge) + 0.3 * Confidence()
    assert isinstance(blend, Weighted) and [w for _, w in blend.terms] == [0.7, 0.3]
    (v,) = await blend.score([rq(Step(raw="2+2=4"), lp=-0.1)])
    assert v.score == pytest.approx(0.7 * 1.0 + 0.3 * 0.904837, abs=1e-4)
    three = Confidence() + Confidence() * 2 + reward(Fixed(0.0))
    assert [w for _, w in three.terms] == [1.0, 2.0, 1.0]
    assert isinstance(sum([Confidence(), Confidence()]), Weighted)
    with pytest.raises(ConfigError):
        reward(object())  # type: ignore[arg-type]


def test_aggregate() -> None:
    s = [0.9, None, 0.5, 0.8]
    assert aggregate(s, "min") == 0.5 and aggregate(s, "last") == 0.8
    assert aggregate(s, "prod") == pytest.approx(0.36) and aggregate(s, "mean") == pytest.approx(2.2 / 3)
    assert aggregate([None], "min") is None
    with pytest.raises(ConfigError):
        aggregate([1.0], "max")  # type: ignore[arg-type]


async def test_potential_shaping_telescopes_to_the_outcome() -> None:
    # phi = how far along a (fake) progress meter the path is: 0.2 per step.
    def phi(question: str, steps: list[Step]) -> float:
        return 0.2 * len(steps)

    shaped = PotentialShaping(AnswerVerifier("4"), phi, gamma=1.0)
    s1, s2 = Step(raw="a"), Step(raw="b")
    fin = Step(raw="Final answer: 4", answer="4", is_final=True)
    v1, v2, v3 = await shaped.score([rq(s1), rq(s2, [s1]), rq(fin, [s1, s2])])
    raw = [v.step_scores[0] for v in (v1, v2, v3)]
    assert raw == pytest.approx([0.2, 0.2, 1.0 - 0.4])
    assert sum(raw) == pytest.approx(1.0)  # R - phi(s0) with phi(s0) = 0: the outcome is preserved
    assert all(0.0 <= v.score <= 1.0 for v in (v1, v2, v3))
    (wrong,) = await shaped.score([rq(Step(raw="Final answer: 5", answer="5", is_final=True), [s1, s2])])
    assert wrong.step_scores[0] == pytest.approx(-0.4) and wrong.score < v3.score


async def test_potential_from_a_reward_model_is_cached() -> None:
    calls = Fixed(0.6)
    shaped = PotentialShaping(AnswerVerifier("4"), calls, gamma=0.9)
    (v,) = await shaped.score([rq(Step(raw="b"), [Step(raw="a")])])
    assert v.step_scores[0] == pytest.approx(0.9 * 0.6 - 0.6) and v.usage.calls == 2
    (v,) = await shaped.score([rq(Step(raw="b"), [Step(raw="a")])])
    assert v.usage.calls == 0  # both potentials came from the cache
    with pytest.raises(ConfigError):
        PotentialShaping(AnswerVerifier("4"), calls, gamma=1.5)


def test_registry_presets() -> None:
    assert {"confidence", "consistency", "judge+confidence", "judge+consistency"} <= set(available_rewards())
    policy = ScriptedPolicy(["Yes"], cycle=True)
    jc = make_reward("judge+confidence", policy)
    assert isinstance(jc, Weighted) and jc.name == "judge+confidence" and jc.kind == "process"
    assert make_reward("consistency", policy).kind == "outcome"
    with pytest.raises(UnknownRewardError):
        make_reward("nope", policy)
