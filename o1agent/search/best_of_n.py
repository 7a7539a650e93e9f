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

This is not a tree search: chains never branch after the root and are never pruned.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from ..parsing import lenient_answer
from ..schema import Node, Tree
from .base import Expansion, Selection, StrategyConfig, Update, default_best, register_strategy, score_of

SelectBy = Literal["outcome", "weighted_vote", "majority"]


class BestOfNConfig(StrategyConfig):
    n: int = Field(default=4, ge=1, le=64, description="number of whole solutions sampled from the root")
    select_by: SelectBy = Field(
        default="weighted_vote",
        description="how the answer is chosen: 'outcome' (best score), 'weighted_vote' (sum of scores per "
        "answer) or 'majority' (most frequent answer, ties to the highest score)",
    )


_SPACE = re.compile(r"\s+")


def normalize_answer(answer: str) -> str:
    """Key under which answers are counted as the same vote: case, spacing, trailing dots and
    numeric form ("12", "12.0", "1,200" vs "1200") are ignored."""
    text = _SPACE.sub(" ", answer.strip().lower()).rstrip(".").strip().strip("$").strip()
    num = text.replace(",", "")
    try:
        value = float(num)
    except ValueError:
        return text
    # Integers print without ".0" so "12" and "12.0" meet; other floats keep repr precision.
    return str(int(value)) if value.is_integer() else repr(value)


def vote(finals: list[Node], select_by: SelectBy) -> Node | None:
    """The node whose answer wins under ``select_by``. ``finals`` are in sample order, which
    breaks any remaining tie (the earliest sample wins, so the greedy one when present)."""
    finals = [n for n in finals if n.step.answer is not None]
    if not finals:
        return None
    order = {n.id: i for i, n in enumerate(finals)}

    def best_in(nodes: list[Node]) -> Node:
        return max(nodes, key=lambda n: (score_of(n), -order[n.id]))

    if select_by == "outcome":
        return best_in(finals)
    groups: dict[str, list[Node]] = {}
    for n in finals:
        groups.setdefault(normalize_answer(n.step.answer or ""), []).append(n)

    def group_key(nodes: list[Node]) -> tuple[float, float, int]:
        top = best_in(nodes)
        primary = sum(score_of(n) for n in nodes) if select_by == "weighted_vote" else float(len(nodes))
        return (primary, score_of(top), -order[top.id])

    winner = max(groups.values(), key=group_key)
    return best_in(winner)


class BestOfN:
    name = "best_of_n"

    def __init__(self, config: BestOfNConfig | None = None) -> None:
        self.config = config or BestOfNConfig()

    def init_state(self, tree: Tree) -> dict[str, Any]:
        # ``chains`` holds the current tip of each sample, in sample order.
        return {"started": False, "chains": []}

    def _live(self, tree: Tree, nid: str) -> bool:
        node = tree.get(nid)
        return (
            not node.step.is_final
            and node.depth < self.config.max_depth
            and node.status not in ("failed", "pruned")
        )

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if not state.get("started"):
            return Selection(
                [Expansion(tree.root_id, k=self.config.n, verify="final")],
                {**state, "started": True, "chains": []},
                note=f"sample {self.config.n} solutions",
            )
        live = [c for c in state.get("chains", []) if self._live(tree, c)]
        # All unfinished chains advance together: one round = one step of every chain.
        return Selection([Expansion(c, k=1, verify="final", greedy=True) for c in live], state)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        chains = list(state.get("chains", []))
        fresh = [i for i in new_ids if tree.get(i).status != "revised"]
        if not chains:
            return Update({**state, "chains": [i for i in fresh if tree.get(i).parent_id == tree.root_id]})
        index = {tip: i for i, tip in enumerate(chains)}
        for nid in fresh:
            parent = tree.get(nid).parent_id
            if parent in index:
                chains[index[parent]] = nid
        return Update({**state, "chains": chains})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return bool(state.get("started")) and not any(self._live(tree, c) for c in state.get("chains", []))

    def best(self, tree: Tree, state: dict[str, Any]) -> str | None:
        # ``state`` may be empty (a partial result of an interrupted run): then vote over the tree.
        tips = [tree.get(c) for c in state.get("chains", []) if c in tree.nodes]
        finals = [n for n in tips if n.step.is_final] or tree.terminals()
        # A chain cut by max_depth or the budget still votes, with the answer read leniently from
        # its path (greedy gets the same courtesy from finalize); otherwise SC loses to greedy
        # merely because sampled chains run longer.
        unfinished = []
        for n in tips:
            if n.step.is_final:
                continue
            ans = lenient_answer("\n".join(p.step.raw for p in tree.path(n.id)))
            if ans:
                unfinished.append(n.model_copy(update={"step": n.step.model_copy(update={"answer": ans})}))
        chosen = vote([*finals, *unfinished], self.config.select_by)
        if chosen is not None:
            return chosen.id
        if tips:
            return max(tips, key=lambda n: (score_of(n), n.depth)).id
        return default_best(tree)


@register_strategy("best_of_n", BestOfNConfig)
def make_best_of_n(config: BestOfNConfig) -> BestOfN:
    return BestOfN(config)
