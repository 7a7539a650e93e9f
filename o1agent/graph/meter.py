"""``Meter``: the run's budget applied to each backend call *inside* a node, as it is made.

``select`` checks the budget between rounds, but one round (k candidates, each maybe several tool
rounds, each billed its whole prompt) can cost far more than what is left. So every call the graph
makes goes through the node's meter first (``expand.complete_many``, ``metered_many``):

* **tokens** — the call is admitted only if its prompt (estimated) plus a useful completion fits
  in what is left after everything spent and everything in flight; its ``max_tokens`` is clipped
  to what is left and its ``n`` cut to the choices that fit. A call that cannot fit is refused:
  the node gets no completion for it and the run ends at the next ``select``
  (``exhausted_by="tokens"``). Overshoot is then at most the error of the prompt estimate, well
  under one step's ``step_tokens``; the first call of a run is always admitted (clipped), so a
  tiny budget still gets one answer.
* **seconds** — a call is refused once ``max_seconds`` is spent, and a call in flight is
  cancelled when it runs out (its completion, if the backend finished it, is lost; nothing is
  made up).
* **accounting** — the meter keeps the usage of every call that finished in the node, so when a
  node fails half way (one of three candidates raised) that usage still reaches the
  ``RunError``'s partial result (``unrecorded_usage``).

Prompt tokens are estimated from the request's characters with a tokens-per-character ratio
learned per policy from its own replies (the largest of the recent ones, so it errs high).

Not here: the between-round budget check (``nodes.select``) and the node budget
(``nodes.clip_to_budget``). Graders' own calls (an LLM judge) are bounded by their ``max_tokens``,
not metered.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ..policies.base import Completion, CompletionRequest, Policy, delivered_before, usage_of
from ..schema import Budget, Usage

logger = logging.getLogger(__name__)

#: The meter of the node the current task works for (``None``: unmetered, e.g. a grader's call).
METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("o1agent_meter", default=None)

_USAGE_ATTR = "o1agent_unrecorded_usage"

# A completion shorter than this is not worth its prompt: such a call is refused instead.
MIN_COMPLETION_TOKENS = 16
# Before a policy has answered once: ~2.5 characters per token errs high for English BPE vocabularies.
_DEFAULT_RATIO = 0.4
_PER_MESSAGE = 8  # template tokens around each message (role markers, newlines)


class _Ratios:
    """Tokens per prompt character, learned per policy (the max of its last few replies)."""

    def __init__(self) -> None:
        self._by_policy: weakref.WeakKeyDictionary[object, deque[float]] = weakref.WeakKeyDictionary()

    def get(self, policy: object) -> float:
        try:
            seen = self._by_policy.get(policy)
        except TypeError:  # not weak-referenceable: no memory, the default errs high
            return _DEFAULT_RATIO
        return max(seen) if seen else _DEFAULT_RATIO

    def learn(self, policy: object, req: CompletionRequest, prompt_tokens: int) -> None:
        chars = request_chars(req)
        if prompt_tokens <= 0 or chars <= 0:
            return
        ratio = max(0.0, prompt_tokens - overhead(req)) / chars
        with contextlib.suppress(TypeError):  # not weak-referenceable: nothing is learned
            self._by_policy.setdefault(policy, deque(maxlen=8)).append(ratio)


RATIOS = _Ratios()


def request_chars(req: CompletionRequest) -> int:
    return sum(len(m.content) for m in req.messages) + len(req.assistant_prefix)


def overhead(req: CompletionRequest) -> int:
    return _PER_MESSAGE * (len(req.messages) + 1)


def estimate_prompt_tokens(policy: object, req: CompletionRequest) -> int:
    """Prompt tokens ``req`` will cost on ``policy`` (an estimate that errs high)."""
    return int(RATIOS.get(policy) * request_chars(req) + overhead(req)) + 1


@dataclass
class Meter:
    """One node's view of the run's budget: what was spent before it, what its calls have spent
    and reserved since, and why it refused a call (``refused``: ``"tokens"`` / ``"seconds"``)."""

    budget: Budget
    spent_before: Usage
    used: Usage = field(default_factory=Usage)
    reserved: int = 0
    refused: str | None = None

    @property
    def spent_tokens(self) -> int:
        return self.spent_before.total_tokens + self.used.total_tokens

    def seconds_left(self) -> float | None:
        if self.budget.max_seconds is None or self.spent_before.started_at is None:
            return None
        return self.budget.max_seconds - (time.time() - self.spent_before.started_at)

    def admit(self, policy: Policy, req: CompletionRequest) -> tuple[CompletionRequest | None, int]:
        """``req`` clipped to what is left and the tokens reserved for it, or ``(None, 0)`` when
        it cannot fit (``refused`` then says which bound)."""
        left_s = self.seconds_left()
        if left_s is not None and left_s <= 0:
            self.refused = "seconds"
            return None, 0
        if self.budget.max_tokens is None:
            return req, 0
        first_of_run = self.spent_tokens == 0 and self.reserved == 0
        left = self.budget.max_tokens - self.spent_tokens - self.reserved
        prompt = estimate_prompt_tokens(policy, req)
        room = left - prompt
        if room < min(MIN_COMPLETION_TOKENS, req.max_tokens) and not first_of_run:
            self.refused = "tokens"
            logger.info(
                "budget: a %s call needs ~%d prompt tokens and %d are left: not sent",
                req.metadata.get("purpose", "model"),
                prompt,
                left,
            )
            return None, 0
        max_tokens = max(1, min(req.max_tokens, room))
        per_choice = prompt if getattr(policy, "bills_prompt_per_choice", True) else 0
        n = req.n
        while n > 1 and prompt + (n - 1) * per_choice + n * max_tokens > left:
            n -= 1
        cost = prompt + (n - 1) * per_choice + n * max_tokens
        if (max_tokens, n) != (req.max_tokens, req.n):
            req = req.model_copy(update={"max_tokens": max_tokens, "n": n})
        self.reserved += cost
        return req, cost

    def settle(
        self, policy: Policy, req: CompletionRequest, reserved: int, outs: Sequence[Completion]
    ) -> None:
        """Replace the reservation of a finished call by what it really cost."""
        self.reserved -= reserved
        self.used = self.used + usage_of(outs)
        if outs:
            RATIOS.learn(policy, req, outs[0].prompt_tokens)

    def release(self, reserved: int) -> None:
        """A call that raised: its reservation is freed (what it cost, if anything, is unknown)."""
        self.reserved -= reserved


async def metered_many(
    policy: Policy,
    reqs: Sequence[CompletionRequest],
    call: Callable[[list[CompletionRequest]], Awaitable[list[list[Completion]]]],
) -> list[list[Completion]]:
    """``call(reqs)`` under the current node's meter (plainly when there is none): each request
    is admitted and clipped on its own, the admitted ones go out as one call (a batch on a
    backend that decodes them together), a refused one gets ``[]``."""
    meter = METER.get()
    if meter is None:
        return await call(list(reqs))
    admitted = [meter.admit(policy, r) for r in reqs]
    send = [a for a, _ in admitted if a is not None]
    reserved = sum(c for _, c in admitted)
    if not send:
        return [[] for _ in reqs]
    left_s = meter.seconds_left()
    try:
        if left_s is None:
            outs = await call(send)
        else:
            async with asyncio.timeout(max(left_s, 0.0)):
                outs = await call(send)
    except TimeoutError:
        meter.release(reserved)
        now_left = meter.seconds_left()
        if now_left is None or now_left > 0.05:
            raise  # not the budget's deadline
        meter.refused = "seconds"
        logger.info(
            "budget: max_seconds=%s ran out during a call; it was cancelled", meter.budget.max_seconds
        )
        return [[] for _ in reqs]
    except BaseException as exc:
        meter.release(reserved)
        # What the failed call did deliver (other choices, other requests) was paid for.
        meter.used = meter.used + usage_of(delivered_before(exc))
        raise
    got = iter(outs)
    results: list[list[Completion]] = []
    for req, cost in admitted:
        if req is None:
            results.append([])
            continue
        part = next(got)
        meter.settle(policy, req, cost, part)
        results.append(part)
    return results


@contextlib.contextmanager
def metering(budget: Budget, spent_before: Usage) -> Iterator[Meter]:
    """Meter the calls of the node body run inside (this task and the tasks it starts). If the
    body raises, the usage of the calls that finished rides on the exception (``unrecorded_usage``)."""
    meter = Meter(budget=budget, spent_before=spent_before)
    token = METER.set(meter)
    try:
        yield meter
    except Exception as exc:
        if meter.used.calls or meter.used.total_tokens:
            previous = getattr(exc, _USAGE_ATTR, None) or Usage()
            try:
                setattr(exc, _USAGE_ATTR, previous + meter.used)
            except AttributeError:  # an exception type without a __dict__: nothing to carry it on
                logger.warning(
                    "usage of %d finished calls lost with %s", meter.used.calls, type(exc).__name__
                )
        raise
    finally:
        METER.reset(token)


def unrecorded_usage(exc: BaseException) -> Usage | None:
    """Usage of backend calls that finished inside the node that raised ``exc`` (or its cause)."""
    cur: BaseException | None = exc
    for _ in range(10):
        if cur is None:
            return None
        found = getattr(cur, _USAGE_ATTR, None)
        if isinstance(found, Usage):
            return found
        cur = cur.__cause__ or cur.__context__
    return None
