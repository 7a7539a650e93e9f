"""Sequential revision: a greedy solution whose weak steps are critiqued and rewritten, round by round.

The "revise" axis of test-time compute (Snell et al. 2024): instead of sampling more solutions in
parallel, spend the budget rewriting one. Expressed with the graph's own revision mechanism:

* the path is decoded greedily, one step per expansion, and every step is verified;
* a step scoring below ``revise_below`` is rewritten from the verifier's critique (the graph's
  ``revise`` node); the rewrite is verified again and rewritten again while it stays below
  ``revise_below``, at most ``rounds`` times (``max_revisions`` is ``rounds``) — so revision stops
  early as soon as the verifier is satisfied;
* the search continues from the latest version, as greedy does, until a final answer.

Rewrites can make things worse, so with ``keep_best`` the answer is the best-scored *version* of
the final step (ties go to the latest); the original stays in the tree with status "revised".

The rewriting itself is the graph's revise-after-verify loop (driven by this config's
``revise_below`` / ``max_revisions``), so ``revises`` is False: the strategy never asks for a
rewrite through ``Expansion(mode="revise")``.

What it is not: no branching and no backtracking (that is ``dfs`` / ``beam`` / ``mcts``), and it
does not re-prompt a whole solution at once: revision is per step, with the steps before it fixed.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..config import GenerationConfig
from ..schema import Node, Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import choice_of, default_best, score_of, stand_behind
from .types import Choice, Expansion, Selection, Update


class RevisionConfig(StrategyConfig):
    rounds: int = Field(
        default=2, ge=0, le=8, description="revision rounds allowed per step (R); sets max_revisions"
    )
    revise_below: float | None = Field(
        default=0.75, ge=0.0, le=1.0, description="a step scoring below this is critiqued and revised"
    )
    keep_best: bool = Field(
        default=True,
        description="answer with the best-scored version of the final step, not necessarily the latest",
    )

    @model_validator(mode="before")
    @classmethod
    def _rounds_are_max_revisions(cls, data: Any) -> Any:
        return rounds_to_max_revisions(data, cls.model_fields["rounds"].default)


def rounds_to_max_revisions(data: Any, default_rounds: int) -> Any:
    """Keep ``rounds`` (the user-facing name, CLI ``--rounds``) and ``max_revisions`` (what the
    graph reads) equal: either may be given, giving both with different values is an error."""
    if not isinstance(data, dict):
        return data
    rounds, given = data.get("rounds"), data.get("max_revisions")
    if rounds is not None and given is not None and given != rounds:
        raise ValueError(
            f"max_revisions ({given}) must equal rounds ({rounds}); give only rounds (on an existing config, "
            "build a new one: assigning one of the two alone cannot keep them equal)"
        )
    value = rounds if rounds is not None else given if given is not None else default_rounds
    return {**data, "rounds": value, "max_revisions": value}


def versions(tree: Tree, node_id: str) -> list[Node]:
    """``node_id`` and the nodes it was revised from, oldest first."""
    chain: list[Node] = []
    cur: str | None = node_id
    while cur is not None and cur in tree.nodes and len(chain) <= 64:
        node = tree.get(cur)
        chain.append(node)
        cur = node.revised_from
    chain.reverse()
    return chain


def best_version(tree: Tree, node_id: str) -> str:
    """The best-scored final version of ``node_id`` (ties to the latest); ``node_id`` itself when it
    is not final (a path continues from its latest version only)."""
    node = tree.get(node_id)
    if not node.step.is_final:
        return node_id
    finals = [v for v in versions(tree, node_id) if v.step.is_final]
    return max(enumerate(finals), key=lambda p: (score_of(p[1]), p[0]))[1].id


class Revision(Strategy[RevisionConfig]):
    name = "revision"
    config_class = RevisionConfig

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"current": tree.root_id, "revisions": 0}

    def _finished(self, tree: Tree, state: dict[str, Any]) -> bool:
        return not self.live(tree, state.get("current", tree.root_id))

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if self._finished(tree, state) or state.get("stuck"):
            return Selection([], state)
        return Selection(
            [Expansion(state.get("current", tree.root_id), k=1, verify=True, greedy=True)], state
        )

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        # A failed (empty) child is no step to continue from: the path ends at its parent.
        live = [i for i in new_ids if tree.get(i).status not in ("revised", "failed")]
        if not live:
            return Update({**state, "stuck": True})
        # Count rewrites for the trace/result: each version after the first is one round.
        rounds = sum(len(versions(tree, i)) - 1 for i in live)
        return Update({**state, "current": live[-1], "revisions": int(state.get("revisions", 0)) + rounds})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return bool(state.get("stuck")) or self._finished(tree, state)

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        cur = stand_behind(tree, state.get("current"))
        if cur is None:
            return default_best(tree)
        return choice_of(tree.get(best_version(tree, cur) if self.config.keep_best else cur))


@register_strategy("revision", RevisionConfig)
def make_revision(config: RevisionConfig, generation: GenerationConfig) -> Revision:
    return Revision(config, generation)
