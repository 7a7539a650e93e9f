"""The reasoning graph as a subgraph of your own LangGraph ``StateGraph``.

Run: ``python examples/subgraph.py``. The outer graph cleans the question, runs o1agent's search
as a node, then writes a report. ``stream_mode="custom"`` with ``subgraphs=True`` shows every
expansion, score, backtrack and revision of the inner search live.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from o1agent.integrations import reasoning_subgraph
from o1agent.schema import Result


class State(TypedDict, total=False):
    question: str  # shared with the reasoning graph (its input)
    result: Result  # shared with the reasoning graph (its output)
    report: str


def prepare(state: State) -> dict[str, Any]:
    return {"question": " ".join(state["question"].split())}


def report(state: State) -> dict[str, Any]:
    r = state["result"]
    return {"report": f"answer {r.answer!r} after {r.usage.nodes} steps ({r.usage.total_tokens} tokens)"}


async def main() -> None:
    reason = reasoning_subgraph("embedded", "none", strategy="greedy", budget={"max_nodes": 4})
    builder = StateGraph(State)
    builder.add_node("prepare", prepare)
    builder.add_node("reason", reason)
    builder.add_node("report", report)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "reason")
    builder.add_edge("reason", "report")
    builder.add_edge("report", END)
    graph = builder.compile()

    question = "  What is   7 plus 8?  "
    async for ns, mode, chunk in graph.astream(
        {"question": question}, {"recursion_limit": 1000}, stream_mode=["custom", "updates"], subgraphs=True
    ):
        if mode == "custom":
            text = (chunk.get("text") or "").strip().replace("\n", " ")[:80]
            print(f"  [{ns[0].split(':')[0]}] {chunk['kind']:<9} {chunk.get('node_id') or ''} {text}")
        elif not ns and "report" in chunk:
            print(chunk["report"]["report"])


if __name__ == "__main__":
    asyncio.run(main())
