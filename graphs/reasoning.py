"""Deployable entry point for LangGraph CLI / Studio (see ``langgraph.json``).

Exposes ``graph``: the one compiled reasoning graph, with this process's default run context —
the embedded model with DFS and the LLM judge, unless ``O1AGENT_MODEL`` (a LiteLLM model
string), ``O1AGENT_API_BASE``, ``O1AGENT_STRATEGY``, ``O1AGENT_REWARD`` or
``O1AGENT_MAX_TOKENS`` say otherwise. A platform cannot send Python objects as a run's context,
so runs that pass none use this one (bound to this graph object). Invoke with ``{"question": "..."}``; the final state's
``result`` holds the answer. Persistence is the platform's checkpointer.
"""

from __future__ import annotations

import os

from o1agent.graph import bind_context
from o1agent.reasoner import Reasoner

_reasoner = Reasoner(
    model=os.environ.get("O1AGENT_MODEL", "embedded"),
    api_base=os.environ.get("O1AGENT_API_BASE"),
    strategy=os.environ.get("O1AGENT_STRATEGY", "dfs"),
    reward=os.environ.get("O1AGENT_REWARD", "judge"),
    budget={"max_tokens": int(os.environ.get("O1AGENT_MAX_TOKENS", "4000"))},
)
graph = bind_context(_reasoner.graph, _reasoner.context).with_config({"recursion_limit": 1_000_000})
