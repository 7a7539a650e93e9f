"""Deployable entry point for LangGraph CLI / Studio (see ``langgraph.json``): ``langgraph dev``.

Exposes ``graph``: the reasoning graph whose run context is JSON settings
(``o1agent.deploy.DeploySettings``: model, api_base, strategy, strategy_config, reward,
max_tokens, max_nodes, max_seconds, seed, tools). Settings a run leaves out come from this
process's defaults — the embedded model with DFS and the LLM judge, unless ``O1AGENT_MODEL`` (a
LiteLLM model string), ``O1AGENT_API_BASE``, ``O1AGENT_STRATEGY``, ``O1AGENT_REWARD`` or
``O1AGENT_MAX_TOKENS`` say otherwise. Invoke with ``{"question": "..."}``; the final state's
``result`` holds the answer. Persistence is the platform's checkpointer.
"""

from __future__ import annotations

import os

from o1agent.deploy import deployed_graph

graph = deployed_graph(
    model=os.environ.get("O1AGENT_MODEL", "embedded"),
    api_base=os.environ.get("O1AGENT_API_BASE"),
    strategy=os.environ.get("O1AGENT_STRATEGY", "dfs"),
    reward=os.environ.get("O1AGENT_REWARD", "judge"),
    budget={"max_tokens": int(os.environ.get("O1AGENT_MAX_TOKENS", "4000"))},
)
