"""The plain data a strategy exchanges with the graph: ``Expansion`` (what to expand),
``Selection`` and ``Update`` (what ``select`` / ``update`` decided) and ``Choice`` (what ``best``
stands behind). Dataclasses only: no logic, no model calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Expansion:
    """Ask the graph for ``k`` candidate children of ``node_id`` — or, with ``mode="revise"``, for
    a rewrite of ``node_id`` itself from its critique.

    ``verify``: score every new child (True), none (False), or only final ones ("final" — for
    rollouts). ``greedy``: decode all k at temperature 0. Otherwise, with the generation's
    ``greedy_first``, the first candidate is greedy and the rest are sampled, so the greedy path
    is always in the tree and search can only add to it. ``greedy_first=False`` samples all k
    whatever the generation says: for a node expanded again (a second wave of samples from the
    root, a resampled particle), whose greedy candidate is already in the tree.

    A revise expansion adds one sibling with ``revised_from=node_id`` (the original is marked
    "revised") and hands that new id to ``update``; ``k`` and ``greedy`` are ignored.
    """

    node_id: str
    k: int = 1
    verify: bool | Literal["final"] = True
    greedy: bool = False
    mode: Literal["propose", "revise"] = "propose"
    greedy_first: bool = True


@dataclass
class Selection:
    """What ``select`` decided: expansions (empty means nothing left), and the new state."""

    expansions: list[Expansion]
    state: dict[str, Any]
    backtrack_from: str | None = None
    note: str = ""


@dataclass
class Update:
    """What ``update`` decided: the new state, and nodes the strategy gave up on."""

    state: dict[str, Any]
    pruned: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Choice:
    """What ``best`` stands behind: a node, the answer, and the node's score.

    ``node_id``: the node whose path is the solution shown (for a vote: a representative of the
    winning group — its highest-scoring member, the earliest sample on a tie).

    ``answer``: the answer the strategy stands behind. For a final node it is the node's
    ``step.answer``; for a vote it is the voted answer exactly as the vote counted it (an answer
    read leniently from an unfinished chain included), so the graph never makes a model call
    that could change a vote's outcome. ``None`` when the chosen node states no answer: the graph
    then reads it from the path, or asks once.

    ``score``: the chosen node's own ``score`` (what the reward gave that step; ``None`` when it
    was never scored) — not a path aggregate, visit count or vote total, so a result's score
    means the same thing whichever strategy produced it.
    """

    node_id: str
    answer: str | None
    score: float | None
