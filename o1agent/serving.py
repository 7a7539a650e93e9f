"""Run control for the server, apart from HTTP: admission, counters and an event-loop lag monitor.

* ``Admission``: at most ``max_active`` runs at once; later requests wait in a FIFO of at most
  ``max_queued`` for up to ``queue_timeout`` seconds. A full queue, or a wait that ran out, is a
  ``ServerError`` 503 with a ``Retry-After`` estimated from recent run times. Waiting is not
  running: the server's per-run timeout starts when a run gets its slot.
* ``RunStats``: what the server did (active, queued, finished, cancelled, timed out, rejected);
  ``/health`` reports it and tests read it.
* ``LoopLagMonitor``: a ticker task measuring how late the event loop wakes it — a blocking call
  on the loop shows up as lag.

This module does not know about requests or models; ``o1agent.server`` wires it in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ServerError

logger = logging.getLogger(__name__)


@dataclass
class RunStats:
    """Counters of one server. ``active`` and ``queued`` are gauges; the rest only grow."""

    active: int = 0
    queued: int = 0
    admitted: int = 0
    finished: int = 0
    failed: int = 0
    cancelled: int = 0  # the client went away (while queued or running)
    timed_out: int = 0
    rejected: int = 0  # 503: the queue was full or the wait ran out

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Slot:
    """A run slot held by one request; ``release`` is idempotent (several owners may end it)."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._t0 = time.monotonic()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._admission._release(time.monotonic() - self._t0)


class Admission:
    """Run slots and a bounded waiting line (see the module docstring)."""

    def __init__(self, *, max_active: int, max_queued: int, queue_timeout: float | None) -> None:
        if max_active < 1 or max_queued < 0 or (queue_timeout is not None and queue_timeout <= 0):
            raise ValueError("max_active must be >= 1, max_queued >= 0 and queue_timeout positive")
        self.max_active = max_active
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.stats = RunStats()
        self._free = asyncio.Semaphore(max_active)
        # Mean seconds a run held its slot (exponentially weighted), for Retry-After.
        self._mean_run_s = 5.0

    def retry_after(self) -> int:
        """Seconds until a slot is likely free for one more request: the line ahead of it times
        the mean run time, spread over the slots."""
        ahead = self.stats.queued + 1
        return max(1, min(3600, math.ceil(self._mean_run_s * ahead / self.max_active)))

    def _busy(self, why: str) -> ServerError:
        self.stats.rejected += 1
        retry = self.retry_after()
        logger.warning("server busy (%s): %s; Retry-After %ss", why, self.stats.as_dict(), retry)
        return ServerError(
            503,
            f"the server is busy ({why}); retry in about {retry}s",
            type_="server_error",
            code="server_busy",
            headers={"Retry-After": str(retry)},
        )

    async def acquire(self) -> Slot:
        """Wait for a run slot. Raises the 503 ``ServerError`` when the line is full or the wait
        ran past ``queue_timeout``; a cancelled wait (the client left) gives its place up."""
        s = self.stats
        if s.active >= self.max_active and s.queued >= self.max_queued:
            raise self._busy(f"{s.active} runs and {s.queued} waiting, the most it takes")
        s.queued += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._free.acquire()
        except TimeoutError:
            raise self._busy(f"no run slot within {self.queue_timeout:g}s") from None
        except asyncio.CancelledError:
            s.cancelled += 1
            raise
        finally:
            s.queued -= 1
        s.active += 1
        s.admitted += 1
        return Slot(self)

    def _release(self, held_s: float) -> None:
        self.stats.active -= 1
        self._mean_run_s = 0.8 * self._mean_run_s + 0.2 * held_s
        self._free.release()


class LoopLagMonitor:
    """Measures event-loop lag: a task sleeps ``interval`` seconds and records how much later than
    asked it woke. Samples over ``keep_above`` seconds are kept (with the time they ended), the
    largest ever in ``max_lag``."""

    def __init__(self, *, interval: float = 0.02, keep_above: float = 0.005, keep: int = 20_000) -> None:
        self.interval = interval
        self.keep_above = keep_above
        self.max_lag = 0.0
        self.samples: deque[tuple[float, float]] = deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start ticking on the running loop (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._tick(), name="o1agent-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _tick(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(self.interval)
            t1 = time.monotonic()
            lag = max(0.0, t1 - t0 - self.interval)
            if lag > self.keep_above:
                self.samples.append((t1, lag))
            self.max_lag = max(self.max_lag, lag)

    def since(self, t0: float) -> list[tuple[float, float]]:
        """``(monotonic end time, lag seconds)`` of kept samples that ended after ``t0``."""
        return [s for s in list(self.samples) if s[0] >= t0]

    def max_since(self, t0: float) -> float:
        return max((lag for _, lag in self.since(t0)), default=0.0)

    def summary(self) -> dict[str, Any]:
        recent = self.max_since(time.monotonic() - 60.0)
        return {"max_ms": round(self.max_lag * 1000, 1), "max_last_minute_ms": round(recent * 1000, 1)}
