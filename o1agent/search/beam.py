"""Step-level beam search guided by a process reward (Snell et al. 2024, "beam search with a PRM").

Each round expands every live beam into ``k`` candidate next steps (all beams in one round, so
the graph proposes them concurrently), scores each candidate's *path* by aggregating the step
scores along it (``min``, ``last`` or ``prod``), keeps the ``width`` best non-final candidates as
the next beams and prunes the rest. Candidates that state a final answer are collected instead
of kept. The search ends when ``width`` answers are collected, when no beam is left, or when
every beam reached ``max_depth``; the answer is the collected final with the best path score.

Failed candidates (empty steps) are neither kept nor pruned, and a failed beam is never expanded.

What it is not: it does not revisit pruned nodes (no backtracking) and does not spend the
budget unevenly across beams — for that use ``mcts``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Node, Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import choice_of, default_best, is_blank, score_of
from .types import Choice, Expansion, Selection, Update

Aggregate = Literal["min", "last", "prod"]


def path_score(tree: Tree, node_id: str, aggregate: Aggregate) -> float:
    """Aggregate of the step scores from the root's child down to ``node_id`` (unscored steps count
    as neutral). ``min``: a chain is as good as its weakest step; ``last``: trust the latest
    score (it saw the whole path); ``prod``: probability that every step is right."""
    scores = [score_of(n) for n in tree.path(node_id)]
    if not scores:
        return score_of(tree.get(node_id))
    if aggregate == "min":
        return min(scores)
    if aggregate == "last":
        return scores[-1]
    return math.prod(scores)


class BeamConfig(StrategyConfig):
    width: int = Field(default=3, ge=1, le=32, description="beams kept after each round (W)")
    k: int = Field(default=2, ge=1, le=16, description="candidate next steps proposed per beam per round (K)")
    aggregate: Aggregate = Field(
        default="min",
        description="how step scores along a path combine into its score: 'min', 'last' or 'prod'",
    )


class BeamSearch(Strategy[BeamConfig]):
    name = "beam"
    config_class = BeamConfig

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"beams": [tree.root_id], "finals": [], "round": 0}

    def score(self, tree: Tree, node_id: str) -> float:
        return path_score(tree, node_id, self.config.aggregate)

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        live = [b for b in state.get("beams", []) if self.live(tree, b)]
        if not live or len(state.get("finals", [])) >= self.config.width:
            return Selection([], state)
        expansions = [Expansion(b, k=self.config.k, greedy=self.config.k == 1) for b in live]
        return Selection(
            expansions, {**state, "round": int(state.get("round", 0)) + 1}, note=f"round of {len(live)} beams"
        )

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        finals = list(state.get("finals", []))
        candidates: list[Node] = []
        for nid in new_ids:
            node = tree.get(nid)
            if node.status in ("revised", "failed"):
                continue
            if node.step.is_final:
                finals.append(nid)
            else:
                candidates.append(node)
        # Best path score first; ties keep proposal order (the greedy candidate of the best beam).
        order = {n.id: i for i, n in enumerate(candidates)}
        ranked = sorted(candidates, key=lambda n: (-self.score(tree, n.id), order[n.id]))
        kept = ranked[: self.config.width]
        pruned = [n.id for n in ranked[self.config.width :]]
        return Update({**state, "beams": [n.id for n in kept], "finals": finals}, pruned=pruned)

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        if len(state.get("finals", [])) >= self.config.width:
            return True
        return not any(self.live(tree, b) for b in state.get("beams", []))

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        finals = [f for f in state.get("finals", []) if f in tree.nodes] or [
            n.id for n in tree.terminals() if n.status != "failed" and not is_blank(n)
        ]
        if finals:
            return choice_of(tree.get(self._top(tree, finals)))
        beams = [
            b
            for b in state.get("beams", [])
            if b in tree.nodes and b != tree.root_id and not is_blank(tree.get(b))
        ]
        if beams:
            return choice_of(tree.get(self._top(tree, beams)))
        return default_best(tree)

    def _top(self, tree: Tree, ids: list[str]) -> str:
        # Best path score; ties go to the earlier in the list (collection / proposal order).
        return max(enumerate(ids), key=lambda p: (self.score(tree, p[1]), -p[0]))[1]


@register_strategy("beam", BeamConfig)
def make_beam(config: BeamConfig, generation: GenerationConfig) -> BeamSearch:
    return BeamSearch(config, generation)
