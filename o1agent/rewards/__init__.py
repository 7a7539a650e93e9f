"""Reward models: graders that score steps (process) and answers (outcome)."""

from .answer import AnswerVerifier, answers_equivalent
from .base import RewardModel, ScoreRequest, Verdict
from .judge import LLMJudge, yes_probability
from .registry import available_rewards, make_reward, register_reward

__all__ = [
    "AnswerVerifier",
    "LLMJudge",
    "RewardModel",
    "ScoreRequest",
    "Verdict",
    "answers_equivalent",
    "available_rewards",
    "make_reward",
    "register_reward",
    "yes_probability",
]
