"""Greedy: one greedily decoded candidate per step, always continue the newest step, stop at an answer.

The baseline every other strategy is reported beside. With revision enabled in the config
(``revise_below``) it becomes "greedy + self-correction": the graph's revise loop rewrites weak
steps and greedy continues from the rewrite. It never backtracks, and never samples: every
expansion asks for greedy decoding, whatever the generation's ``temperature`` (which then only
applies to the graph's rewrites).
"""

from __future__ import annotations

from typing import Any

from ..config import GenerationConfig
from ..schema import Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import choice_of, default_best, stand_behind
from .types import Choice, Expansion, Selection, Update


class GreedyConfig(StrategyConfig):
    """Greedy has no settings of its own: ``revise_below`` / ``max_revisions`` turn on revision."""


class Greedy(Strategy[GreedyConfig]):
    name = "greedy"
    config_class = GreedyConfig

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"current": tree.root_id}

    def _finished(self, tree: Tree, state: dict[str, Any]) -> bool:
        return not self.live(tree, state.get("current", tree.root_id))

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if state.get("stuck") or self._finished(tree, state):
            return Selection([], state)
        return Selection([Expansion(state.get("current", tree.root_id), k=1, greedy=True)], state)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        # A failed (empty) child is no step to continue from: the path ends at its parent.
        live = [i for i in new_ids if tree.get(i).status not in ("revised", "failed")]
        if not live:
            return Update({**state, "stuck": True})
        return Update({**state, "current": live[-1]})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return bool(state.get("stuck")) or self._finished(tree, state)

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        cur = stand_behind(tree, state.get("current"))
        return choice_of(tree.get(cur)) if cur is not None else default_best(tree)


@register_strategy("greedy", GreedyConfig)
def make_greedy(config: GreedyConfig, generation: GenerationConfig) -> Greedy:
    return Greedy(config, generation)
