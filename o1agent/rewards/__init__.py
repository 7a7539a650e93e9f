"""Reward models: graders that score steps (process) and answers (outcome), and their composition.

Every grader returns a ``Verdict``; one that could not judge (backend, model or sandbox failure)
returns ``score=None`` with ``error`` set (see ``base``). Reward specs (``"judge"``,
``"0.7*judge+0.3*arith"``, ``"prm:PATH"``) resolve in ``registry``; ``check_reward`` validates one
without loading anything.
"""

from .answer import AnswerVerifier, answers_equivalent
from .arith import ArithmeticCheck, check_claims, find_claims
from .base import RewardModel, ScoreRequest, Verdict
from .blind import Blind
from .code import CodeTests, extract_program
from .compose import Composable, PotentialShaping, Weighted, aggregate, reward
from .confidence import Confidence, geometric_confidence, token_confidences, topk_confidence
from .consistency import SelfConsistency, final_answer
from .execution import ExecutionCheck
from .judge import LLMJudge, yes_probability
from .prm import LearnedPRM, TrainedPRM, format_prm_input
from .registry import available_rewards, check_reward, make_reward, parse_reward_spec, register_reward
from .task import TaskScorer, task_items

__all__ = [
    "AnswerVerifier",
    "ArithmeticCheck",
    "Blind",
    "CodeTests",
    "Composable",
    "Confidence",
    "ExecutionCheck",
    "LLMJudge",
    "LearnedPRM",
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
    "check_reward",
    "extract_program",
    "final_answer",
    "find_claims",
    "format_prm_input",
    "geometric_confidence",
    "make_reward",
    "parse_reward_spec",
    "register_reward",
    "reward",
    "task_items",
    "token_confidences",
    "topk_confidence",
    "yes_probability",
]
