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
whose step came back empty ("failed") ends where it was.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..config import GenerationConfig
from ..parsing import lenient_answer
from ..schema import Node, Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import choice_of, default_best, score_of
from .types import Choice, Expansion, Selection, Update

SelectBy = Literal["outcome", "weighted_vote", "majority"]


class BestOfNConfig(StrategyConfig):
    n: int = Field(default=4, ge=1, le=64, description="number of whole solutions sampled from the root")
    select_by: SelectBy = Field(
        default="weighted_vote",
        description="how the answer is chosen: 'outcome' (best score), 'weighted_vote' (sum of scores per "
        "answer) or 'majority' (most frequent answer, ties to the highest score)",
    )


def normalize_answer(answer: str) -> str:
    """Key under which answers are counted as the same vote: case, spacing, trailing dots and
    numeric form ("12", "12.0", "1,200" vs "1200") are ignored."""
    text = " ".join(answer.lower().split()).rstrip(".").strip().strip("$").strip()
    num = text.replace(",", "")
    try:
        value = float(num)
    except ValueError:
        return text
    # Integers print without ".0" so "12" and "12.0" meet; other floats keep repr precision.
    return str(int(value)) if value.is_integer() else repr(value)


def vote(finals: list[Node], select_by: SelectBy) -> Node | None:
    """The node whose answer wins under ``select_by``: the best-scored member of the winning
    group. The order of ``finals`` breaks any remaining tie (the earlier wins): sample order,
    with ``BestOfN.best`` putting finished chains before cut ones. A blank answer never votes."""
    finals = [n for n in finals if (n.step.answer or "").strip()]
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


class BestOfN(Strategy[BestOfNConfig]):
    name = "best_of_n"
    config_class = BestOfNConfig

    def init_state(self, tree: Tree) -> dict[str, Any]:
        # ``chains`` holds the current tip of each sample, in sample order; ``ended`` the tips
        # whose next step came back empty.
        return {"started": False, "chains": [], "ended": []}

    def _live(self, tree: Tree, state: dict[str, Any], nid: str) -> bool:
        return nid not in state.get("ended", []) and self.live(tree, nid)

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if not state.get("started"):
            if not self.can_expand(tree.root):
                return Selection([], state, note="the question cannot be expanded")
            return Selection(
                [Expansion(tree.root_id, k=self.config.n, verify="final")],
                {**state, "started": True, "chains": [], "ended": []},
                note=f"sample {self.config.n} solutions",
            )
        live = [c for c in state.get("chains", []) if self._live(tree, state, c)]
        # All unfinished chains advance together: one round = one step of every chain.
        return Selection([Expansion(c, k=1, verify="final", greedy=True) for c in live], state)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        chains = list(state.get("chains", []))
        ended = list(state.get("ended", []))
        fresh = [tree.get(i) for i in new_ids if tree.get(i).status != "revised"]
        if not chains:
            # The root's samples: an empty one is no chain at all.
            starts = [n.id for n in fresh if n.parent_id == tree.root_id and n.status != "failed"]
            return Update({**state, "chains": starts, "ended": ended})
        index = {tip: i for i, tip in enumerate(chains)}
        for node in fresh:
            if node.parent_id not in index:
                continue
            if node.status == "failed":
                # The chain keeps its last real step as its tip and stops there.
                if node.parent_id not in ended:
                    ended.append(node.parent_id)
            else:
                chains[index[node.parent_id]] = node.id
        return Update({**state, "chains": chains, "ended": ended})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        if not state.get("started"):
            return not self.can_expand(tree.root)
        return not any(self._live(tree, state, c) for c in state.get("chains", []))

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        # ``state`` may be empty (a partial result of an interrupted run): then vote over the tree.
        tips = [tree.get(c) for c in state.get("chains", []) if c in tree.nodes]
        finals = [n for n in tips if n.step.is_final] or [n for n in tree.terminals() if n.status != "failed"]
        # A chain cut by max_depth or the budget still votes, with the answer read leniently from
        # its path (greedy gets the same courtesy from finalize); otherwise SC loses to greedy
        # merely because sampled chains run longer. Finished chains come first, so on a full tie a
        # stated answer beats a leniently read one. Only a stated answer or a number votes: a line
        # of prose ("Determine the number of apples") is no answer, and counting it would make
        # it the run's answer.
        unfinished = []
        for n in tips:
            if n.step.is_final:
                continue
            ans = lenient_answer("\n".join(p.step.raw for p in tree.path(n.id)), last_line=False)
            if ans:
                unfinished.append(n.model_copy(update={"step": n.step.model_copy(update={"answer": ans})}))
        chosen = vote([*finals, *unfinished], self.config.select_by)
        if chosen is not None:
            # ``chosen`` may be a copy carrying the lenient answer: that answer is the vote's.
            return Choice(chosen.id, chosen.step.answer, chosen.score)
        if tips:
            return choice_of(max(tips, key=lambda n: (score_of(n), n.depth)))
        return default_best(tree)


@register_strategy("best_of_n", BestOfNConfig)
def make_best_of_n(config: BestOfNConfig, generation: GenerationConfig) -> BestOfN:
    return BestOfN(config, generation)
