"""Rounds: the model calls of one graph step's concurrent parts, handed to the policy together.

A search round runs several coroutines at once — the expansions of every selected node, the
rewrites, each tool-using candidate's generate/tool/continue loop. ``gather`` runs them as the
*seats* of one round: a seat's model call waits until every live seat of the round is waiting on
one too (or has finished), then all waiting calls go to the policy as one batch call, in seat
order. A backend that decodes sequences together (the embedded llama.cpp one) thus gets a whole
round per call, and tool loops advance in lockstep, each round of calls batched.

What is batched depends only on the seats' own progress, never on timing, so a seeded run
decodes the same batches every time. A seat that spawns concurrent work calls ``gather`` again:
its children take its place in the same round (ordered after it). A call made outside any round
goes to the policy directly.

This module knows nothing of policies or requests beyond the ``call`` it is given.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

R = TypeVar("R")  # a request
C = TypeVar("C")  # what one request gives back
T = TypeVar("T")


class _Seat:
    __slots__ = ("key", "round", "waiting")

    def __init__(self, rnd: _Round, key: tuple[int, ...]) -> None:
        self.round = rnd
        self.key = key
        self.waiting = False


_SEAT: contextvars.ContextVar[_Seat | None] = contextvars.ContextVar("o1agent_round_seat", default=None)


class _Round(Generic[R, C]):
    def __init__(self, call: Callable[[list[R]], Awaitable[list[C]]]) -> None:
        self._call = call
        self._live: set[tuple[int, ...]] = set()
        self._waiting: dict[tuple[int, ...], tuple[list[R], asyncio.Future[list[C]]]] = {}
        # Each batch call in flight and the futures of the seats waiting on it.
        self._flushes: dict[asyncio.Task[None], list[asyncio.Future[list[C]]]] = {}

    def join(self, seat: _Seat) -> None:
        self._live.add(seat.key)

    def leave(self, seat: _Seat) -> None:
        self._live.discard(seat.key)
        self._maybe_flush()

    async def submit(self, seat: _Seat, requests: list[R]) -> list[C]:
        if seat.waiting or seat.key not in self._live:
            # Concurrency this round does not know of (a plain gather inside a seat): call alone.
            return await self._call(requests)
        fut: asyncio.Future[list[C]] = asyncio.get_running_loop().create_future()
        self._waiting[seat.key] = (requests, fut)
        seat.waiting = True
        try:
            self._maybe_flush()
            return await fut
        finally:
            seat.waiting = False
            if self._waiting.get(seat.key, (None, None))[1] is fut:  # cancelled before its flush
                del self._waiting[seat.key]
                self._maybe_flush()
            elif fut.cancelled():
                self._drop_unwanted(fut)

    def _drop_unwanted(self, fut: asyncio.Future[list[C]]) -> None:
        """A seat gave up on a batch call in flight (a budget deadline): once every seat of it
        has, cancel the call, so the backend stops decoding what nobody reads."""
        for task, futs in self._flushes.items():
            if fut in futs and all(f.cancelled() for f in futs):
                task.cancel()

    def _maybe_flush(self) -> None:
        if not self._waiting or not self._live.issubset(self._waiting):
            return
        batch = [self._waiting.pop(k) for k in sorted(self._waiting)]
        task = asyncio.ensure_future(self._flush(batch))
        self._flushes[task] = [f for _, f in batch]
        task.add_done_callback(lambda t: self._flushes.pop(t, None))

    async def _flush(self, batch: list[tuple[list[R], asyncio.Future[list[C]]]]) -> None:
        requests = [r for reqs, _ in batch for r in reqs]
        try:
            outs = await self._call(requests)
        except asyncio.CancelledError:
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:  # every seat of the batch sees the failure, as with gather
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        i = 0
        for reqs, fut in batch:
            part, i = outs[i : i + len(reqs)], i + len(reqs)
            if not fut.done():
                fut.set_result(part)


async def _run_seat(seat: _Seat, coro: Coroutine[Any, Any, T]) -> T:
    _SEAT.set(seat)  # this task's context only
    try:
        return await coro
    finally:
        seat.round.leave(seat)


async def gather(call: Callable[[list[R]], Awaitable[list[C]]], *coros: Coroutine[Any, Any, T]) -> list[T]:
    """Run ``coros`` concurrently as seats of one round (joining the caller's round, if any);
    their ``submit`` calls reach ``call`` batched. Results in order; on an error the other seats
    are cancelled and the error is raised."""
    parent = _SEAT.get()
    if parent is not None:
        rnd: _Round[Any, Any] = parent.round
        base = parent.key
    else:
        rnd, base = _Round(call), ()
    seats = [_Seat(rnd, (*base, i)) for i in range(len(coros))]
    for s in seats:
        rnd.join(s)
    if parent is not None:
        rnd.leave(parent)  # its children stand in for it until they finish
    tasks = [asyncio.ensure_future(_run_seat(s, c)) for s, c in zip(seats, coros, strict=True)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        raise
    finally:
        if parent is not None:
            rnd.join(parent)


async def submit(call: Callable[[list[R]], Awaitable[list[C]]], requests: Sequence[R]) -> list[C]:
    """``call(requests)``, batched with the rest of the current round when inside one."""
    seat = _SEAT.get()
    if seat is None:
        return await call(list(requests))
    return await seat.round.submit(seat, list(requests))
