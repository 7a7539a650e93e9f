"""Reward names for ``solve(reward="...")`` and the CLI's ``--reward``: one table, one resolver.

Besides the fixed names, ``"prm:PATH"`` loads a trained process reward model from a folder:
``o1agent train prm`` output (``prm_config.json``: a value head on the frozen base LM, served by
``LearnedPRM``) or any transformers sequence-classification checkpoint (``config.json``, served
by ``TrainedPRM``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, UnknownRewardError
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


def prm_reward(path: str | Path) -> RewardModel:
    """The trained PRM in ``path`` (see the module docstring); ``ConfigError`` if it is not one."""
    folder = Path(path).expanduser()
    if not str(path).strip():
        raise ConfigError("reward 'prm:PATH' needs a path, e.g. prm:runs/prm")
    if not folder.is_dir():
        raise ConfigError(f"PRM folder not found: {folder} (train one with `o1agent train prm`)")
    if (folder / "prm_config.json").exists():
        try:
            from ..learn.train import LearnedPRM
        except ImportError as exc:
            raise ConfigError(
                f"a trained PRM needs torch and transformers ({exc.name} is missing): "
                "pip install 'o1agent[train]'"
            ) from None
        return LearnedPRM(folder)
    from .prm import TrainedPRM

    return TrainedPRM(folder)


def available_rewards() -> list[str]:
    return sorted([*_REWARDS, "none", "prm:PATH"])


def make_reward(name: str, policy: Policy) -> RewardModel:
    if name.startswith("prm:"):
        return prm_reward(name[len("prm:") :])
    if name not in _REWARDS:
        raise UnknownRewardError(f"unknown reward {name!r}: choose one of {available_rewards()}")
    return _REWARDS[name](policy)
