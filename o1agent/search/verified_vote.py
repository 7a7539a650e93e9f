"""Verified vote: self-consistency in which solutions that fail a grounded check lose their vote.

Sample ``n`` solutions (``o1agent.search.chains``); the graph scores each finished one with the
run's reward, which for this strategy should be a check by execution — ``reward="exec"``
(``o1agent.rewards.execution``: every arithmetic claim on the path re-computed, tool errors,
for code the question's docstring examples run in the sandbox) or ``"arith"``. A solution whose
score is below ``pass_below`` failed its check and votes with ``fail_weight`` (0: it is
discarded); one that passed, or that nothing could check (a neutral score, a chain cut before it
answered, no reward at all), votes 1. The majority of what is left wins (ties to the group holding
the highest score); when every solution failed, the plain majority of all of them does, and
``Result.allocation`` says so.

Unlike ``best_of_n``'s ``weighted_vote`` (a sum of scores, so a neutral unchecked answer counts
half a verified one), this treats the grader as a veto: it only removes votes it has evidence
against. Gold answers never reach it: it reads only the scores the run's own reward gave.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Tree
from .base import StrategyConfig, register_strategy
from .chains import Ballot, ChainSampler, Vote


class VerifiedVoteConfig(StrategyConfig):
    n: int = Field(default=4, ge=1, le=64, description="number of whole solutions sampled from the root")
    pass_below: float = Field(
        default=0.5, gt=0.0, le=1.0, description="a scored solution below this failed its check"
    )
    fail_weight: float = Field(
        default=0.0, ge=0.0, le=1.0, description="vote of a solution that failed (0: discarded)"
    )


class VerifiedVote(ChainSampler[VerifiedVoteConfig]):
    name = "verified_vote"
    config_class = VerifiedVoteConfig

    def first_wave(self) -> int:
        return self.config.n

    def failed(self, ballot: Ballot) -> bool:
        score = ballot.node.score
        return ballot.finished and score is not None and score < self.config.pass_below

    def votes(self, tree: Tree, state: dict[str, Any]) -> list[Vote]:
        ballots = self.ballots(tree, state)
        votes = [(b, self.config.fail_weight if self.failed(b) else 1.0) for b in ballots]
        if votes and all(w == 0.0 for _, w in votes):
            return [(b, 1.0) for b in ballots]  # every one failed: nothing to prefer, plain majority
        return votes

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        report = super().allocation(tree, state)
        if report is not None:
            ballots = self.ballots(tree, state)
            failed = [b for b in ballots if self.failed(b)]
            report["failed_checks"] = len(failed)
            if ballots and len(failed) == len(ballots) and self.config.fail_weight == 0.0:
                report["note"] = "every solution failed its check: plain majority"
        return report


@register_strategy("verified_vote", VerifiedVoteConfig)
def make_verified_vote(config: VerifiedVoteConfig, generation: GenerationConfig) -> VerifiedVote:
    return VerifiedVote(config, generation)
