"""Deployable entry point for LangGraph CLI / Studio (see ``langgraph.json``).

Exposes ``graph``: the reasoning graph on the embedded model with DFS and the LLM judge. Set
``O1AGENT_MODEL`` (a LiteLLM model string), ``O1AGENT_API_BASE``, ``O1AGENT_STRATEGY`` and
``O1AGENT_MAX_TOKENS`` to deploy another configuration. Invoke with ``{"question": "..."}``;
the final state's ``result`` holds the answer. Persistence is the platform's checkpointer.
"""

from __future__ import annotations

import os

from o1agent.graph import build_reasoning_graph
from o1agent.policies import make_policy
from o1agent.reasoner import make_reward
from o1agent.schema import Budget

_policy = make_policy(
    os.environ.get("O1AGENT_MODEL", "embedded"), api_base=os.environ.get("O1AGENT_API_BASE")
)

graph = build_reasoning_graph(
    _policy,
    make_reward(os.environ.get("O1AGENT_REWARD", "judge"), _policy),
    strategy=os.environ.get("O1AGENT_STRATEGY", "dfs"),
    budget=Budget(max_tokens=int(os.environ.get("O1AGENT_MAX_TOKENS", "4000"))),
).with_config({"recursion_limit": 1_000_000})
