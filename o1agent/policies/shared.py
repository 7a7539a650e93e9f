"""One process-wide cache of loaded policies, keyed by model string and options.

Loading a model is the expensive part of a run (SmolLM2 in llama.cpp: 236 MB, ~0.5 s; a trained
``local:`` checkpoint: seconds), so ``solve()`` in a loop, every ``O1ChatModel`` naming the same
model and every server request share one loaded policy. Policies are safe to share: the
embedded backend serialises its decodes and keeps reproducible runs exclusive (see
``LlamaCppPolicy.reproducible_run``); LiteLLM's clients are process-wide already.

Policy *objects* passed by the caller are never cached or closed here: their owner closes them.
"""

from __future__ import annotations

import threading
from typing import Any

from .base import Policy

_POLICIES: dict[str, Policy] = {}
_GUARD = threading.Lock()


def _key(model: str, kwargs: dict[str, Any]) -> str:
    return f"{model.strip()}|{sorted(kwargs.items())!r}"


def shared_policy(model: str | Policy, **kwargs: Any) -> Policy:
    """The loaded policy for ``model`` (loaded on first use), or ``model`` itself if it is one."""
    from . import make_policy

    if not isinstance(model, str):
        return make_policy(model)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    key = _key(model, kwargs)
    with _GUARD:
        policy = _POLICIES.get(key)
        if policy is None:
            policy = _POLICIES[key] = make_policy(model, **kwargs)
        return policy


def alias_policy(alias: str, policy: Policy) -> None:
    """Make ``alias`` (no options) resolve to an already loaded ``policy``."""
    with _GUARD:
        _POLICIES[_key(alias, {})] = policy


def is_shared(policy: Policy) -> bool:
    with _GUARD:
        return any(p is policy for p in _POLICIES.values())


async def close_shared_policies() -> None:
    """Close and forget every cached policy (server shutdown, tests)."""
    with _GUARD:
        policies = list({id(p): p for p in _POLICIES.values()}.values())
        _POLICIES.clear()
    for p in policies:
        await p.aclose()
