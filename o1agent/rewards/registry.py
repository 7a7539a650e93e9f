"""Reward names for ``solve(reward="...")`` and the CLI's ``--reward``: one table, one resolver."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnknownRewardError
from ..policies.base import Policy
from .base import RewardModel
from .compose import Weighted

RewardFactory = Callable[[Policy], RewardModel]
_REWARDS: dict[str, RewardFactory] = {}


def register_reward(name: str) -> Callable[[RewardFactory], RewardFactory]:
    def deco(f: RewardFactory) -> RewardFactory:
        _REWARDS[name] = f
        return f

    return deco


@register_reward("judge")
def _judge(policy: Policy) -> RewardModel:
    from .judge import LLMJudge

    return LLMJudge(policy)


@register_reward("confidence")
def _confidence(policy: Policy) -> RewardModel:
    from .confidence import Confidence

    return Confidence()


@register_reward("consistency")
def _consistency(policy: Policy) -> RewardModel:
    from .consistency import SelfConsistency

    return SelfConsistency()


@register_reward("judge+confidence")
def _judge_confidence(policy: Policy) -> RewardModel:
    # The judge decides; the policy's own token confidence breaks near-ties for free.
    from .confidence import Confidence
    from .judge import LLMJudge

    return Weighted([(LLMJudge(policy), 0.7), (Confidence(), 0.3)], name="judge+confidence")


@register_reward("arith")
def _arith(policy: Policy) -> RewardModel:
    # Grounded: re-computes the step's own arithmetic claims; needs no model and no gold answer.
    from .arith import ArithmeticCheck

    return ArithmeticCheck()


@register_reward("arith+confidence")
def _arith_confidence(policy: Policy) -> RewardModel:
    # The calculator vetoes wrong claims; token confidence ranks steps that make none.
    from .arith import ArithmeticCheck
    from .confidence import Confidence

    return Weighted([(ArithmeticCheck(), 0.7), (Confidence(), 0.3)], name="arith+confidence")


@register_reward("judge+consistency")
def _judge_consistency(policy: Policy) -> RewardModel:
    # Open steps: the judge alone (consistency has no opinion); final answers: half agreement.
    from .consistency import SelfConsistency
    from .judge import LLMJudge

    return Weighted([(LLMJudge(policy), 0.5), (SelfConsistency(), 0.5)], name="judge+consistency")


def available_rewards() -> list[str]:
    return sorted([*_REWARDS, "none"])


def make_reward(name: str, policy: Policy) -> RewardModel:
    if name not in _REWARDS:
        raise UnknownRewardError(f"unknown reward {name!r}: choose one of {available_rewards()}")
    return _REWARDS[name](policy)
