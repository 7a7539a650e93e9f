"""Best-of-N: sample N whole solutions, then pick one answer (outcome score, weighted or plain vote).

The root is expanded once with ``k = n`` (with ``greedy_first`` the first candidate is the greedy
one, so greedy decoding is always among the N); every unfinished chain is then continued one
greedy step at a time, all chains in the same round, until each reaches a final answer or
``max_depth``. Only final steps are verified (``verify="final"``): the selection rules read the
scores of final answers only, so scoring intermediate steps would be spent judge calls.

Selection (``select_by``):

* ``"outcome"`` — the final answer with the highest score (an ORM/verifier picks);
* ``"weighted_vote"`` — answers are grouped by their normalised text and the group with the
  largest *sum* of scores wins (Li et al. 2023, "weighted self-consistency");
* ``"majority"`` — plain self-consistency: the most frequent answer; ties go to the group holding
  the highest-scoring answer.

A chain cut by ``max_depth`` or the budget still votes, with its answer read leniently from its
path. On a full tie (equal votes, equal best score) a finished answer beats one read from a cut
chain, then the earliest sample wins (the greedy one when present). ``best`` returns the winning
answer exactly as the vote counted it, with the winning group's best-scored node as its
representative, so the graph never re-derives (and could never change) a voted answer.

This is not a tree search: chains never branch after the root and are never pruned. A chain
whose step came back empty ("failed") ends where it was. The chains and the vote are
``o1agent.search.chains``' (one wave of ``n``); a repeated sample votes with its original.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Node, Tree
from .base import StrategyConfig, register_strategy
from .chains import Ballot, ChainSampler, normalize_answer, tally
from .picks import score_of
from .types import Choice

__all__ = ["BestOfN", "BestOfNConfig", "normalize_answer", "vote"]

SelectBy = Literal["outcome", "weighted_vote", "majority"]


class BestOfNConfig(StrategyConfig):
    n: int = Field(default=4, ge=1, le=64, description="number of whole solutions sampled from the root")
    select_by: SelectBy = Field(
        default="weighted_vote",
        description="how the answer is chosen: 'outcome' (best score), 'weighted_vote' (sum of scores per "
        "answer) or 'majority' (most frequent answer, ties to the highest score)",
    )


def choose(ballots: list[Ballot], select_by: SelectBy) -> Ballot | None:
    """The winning ballot under ``select_by`` (``outcome``: the best-scored one; otherwise the
    group vote of ``chains.tally``). Earlier ballots win remaining ties."""
    if not ballots:
        return None
    if select_by == "outcome":
        return max(enumerate(ballots), key=lambda p: (score_of(p[1].node), -p[0]))[1]
    weighted = select_by == "weighted_vote"
    return tally([(b, score_of(b.node) if weighted else 1.0) for b in ballots])[0]


def vote(finals: list[Node], select_by: SelectBy) -> Node | None:
    """The node whose answer wins under ``select_by``: the best-scored member of the winning
    group. The order of ``finals`` breaks any remaining tie (the earlier wins). A blank answer
    never votes."""
    ballots = [Ballot(n, n.step.answer or "", True) for n in finals if (n.step.answer or "").strip()]
    winner = choose(ballots, select_by)
    return winner.node if winner is not None else None


class BestOfN(ChainSampler[BestOfNConfig]):
    name = "best_of_n"
    config_class = BestOfNConfig

    def first_wave(self) -> int:
        return self.config.n

    def weight(self, tree: Tree, state: dict[str, Any], ballot: Ballot) -> float:
        return score_of(ballot.node) if self.config.select_by == "weighted_vote" else 1.0

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        if self.config.select_by != "outcome":
            return super().best(tree, state)
        top = choose(self.ballots(tree, state), "outcome")
        return (
            Choice(top.node.id, top.answer, top.node.score) if top is not None else super().best(tree, state)
        )


@register_strategy("best_of_n", BestOfNConfig)
def make_best_of_n(config: BestOfNConfig, generation: GenerationConfig) -> BestOfN:
    return BestOfN(config, generation)
