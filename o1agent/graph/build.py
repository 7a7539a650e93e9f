"""``build_reasoning_graph``: the keyword-only factory that wires the nodes into one graph.

The graph is compiled without any policy, strategy or budget — those come per run in a
``RunContext`` — so it is compiled once and shared (``shared_graph()``) by ``Reasoner``,
``O1ChatModel`` and ``o1agent serve``. A checkpointer, or stopping for review before
``finalize``, needs its own compiled graph (still one per checkpointer, not per call).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from langgraph.graph import END, START, StateGraph

from ..serde import with_o1agent_types
from . import nodes
from .context import RunContext
from .state import ReasoningState


def build_reasoning_graph(
    *,
    checkpointer: Any = None,
    interrupt_before_finalize: bool = False,
    name: str = "o1agent",
) -> Any:
    """Compile the reasoning graph. Run it with a context::

        graph = build_reasoning_graph()
        ctx = make_context(policy=ScriptedPolicy([...]), strategy="beam")
        state = await graph.ainvoke({"question": "..."}, context=ctx)
        state["result"]  # the Result

    ``checkpointer`` makes runs durable (o1agent's types are registered with its serializer);
    ``interrupt_before_finalize`` stops each run before ``finalize`` for a person to review.
    """
    builder = StateGraph(ReasoningState, context_schema=RunContext)
    builder.add_node("decompose", nodes.decompose)
    builder.add_node("select", nodes.select)
    builder.add_node("propose", nodes.propose)
    builder.add_node("verify", nodes.verify)
    builder.add_node("revise", nodes.revise)
    builder.add_node("finalize", nodes.finalize)
    builder.add_edge(START, "decompose")
    builder.add_edge("decompose", "select")
    builder.add_conditional_edges("select", nodes.route_after_select, ["propose", "finalize"])
    builder.add_edge("propose", "verify")
    builder.add_conditional_edges("verify", nodes.route_after_verify, ["revise", "select"])
    builder.add_edge("revise", "verify")
    builder.add_edge("finalize", END)
    return builder.compile(
        checkpointer=with_o1agent_types(checkpointer),
        interrupt_before=["finalize"] if interrupt_before_finalize else None,
        name=name,
    )


@lru_cache(maxsize=1)
def shared_graph() -> Any:
    """The process's one compiled graph without a checkpointer."""
    return build_reasoning_graph()
