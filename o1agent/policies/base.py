"""The ``Policy`` protocol: anything that turns a prompt into one or more completions.

A policy is async-first (``await policy.complete(request)``) and reports usage honestly: prompt
tokens, completion tokens, prompt tokens served from a cache (``reused_tokens``), dollars. It does
not know about trees, steps or strategies — the graph builds prompts and parses steps.

``CompletionRequest`` carries chat ``messages``; backends that continue raw text (llama.cpp)
render them with the model's own chat template. ``assistant_prefix`` is text the assistant turn
must continue from, which is how a step is appended to a partial solution while keeping the
rendered prompt a strict prefix of its children's prompts (so KV caches reuse it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, field_validator

from ..sanitize import clean_text

#: The key of the reproducible run the current task works for (``None``: none). The graph sets it
#: at the start of every node from the run's context, so a policy can tell a reproducible run's
#: own calls — including a grader's, made from inside the node — from other runs' calls, however
#: the caller drives the run (e.g. an async generator pulled from several tasks).
RUN_KEY: contextvars.ContextVar[object | None] = contextvars.ContextVar("o1agent_run_key", default=None)

#: The tasks working for the current run (``None`` outside a run), set with ``RUN_KEY``. A policy
#: whose calls run in a thread adds the task awaiting it (``join_run``): cancelling the run then
#: waits until that work has stopped — ``asyncio.gather`` returns at its first cancelled child,
#: not when all of them have ended.
RUN_TASKS: contextvars.ContextVar[weakref.WeakSet[asyncio.Task[Any]] | None] = contextvars.ContextVar(
    "o1agent_run_tasks", default=None
)


def join_run() -> None:
    """Count the current task among the current run's (see ``RUN_TASKS``)."""
    tasks = RUN_TASKS.get()
    if tasks is not None:
        with contextlib.suppress(RuntimeError):  # called from a thread: no task to add
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)


class Message(BaseModel):
    role: str
    content: str


class CompletionRequest(BaseModel):
    """One request for ``n`` completions of the same prompt."""

    messages: list[Message]
    assistant_prefix: str = ""
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = 0
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


class Completion(BaseModel):
    """One completion, with the usage of the call that made it.

    When a backend returns ``n`` choices from one call, the first choice carries the call's prompt
    usage and the others carry zero prompt tokens, so summing completions never double counts.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reused_tokens: int = 0
    dollars: float = 0.0
    seconds: float = 0.0
    seed: int | None = None
    logprobs: list[TokenLogprob] | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    rendered_prompt: str = ""

    @field_validator("text")
    @classmethod
    def _encodable(cls, text: str) -> str:
        # Every policy's text enters the tree here: a lone surrogate (a byte-level decoder, a
        # server's "\\ud800") would break every later prompt, checkpoint and JSON writer.
        return clean_text(text)

    @property
    def mean_logprob(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)


@runtime_checkable
class Policy(Protocol):
    """Proposes text. ``name`` identifies the model in results and traces."""

    name: str

    @property
    def supports_logprobs(self) -> bool: ...

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        """Return ``request.n`` completions (emulating ``n`` if the backend ignores it)."""
        ...

    async def aclose(self) -> None:
        """Release resources (servers, clients). Idempotent."""
        ...


def derive_seed(base: int | None, *parts: object) -> int | None:
    """A stable per-call seed from a base seed and identifying parts (node id, index).

    ``hash()`` is salted per process, so use crc32 to keep runs reproducible across processes.
    """
    if base is None:
        return None
    import zlib

    key = ":".join([str(base), *map(str, parts)]).encode()
    return zlib.crc32(key) & 0x7FFFFFFF


@asynccontextmanager
async def seeded_scope(policy: Any, seed: int | None) -> AsyncIterator[object | None]:
    """Around one seeded run: on a stateful backend (llama.cpp's ``reproducible_run``) the run
    holds the policy exclusively from a clean cache, so it returns what it returns run alone.
    Yields the run's key (``None`` when unseeded or the backend has no such scope). The calls
    that make up the run must carry it: set ``RUN_KEY`` to it in the task that makes them (the
    graph's nodes do, each in its own task) — not here, since a run driven from several tasks
    could not release a contextvar set where it began."""
    scope = getattr(policy, "reproducible_run", None)
    if seed is None or scope is None:
        yield None
        return
    key = object()
    async with scope(key):
        yield key
