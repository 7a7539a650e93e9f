"""The ``Policy`` protocol: anything that turns a prompt into one or more completions.

A policy is async-first (``await policy.complete(request)``) and reports usage honestly: prompt
tokens, completion tokens, prompt tokens served from a cache (``reused_tokens``), dollars. It does
not know about trees, steps or strategies — the graph builds prompts and parses steps.

``complete_many(requests)`` is the batch call: the graph hands a policy every request of one
search round at once. A backend that decodes several sequences together (the embedded llama.cpp
one) overrides it; the default (``ConcurrentCalls``, ``complete_concurrently``) makes concurrent
single calls, which is what remote APIs want.

``CompletionRequest`` carries chat ``messages``; backends that continue raw text (llama.cpp)
render them with the model's own chat template. ``assistant_prefix`` is text the assistant turn
must continue from, which is how a step is appended to a partial solution while keeping the
rendered prompt a strict prefix of its children's prompts (so KV caches reuse it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, field_validator

from ..sanitize import clean_text
from ..schema import Usage

#: The key of the reproducible run the current task works for (``None``: none). The graph sets it
#: at the start of every node from the run's context, so a policy can tell a reproducible run's
#: own calls — including a grader's, made from inside the node — from other runs' calls, however
#: the caller drives the run (e.g. an async generator pulled from several tasks).
logger = logging.getLogger(__name__)

RUN_KEY: contextvars.ContextVar[object | None] = contextvars.ContextVar("o1agent_run_key", default=None)

#: The tasks working for the current run (``None`` outside a run), set with ``RUN_KEY``. A policy
#: whose calls run in a thread adds the task awaiting it (``join_run``): cancelling the run then
#: waits until that work has stopped — ``asyncio.gather`` returns at its first cancelled child,
#: not when all of them have ended.
RUN_TASKS: contextvars.ContextVar[weakref.WeakSet[asyncio.Task[Any]] | None] = contextvars.ContextVar(
    "o1agent_run_tasks", default=None
)


#: Where a failed call keeps the completions that *were* delivered before it failed (the other
#: choices of an emulated ``n``, the other requests of a batch call): the budget meter counts them,
#: so a ``RunError``'s partial usage equals what the backend delivered.
_DELIVERED_ATTR = "o1agent_delivered"


def carry_delivered(exc: BaseException, outs: Sequence[Completion]) -> None:
    """Record on ``exc`` that ``outs`` were delivered (and paid for) by the call that raised it."""
    if not outs:
        return
    try:
        setattr(exc, _DELIVERED_ATTR, [*getattr(exc, _DELIVERED_ATTR, ()), *outs])
    except AttributeError:  # no __dict__ to carry them on
        logger.warning("usage of %d delivered completions lost with %s", len(outs), type(exc).__name__)


def delivered_before(exc: BaseException) -> list[Completion]:
    """The completions ``carry_delivered`` recorded on ``exc``."""
    return list(getattr(exc, _DELIVERED_ATTR, ()))


async def settle_all(calls: Sequence[Any]) -> list[list[Completion]]:
    """Await every call (each returning a list of completions); if some failed, raise the first
    failure carrying the completions the others delivered."""
    results: list[Any] = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        return results
    first = failures[0]
    for r in results:
        if isinstance(r, BaseException):
            if r is not first:
                carry_delivered(first, delivered_before(r))
        else:
            carry_delivered(first, r)
    raise first


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

    async def complete_many(
        self, requests: Sequence[CompletionRequest], *, limit: int | None = None
    ) -> list[list[Completion]]:
        """``complete`` for each request, in order. ``limit`` caps calls in flight for backends
        that make one call per request; a backend that batches natively may ignore it."""
        ...

    async def aclose(self) -> None:
        """Release resources (servers, clients). Idempotent."""
        ...


def usage_of(outs: Sequence[Completion]) -> Usage:
    """Usage of completions; a call that returned n choices counts once."""
    u = Usage()
    for i, o in enumerate(outs):
        u = u + Usage(
            prompt_tokens=o.prompt_tokens,
            completion_tokens=o.completion_tokens,
            reused_tokens=o.reused_tokens,
            dollars=o.dollars,
            calls=1 if o.prompt_tokens or i == 0 else 0,
        )
    return u


async def complete_concurrently(
    policy: Any, requests: Sequence[CompletionRequest], *, limit: int | None = None
) -> list[list[Completion]]:
    """The default batch call: one ``complete`` per request, at most ``limit`` at a time."""
    if len(requests) == 1:  # no task to spawn: the caller's own task makes the call
        return [await policy.complete(requests[0])]
    if limit is None or limit >= len(requests):
        return await settle_all([policy.complete(r) for r in requests])
    sem = asyncio.Semaphore(max(1, limit))

    async def one(r: CompletionRequest) -> list[Completion]:
        async with sem:
            return await policy.complete(r)

    return await settle_all([one(r) for r in requests])


class ConcurrentCalls:
    """Mixin giving a policy the default ``complete_many`` (concurrent single calls)."""

    async def complete_many(
        self, requests: Sequence[CompletionRequest], *, limit: int | None = None
    ) -> list[list[Completion]]:
        return await complete_concurrently(self, requests, limit=limit)


async def batch_complete(
    policy: Any, requests: Sequence[CompletionRequest], *, limit: int | None = None
) -> list[list[Completion]]:
    """``policy.complete_many(requests)``, or concurrent single calls for a policy object that
    only has ``complete`` (``make_policy`` accepts any object with ``complete``)."""
    many = getattr(policy, "complete_many", None)
    if many is None:
        return await complete_concurrently(policy, requests, limit=limit)
    return await many(requests, limit=limit)


def batches_natively(policy: Any) -> bool:
    """Whether ``policy`` decodes the requests of one ``complete_many`` together (its ``batched``
    attribute), so the graph should gather a round's calls into one batch call."""
    return bool(getattr(policy, "batched", False))


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
