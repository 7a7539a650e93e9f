"""Shared bits of the embedded-model benchmarks: a recording policy wrapper and the question set."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from o1agent.policies.base import Completion, CompletionRequest
from o1agent.policies.llamacpp import LlamaCppPolicy

QUESTIONS = [
    "A farmer has 3 pens with 4 sheep in each. How many sheep?",
    "Tom has 7 apples and buys 5 more. How many apples does he have?",
]


class Recording:
    """Wraps a LlamaCppPolicy and records every rendered prompt and its completion lengths."""

    def __init__(self, inner: LlamaCppPolicy) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[tuple[str, list[int], float]] = []  # (prompt, completion token counts, temperature)

    @property
    def supports_logprobs(self) -> bool:
        return True

    def reset(self) -> None:
        self.inner.reset()

    def reproducible_run(self, key: object):
        # A seeded run starts from a clean cache, as on the bare policy: the figures compare the
        # same work with and without o1agent, not a warm cache against a cold one.
        return self.inner.reproducible_run(key)

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        outs = await self.inner.complete(request)
        self.calls.append((self.inner.render(request), [o.completion_tokens for o in outs], request.temperature))
        return outs

    async def aclose(self) -> None:
        return None


def unique_prompt_tokens(policy: LlamaCppPolicy, prompts: list[str]) -> int:
    """Size of the token trie of all prompts: tokens no earlier prompt shares as a prefix."""
    trie: dict = {}
    count = 0
    for p in prompts:
        node = trie
        for tok in policy.tokenize(p):
            nxt = node.get(tok)
            if nxt is None:
                nxt = node[tok] = {}
                count += 1
            node = nxt
    return count


def search_strategy() -> tuple[str, dict]:
    from o1agent.search import available_strategies

    if "beam" in available_strategies():
        return "beam", {"width": 3, "k": 3, "max_depth": 4}
    # Until beam lands, DFS with the same branching stands in (reported in the output).
    return "dfs", {"k": 3, "max_depth": 4, "threshold": 0.0}
