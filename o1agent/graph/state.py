"""``ReasoningState``: the LangGraph state of one reasoning run, and its reducers.

A node function returns a *partial* update; each key's reducer folds it into the state:

* ``tree`` — ``merge_trees``: dicts ``{node_id: Node}`` replace those nodes by id, so a node
  returns only what it created or changed. ``decompose`` writes a whole ``Tree`` wrapped in
  ``Overwrite``, which replaces the channel: a thread's next question starts from a fresh tree.
* ``usage`` — ``add_usage``: ``Usage`` values add up; ``Overwrite`` (from ``decompose``) resets.
* ``events`` — ``add_event_batches``: lists append; ``Overwrite`` resets. Events are slim (ids,
  scores, text): the full trace, with every node, is built from the state when a run ends.
* ``result`` — the last write: a *slim* ``Result`` (answer, score, path, usage; no tree, no
  trace). ``full_result(state)`` adds the tree and the full trace back, so a checkpoint does not
  store the tree twice.

``tree`` and ``events`` are LangGraph ``DeltaChannel``s: a checkpoint stores only each
superstep's writes (the nodes that changed, the new events), not the whole tree again, so a run's
checkpoints grow with its nodes, not with nodes × supersteps. Their reducers take a batch of
writes and are batching-invariant, as ``DeltaChannel`` requires.

Every other key is replaced by the last write. The tree is plain data linked by ids, so
checkpoints, ``stream_mode="values"``, resume and fork all come from LangGraph unchanged.

This module is data only: no model calls, no graph wiring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langgraph.channels.delta import DeltaChannel

from ..schema import Node, Result, Step, TraceEvent, Tree, Usage, add_usage, merge_tree


def merge_trees(tree: Tree, updates: Sequence[Tree | dict[str, Node]]) -> Tree:
    """Batch reducer for ``tree``: each update replaces nodes by id, in order."""
    for update in updates:
        tree = merge_tree(tree, update)
    return tree


def add_event_batches(events: list[TraceEvent], batches: Sequence[list[TraceEvent]]) -> list[TraceEvent]:
    """Batch reducer for ``events``: append every batch, in order."""
    return [*(events or []), *(ev for batch in batches for ev in (batch or []))]


class ReasoningState(TypedDict, total=False):
    """State of one reasoning run.

    Input: ``question`` (and optionally ``run_id``, ``subgoals`` and ``prior_steps``). Output:
    ``result``.
    """

    question: str
    """The question, as the caller gave it (validated by ``Reasoner``)."""
    run_id: str
    """Id of this run in events and results; ``decompose`` makes one when it is missing."""
    subgoals: list[str]
    """Sub-goals given by the caller or produced by ``decompose``; shown in propose prompts."""
    prior_steps: list[Step]
    """Steps taken before this run (an external tool call and its result): the tree's ``prior``."""
    tree: Annotated[Tree, DeltaChannel(merge_trees)]
    """The search tree. Reducer: node dicts merge by id; ``Overwrite(Tree)`` replaces."""
    usage: Annotated[Usage, add_usage]
    """Compute spent so far. Reducer: adds; ``Overwrite(Usage)`` replaces."""
    events: Annotated[list[TraceEvent], DeltaChannel(add_event_batches)]
    """Slim trace events so far. Reducer: appends; ``Overwrite(list)`` replaces."""
    search: dict[str, Any]
    """The strategy's own serialisable state (``init_state`` / ``select`` / ``update``)."""
    expansions: list[dict[str, Any]]
    """What ``select`` asked ``propose`` to do this round (``Expansion`` fields)."""
    pending: list[str]
    """Ids created this round, not yet folded into the strategy by ``update``."""
    route: Literal["propose", "finalize"]
    """``select``'s decision, read by its router."""
    revise_next: bool
    """``verify``'s decision (weak steps to rewrite, budget left), read by its router."""
    exhausted_by: str | None
    """The budget bound that stopped the run, if any."""
    result: Result | None
    """The run's slim ``Result``, set by ``finalize`` (``full_result`` completes it)."""
