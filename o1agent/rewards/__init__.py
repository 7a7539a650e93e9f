"""Reward models: graders that score steps (process) and answers (outcome), and their composition."""

from .answer import AnswerVerifier, answers_equivalent
from .arith import ArithmeticCheck, check_claims, find_claims
from .base import RewardModel, ScoreRequest, Verdict
from .code import CodeTests, extract_program
from .compose import Composable, PotentialShaping, Weighted, aggregate, reward
from .confidence import Confidence, geometric_confidence, topk_confidence
from .consistency import SelfConsistency, final_answer
from .judge import LLMJudge, yes_probability
from .prm import TrainedPRM, format_prm_input
from .registry import available_rewards, make_reward, register_reward
from .task import TaskScorer, task_items

__all__ = [
    "AnswerVerifier",
    "ArithmeticCheck",
    "CodeTests",
    "Composable",
    "Confidence",
    "LLMJudge",
    "PotentialShaping",
    "RewardModel",
    "ScoreRequest",
    "SelfConsistency",
    "TaskScorer",
    "TrainedPRM",
    "Verdict",
    "Weighted",
    "aggregate",
    "answers_equivalent",
    "available_rewards",
    "check_claims",
    "extract_program",
    "final_answer",
    "find_claims",
    "format_prm_input",
    "geometric_confidence",
    "make_reward",
    "register_reward",
    "reward",
    "task_items",
    "topk_confidence",
    "yes_probability",
]
