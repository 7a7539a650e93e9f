"""Small asyncio helpers: per-event-loop primitives and stopping a run's tasks.

``asyncio.Lock`` / ``Semaphore`` bind to the loop that first waits on them, but one policy or
compiled graph is often reused across ``asyncio.run`` calls (``solve()`` twice, a benchmark, a
server thread). ``PerLoop`` hands each running loop its own instance.

``cancel_and_wait`` stops tasks and returns once they have ended: a cancelled run does not wait
for everything it started (LangGraph's node tasks, children of ``asyncio.gather``), so a run
keeps its tasks (``RunContext.run_tasks``, ``policies.base.RUN_TASKS``) and stops them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            item = self._items[loop] = self._factory()
        return item


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancel ``tasks`` (except the current one) and wait until every one has ended, even if the
    caller is cancelled again meanwhile (anyio re-delivers a cancellation on every await)."""
    me = asyncio.current_task()
    pending = {t for t in list(tasks) if t is not me and not t.done()}
    for t in pending:
        t.cancel()
    while pending:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pending)
        pending = {t for t in pending if not t.done()}
