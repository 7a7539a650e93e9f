"""The reasoning graph as LangGraph CLI / Studio / Platform serve it (``graphs/reasoning.py``).

A platform sends a run's settings as JSON, never Python objects, so the deployed graph's context
schema is ``DeploySettings`` — model, api_base, strategy, strategy_config, reward, budget fields,
seed, built-in tool names, every one optional — and each run's settings are resolved to a
``RunContext`` over the deployment's default ``Reasoner``: settings left out keep its defaults,
another ``model`` (or ``api_base``) is a Reasoner of its own, loaded once per process. Studio shows
the schema as the run's context form; ``langgraph_sdk`` passes it as ``context={...}``.

The compiled graph is the process's one shared graph (``o1agent.graph.shared_graph``) with this
context schema and the resolver bound to it (``bind_context``); persistence is the platform's
checkpointer. Keys a platform adds to the context that are not settings are ignored (logged).

What this is not: a server (the platform is; ``o1agent serve`` is the OpenAI-compatible one), or
a place to pass Python objects (a policy, a reward model): build a ``Reasoner`` for those.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

# pydantic (LangGraph's JSON schema of the context) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import TypedDict

from .errors import ConfigError
from .graph import RunContext, bind_context, shared_graph
from .reasoner import Reasoner
from .schema import Budget

logger = logging.getLogger(__name__)


class DeploySettings(TypedDict, total=False):
    """A deployed run's settings (its LangGraph ``context``); each one left out keeps the default."""

    model: str
    """'embedded', a .gguf path or a LiteLLM model string."""
    api_base: str
    """Base URL of an OpenAI-compatible backend (LiteLLM models)."""
    strategy: str
    strategy_config: dict[str, Any]
    reward: str
    max_tokens: int
    max_nodes: int
    max_seconds: float
    seed: int | None
    tools: list[str]
    """Built-in tool names (calculator, python)."""


_BUDGET_KEYS = ("max_tokens", "max_nodes", "max_seconds")
_RUN_KEYS = ("strategy", "strategy_config", "reward", "seed", "tools")


class SettingsResolver:
    """``settings -> RunContext`` for a deployed graph; the same settings give the same context."""

    def __init__(self, default: Reasoner, **reasoner_kwargs: Any) -> None:
        self.default = default
        self._kwargs = reasoner_kwargs
        self._reasoners: dict[tuple[str, str | None], Reasoner] = {}
        self._contexts: dict[str, RunContext] = {}
        # Nodes of concurrent runs resolve at once; a model is still loaded only once.
        self._lock = threading.Lock()

    def _reasoner(self, model: str | None, api_base: str | None) -> Reasoner:
        if model is None and api_base is None:
            return self.default
        key = (model or str(self._kwargs.get("model", "embedded")), api_base or self._kwargs.get("api_base"))
        if key not in self._reasoners:
            self._reasoners[key] = Reasoner(**{**self._kwargs, "model": key[0], "api_base": key[1]})
        return self._reasoners[key]

    def __call__(self, settings: Mapping[str, Any]) -> RunContext:
        known = {k: v for k, v in settings.items() if k in DeploySettings.__annotations__}
        if len(known) < len(settings):
            logger.debug("context keys that are not settings ignored: %s", sorted(set(settings) - set(known)))
        try:
            key = json.dumps(known, sort_keys=True)
        except TypeError as exc:
            raise ConfigError(f"deployed run settings must be JSON: {exc}") from None
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is None:
                reasoner = self._reasoner(known.get("model"), known.get("api_base"))
                overrides: dict[str, Any] = {k: known[k] for k in _RUN_KEYS if k in known}
                budget = {k: known[k] for k in _BUDGET_KEYS if k in known}
                if budget:
                    overrides["budget"] = Budget(**{**reasoner.budget.model_dump(), **budget})
                ctx = self._contexts[key] = reasoner.context_for(**overrides)
        return ctx


def deployed_graph(**reasoner_kwargs: Any) -> Any:
    """The shared reasoning graph with ``DeploySettings`` as its context schema, resolved over a
    ``Reasoner(**reasoner_kwargs)`` (the deployment's defaults; its model is loaded on first use
    by the backend's own rules). Invoke with ``{"question": "..."}``; the final state's
    ``result`` holds the answer."""
    default = Reasoner(**reasoner_kwargs)
    graph = shared_graph().copy({"context_schema": DeploySettings})
    # Each expansion takes ~3 supersteps: the budget, not LangGraph's default of 25, bounds a run.
    return bind_context(graph, SettingsResolver(default, **reasoner_kwargs)).with_config(
        {"recursion_limit": 1_000_000}
    )
