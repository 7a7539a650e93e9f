"""Reward names for ``solve(reward="...")`` and the CLI's ``--reward``: one table, one resolver."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnknownRewardError
from ..policies.base import Policy
from .base import RewardModel

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


def available_rewards() -> list[str]:
    return sorted([*_REWARDS, "none"])


def make_reward(name: str, policy: Policy) -> RewardModel:
    if name not in _REWARDS:
        raise UnknownRewardError(f"unknown reward {name!r}: choose one of {available_rewards()}")
    return _REWARDS[name](policy)
