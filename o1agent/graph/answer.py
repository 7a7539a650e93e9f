"""Choosing a run's answer and building its ``Result`` — one home for ``finalize`` and for the
partial result of an interrupted or failed run.

``choose_answer`` asks the strategy for its ``Choice`` and keeps the answer the strategy stands
behind (a best-of-N vote's answer *is* the answer). Only a path that states no answer may get
one short "final answer" call from ``finalize``; when even that is not possible the answer is
read leniently from the path. What is not an answer (empty, a bare label, an empty box, only
punctuation: ``parsing.usable_answer``) never becomes one: the ``Result`` then has
``answer=None`` and says why in ``no_answer_reason``. A path ending in an external tool call
returns that call (``Result.tool_calls``) instead of an answer. A strategy that reports what it
spent (``allocation``) has that report carried to ``Result.allocation``; a run the budget
stopped says so there (``stop``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..parsing import lenient_answer, usable_answer
from ..schema import Node, Result, Trace, Tree, Usage
from ..search.base import Choice, SearchStrategy


@dataclass(frozen=True)
class Answer:
    """The strategy's choice, the path to it, and the answer it states (``None`` if none)."""

    choice: Choice | None
    path: list[Node] = field(default_factory=list)
    stated: str | None = None
    allocation: dict[str, Any] | None = None

    @property
    def node(self) -> Node | None:
        return self.path[-1] if self.path else None

    def from_path(self) -> str | None:
        """The stated answer, else one read leniently from the path's text (``None`` if none)."""
        stated = usable_answer(self.stated)
        if stated is not None:
            return stated
        return usable_answer(lenient_answer("\n".join(n.step.raw for n in self.path)))


def no_answer_reason(tree: Tree, answer: Answer, text: str | None, exhausted_by: str | None) -> str:
    """Why a run ends without an answer, in words for the user."""
    steps = [n for n in tree.nodes.values() if n.id != tree.root_id]
    if answer.choice is None or not answer.path:
        if not steps:
            why = "the run produced no step"
        elif all(n.status == "failed" for n in steps):
            why = "every step the model proposed was empty"
        else:
            why = "the search chose no path"
    elif answer.node is not None and answer.node.pending_calls:
        names = ", ".join(dict.fromkeys(c.name for c in answer.node.pending_calls))
        why = f"the run ends in a call to {names} (Result.tool_calls): run it and continue"
    elif text is None or not text.strip():
        why = "the chosen path states no answer"
    else:
        shown = text.strip()
        why = f"the chosen path's answer {shown[:60]!r} is not an answer"
    return f"{why} (budget spent: {exhausted_by})" if exhausted_by else why


def as_choice(tree: Tree, picked: Choice | str | None) -> Choice | None:
    """A strategy's ``best``: a ``Choice``, or a bare node id (strategies written before
    ``Choice``), whose answer is then the node's stated final answer."""
    if picked is None or isinstance(picked, Choice):
        return picked
    node = tree.nodes.get(picked)
    if node is None:
        return None
    return Choice(node.id, node.step.answer if node.step.is_final else None, node.score)


def choose_answer(tree: Tree, search: dict[str, Any] | None, strategy: SearchStrategy) -> Answer:
    report = getattr(strategy, "allocation", None)
    made = report(tree, search or {}) if callable(report) else None
    allocation = made if isinstance(made, dict) else None
    choice = as_choice(tree, strategy.best(tree, search or {})) if len(tree) > 1 else None
    if choice is None or choice.node_id not in tree.nodes:
        return Answer(None, allocation=allocation)
    return Answer(choice, tree.path(choice.node_id), choice.answer, allocation)


def full_result(state: Any) -> Result | None:
    """The state's slim ``Result`` completed with the run's tree and its full trace."""
    from .events import full_trace

    result: Result | None = state.get("result") if state else None
    if result is None:
        return None
    tree: Tree = state.get("tree") or Tree()
    return result.model_copy(update={"tree": tree, "trace": full_trace(state.get("events") or [], tree)})


def build_result(
    state: Any,
    answer: Answer,
    text: str | None,
    *,
    strategy: str,
    model: str,
    usage: Usage,
    trace: Trace,
    exhausted_by: str | None,
    slim: bool = False,
) -> Result:
    """The run's ``Result``: ``text`` as its answer if it is one, else none and the reason.
    ``slim``: without tree and trace (what the state keeps). A chosen node ending in external
    calls makes them the result's ``tool_calls``."""
    full: Tree = state.get("tree") or Tree()
    final = usable_answer(text)
    reason = None if final is not None else no_answer_reason(full, answer, text, exhausted_by)
    allocation = answer.allocation
    if allocation is not None and exhausted_by is not None and allocation.get("stop") is None:
        # The strategy had not stopped by itself (no reason of its own): the budget cut it.
        allocation = {**allocation, "stop": f"budget ({exhausted_by})"}
    return Result(
        question=state.get("question", ""),
        answer=final,
        no_answer_reason=reason,
        tool_calls=answer.node.pending_calls if answer.node is not None else [],
        score=answer.choice.score if answer.choice is not None else None,
        best_path=answer.path,
        tree=Tree() if slim else full,
        usage=usage,
        budget_exhausted=exhausted_by is not None,
        exhausted_by=exhausted_by,
        strategy=strategy,
        model=model,
        run_id=state.get("run_id", ""),
        seconds=(time.time() - usage.started_at) if usage.started_at else 0.0,
        allocation=allocation,
        trace=trace,
    )
