"""Per-event-loop asyncio primitives.

``asyncio.Lock`` / ``Semaphore`` bind to the loop that first waits on them, but one policy or
compiled graph is often reused across ``asyncio.run`` calls (``solve()`` twice, a benchmark, a
server thread). ``PerLoop`` hands each running loop its own instance.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
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
