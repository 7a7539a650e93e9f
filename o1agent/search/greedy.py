"""Greedy: one candidate per step, always continue the newest step, stop at a final answer.

The baseline every other strategy is reported beside. With revision enabled in the config it
becomes "greedy + self-correction". It never backtracks.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..schema import Tree
from .base import Expansion, Selection, StrategyConfig, Update, default_best, register_strategy


class GreedyConfig(StrategyConfig):
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 = greedy decoding")


class Greedy:
    name = "greedy"

    def __init__(self, config: GreedyConfig | None = None) -> None:
        self.config = config or GreedyConfig()

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"current": tree.root_id}

    def _finished(self, tree: Tree, state: dict[str, Any]) -> bool:
        node = tree.get(state["current"])
        return (
            node.step.is_final or node.depth >= self.config.max_depth or node.status in ("failed", "pruned")
        )

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if self._finished(tree, state):
            return Selection([], state)
        return Selection([Expansion(state["current"], k=1, greedy=self.config.temperature == 0.0)], state)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        live = [i for i in new_ids if tree.get(i).status != "revised"]
        if not live:
            return Update({**state, "current": state["current"], "stuck": True})
        return Update({**state, "current": live[-1]})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return bool(state.get("stuck")) or self._finished(tree, state)

    def best(self, tree: Tree, state: dict[str, Any]) -> str | None:
        cur = state.get("current")
        if cur and cur != tree.root_id:
            return cur
        return default_best(tree)


@register_strategy("greedy", GreedyConfig)
def make_greedy(config: GreedyConfig) -> Greedy:
    return Greedy(config)
