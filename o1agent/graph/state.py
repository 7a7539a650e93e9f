"""``ReasoningState``: the LangGraph state of one reasoning run, and its reducers.

A node function returns a *partial* update; each key's reducer folds it into the state:

* ``tree`` — ``merge_tree``: a dict ``{node_id: Node}`` replaces those nodes by id, so a node
  returns only what it created or changed. ``decompose`` writes a whole ``Tree`` wrapped in
  ``Overwrite``, which replaces the channel: a thread's next question starts from a fresh tree.
* ``usage`` — ``add_usage``: ``Usage`` values add up; ``Overwrite`` (from ``decompose``) resets.
* ``events`` — ``add_events``: lists append; ``Overwrite`` resets. Events are slim (ids, scores,
  text): the full trace, with every node, is built once by ``finalize``.

Every other key is replaced by the last write. The tree is plain data linked by ids, so
checkpoints, ``stream_mode="values"``, resume and fork all come from LangGraph unchanged.

This module is data only: no model calls, no graph wiring.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from ..schema import Result, TraceEvent, Tree, Usage, add_usage, merge_tree


def add_events(left: list[TraceEvent] | None, right: list[TraceEvent] | None) -> list[TraceEvent]:
    """Reducer for ``events``: append."""
    return [*(left or []), *(right or [])]


class ReasoningState(TypedDict, total=False):
    """State of one reasoning run.

    Input: ``question`` (and optionally ``run_id`` and ``subgoals``). Output: ``result``.
    """

    question: str
    """The question, as the caller gave it (validated by ``Reasoner``)."""
    run_id: str
    """Id of this run in events and results; ``decompose`` makes one when it is missing."""
    subgoals: list[str]
    """Sub-goals given by the caller or produced by ``decompose``; shown in propose prompts."""
    tree: Annotated[Tree, merge_tree]
    """The search tree. Reducer: node dicts merge by id; ``Overwrite(Tree)`` replaces."""
    usage: Annotated[Usage, add_usage]
    """Compute spent so far. Reducer: adds; ``Overwrite(Usage)`` replaces."""
    events: Annotated[list[TraceEvent], add_events]
    """Slim trace events so far. Reducer: appends; ``Overwrite(list)`` replaces."""
    search: dict[str, Any]
    """The strategy's own serialisable state (``init_state`` / ``select`` / ``update``)."""
    expansions: list[dict[str, Any]]
    """What ``select`` asked ``propose`` to do this round (``Expansion`` fields)."""
    pending: list[str]
    """Ids created this round, not yet folded into the strategy by ``update``."""
    last_expanded: str | None
    """The node expanded last; a selection that is not its child is a backtrack."""
    route: Literal["propose", "finalize"]
    """``select``'s decision, read by its router."""
    revise_next: bool
    """``verify``'s decision (weak steps to rewrite, budget left), read by its router."""
    exhausted_by: str | None
    """The budget bound that stopped the run, if any."""
    result: Result | None
    """The run's ``Result``, set by ``finalize``."""
