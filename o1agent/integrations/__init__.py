"""Integrations with the wider ecosystem: LangChain/LangGraph (``langchain``) and durable,
resumable runs on SQLite or PostgreSQL checkpoints (``checkpoint``).

Submodules import their optional dependencies when first used, so importing this package costs
nothing: ``from o1agent.integrations import O1ChatModel`` loads langchain-core only then.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "O1ChatModel": "langchain",
    "deep_reason_tool": "langchain",
    "reasoning_subgraph": "langchain",
    "open_checkpointer": "checkpoint",
    "resume": "checkpoint",
    "fork": "checkpoint",
    "approve": "checkpoint",
    "reject": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'o1agent.integrations' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
