"""Depth-first search with threshold pruning and backtracking (Tree-of-Thoughts DFS).

Expand the current step into ``k`` candidates, keep those whose score reaches ``threshold``, go
deeper into the best one; when a node has no surviving child, back up to the nearest ancestor with
an untried good child — that is the backtrack. Stops at the first final step that reaches
``accept`` (or the threshold), or when nothing is left to try.

A node is expanded at most once: it counts as expanded as soon as it is selected, so an expansion
that came back empty moves the search on instead of asking for the same node again. Failed
(empty) children are neither kept nor pruned. What it is not: no revisiting of pruned steps, and
no budget-aware ordering across branches (that is ``mcts``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import choice_of, default_best, score_of
from .types import Choice, Expansion, Selection, Update


class DFSConfig(StrategyConfig):
    k: int = Field(default=2, ge=1, le=16, description="candidates proposed per expansion")
    threshold: float = Field(
        default=0.2, ge=0.0, le=1.0, description="children scoring below this are pruned"
    )
    accept: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="a final step scoring at least this ends the search (default: threshold)",
    )


class DFS(Strategy[DFSConfig]):
    name = "dfs"
    config_class = DFSConfig

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"stack": [tree.root_id], "expanded": [], "found": None, "last": None}

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        stack = list(state.get("stack", []))
        expanded = list(state.get("expanded", []))
        last = state.get("last")
        while stack:
            top = stack[-1]
            if top in expanded or not self.live(tree, top):
                stack.pop()
                continue
            node = tree.get(top)
            backtrack = (
                last if (last is not None and node.parent_id != last and top != tree.root_id) else None
            )
            new_state = {**state, "stack": stack, "expanded": [*expanded, top], "last": top}
            return Selection(
                [Expansion(top, k=self.config.k, greedy=self.config.k == 1)],
                new_state,
                backtrack_from=backtrack,
                note=f"backtrack to {top}" if backtrack else "",
            )
        return Selection([], {**state, "stack": []})

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        if not new_ids:
            return Update(state)
        parent = tree.get(new_ids[0]).parent_id
        expanded = list(state.get("expanded", []))
        if parent is not None and parent not in expanded:
            expanded.append(parent)
        stack = list(state.get("stack", []))
        accept = self.config.accept if self.config.accept is not None else self.config.threshold
        found = state.get("found")
        keep, pruned = [], []
        for nid in new_ids:
            node = tree.get(nid)
            if node.status in ("revised", "failed"):
                continue
            s = score_of(node)
            if node.step.is_final:
                if s >= accept and found is None:
                    found = nid
                elif s < self.config.threshold:
                    pruned.append(nid)
            elif s >= self.config.threshold:
                keep.append(node)
            else:
                pruned.append(nid)
        # Push worst first so the best child is on top (explored first); ties keep proposal order.
        keep.sort(key=lambda n: (score_of(n), -int(n.id.rsplit(".", 1)[-1])))
        stack.extend(n.id for n in keep)
        return Update({**state, "stack": stack, "expanded": expanded, "found": found}, pruned=pruned)

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return state.get("found") is not None or not state.get("stack")

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        found = state.get("found")
        if found in tree.nodes:
            return choice_of(tree.get(found))
        return default_best(tree)


@register_strategy("dfs", DFSConfig)
def make_dfs(config: DFSConfig, generation: GenerationConfig) -> DFS:
    return DFS(config, generation)
