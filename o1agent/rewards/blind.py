"""``Blind``: the control reward — every candidate scores 0.5, whatever it says.

A search run with it keeps its structure (sampling, beams, backtracking, the budget) and loses
its signal: each strategy then falls back to its tie rule (best-of-N and beam keep proposal
order, so the greedy-first candidate). Reported beside a search with a real reward, it shows
how much of that search's result the reward earned and how much the extra sampling alone gave.
What this is not: a grader — it never reads the candidate.
"""

from __future__ import annotations

from ..search.picks import NEUTRAL_SCORE
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable


class Blind(Composable):
    """Process reward that scores every step ``NEUTRAL_SCORE`` (0.5)."""

    kind: RewardKind = "process"

    def __init__(self, *, name: str = "blind") -> None:
        self.name = name

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [Verdict(score=NEUTRAL_SCORE, rationale="blind control: every score 0.5") for _ in requests]
