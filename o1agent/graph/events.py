"""Trace events of one run: slim while it runs, complete once it ends.

While the search runs, each node function records ``TraceEvent``s carrying ids, scores, token
counts and the step's text — never the whole node or its rendered prompt — and mirrors each to
LangGraph's custom stream (``stream_mode="custom"``). Checkpoints stay small because the events
channel is rewritten at every superstep.

``full_trace`` runs once, in ``finalize``: it attaches each event's final node (and its prompt)
so the trace file is self-contained and ``Trace.tree()`` rebuilds the tree, as learning needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.config import get_stream_writer

from ..schema import Node, Trace, TraceEvent, Tree


def token_counts(node: Node) -> dict[str, int]:
    """A node's tokens as trace events record them."""
    return {"prompt": node.prompt_tokens, "completion": node.completion_tokens, "reused": node.reused_tokens}


class Events:
    """Collects one node function's events and mirrors them to the custom stream."""

    def __init__(self, run_id: str, seq: int) -> None:
        self.run_id = run_id
        self.seq = seq
        self.items: list[TraceEvent] = []
        try:
            self._writer = get_stream_writer()
        except Exception:  # outside a runnable context (a helper called from a unit test)
            self._writer = None

    @classmethod
    def of(cls, state: Any) -> Events:
        return cls(state.get("run_id", ""), len(state.get("events") or []))

    def add(self, kind: Any, node: Node | None = None, **fields: Any) -> TraceEvent:
        if node is not None:
            fields.setdefault("node_id", node.id)
            fields.setdefault("parent_id", node.parent_id)
            fields.setdefault("depth", node.depth)
            if node.score is not None:
                fields.setdefault("scores", {"score": node.score})
        ev = TraceEvent(run_id=self.run_id, seq=self.seq + len(self.items), kind=kind, **fields)
        self.items.append(ev)
        if self._writer is not None:
            payload = ev.model_dump(mode="json")
            if node is not None:
                payload.update(
                    title=node.step.title,
                    text=node.step.raw,
                    score=node.score,
                    status=node.status,
                    answer=node.step.answer,
                )
            self._writer(payload)
        return ev


def full_trace(events: Sequence[TraceEvent], tree: Tree) -> Trace:
    """The run's complete trace: every event, with its node as the run left it."""
    out: list[TraceEvent] = []
    for ev in events:
        node = tree.nodes.get(ev.node_id) if ev.node_id is not None else None
        if node is None or ev.kind == "start":
            out.append(ev)
            continue
        update: dict[str, Any] = {"data": {**ev.data, "node": node.model_dump(mode="json")}}
        if ev.kind in ("propose", "revise"):
            if node.prompt and ev.prompt is None:
                update["prompt"] = node.prompt
            if ev.step is None:
                update["step"] = node.step
        out.append(ev.model_copy(update=update))
    return Trace(events=out)
