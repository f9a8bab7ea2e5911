"""``AsyncStore``: the synchronous ``Store``, called from the daemon's event loop.

A module of its own, apart from ``bridge.spool.store`` (which holds all the SQL), so
that the store can be read without asyncio: ``logbridge status`` and ``deadletter``
import only that one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bridge.spool.store import SpooledEvent, SpoolStats, Store

__all__ = ["AsyncStore"]

T = TypeVar("T")


class AsyncStore:
    """
    The daemon's handle on the store: every call runs on ONE dedicated thread.

    The ``Store`` itself is created on that thread, because an SQLite connection belongs
    to the thread that opened it. Calls run one at a time, in the order made.
    """

    def __init__(self, store_factory: Callable[[], Store]) -> None:
        """Remember how to open the store; nothing happens until ``open``."""
        self._factory = store_factory
        self._executor: ThreadPoolExecutor | None = None
        self._store: Store | None = None

    async def open(self) -> None:
        """
        Start the store thread and open the store on it.

        Raises:
            StoreError: from the factory.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        try:
            loop = asyncio.get_running_loop()
            self._store = await loop.run_in_executor(executor, self._factory)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the store thread and return its result."""
        store = self._opened()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, store)

    async def close(self) -> None:
        """Close the store on its thread and let the thread end; idempotent."""
        if self._store is None or self._executor is None:
            return
        store, executor = self._store, self._executor
        self._store = self._executor = None
        try:
            await asyncio.get_running_loop().run_in_executor(executor, store.close)
        finally:
            executor.shutdown(wait=False)

    def _opened(self) -> Store:
        if self._store is None:
            msg = "the store is not open"
            raise RuntimeError(msg)
        return self._store

    # -- thin wrappers, for the sink; the daemon uses call -----------------------------

    async def stats(self) -> SpoolStats:
        """See ``Store.stats``."""
        return await self.call(Store.stats)

    async def fetch_oldest(self, max_events: int, max_bytes: int) -> list[SpooledEvent]:
        """See ``Store.fetch_oldest``."""
        return await self.call(lambda s: s.fetch_oldest(max_events, max_bytes))

    async def delete(self, ids: Sequence[int]) -> None:
        """See ``Store.delete``."""
        await self.call(lambda s: s.delete(ids))

    async def quarantine(
        self,
        events: Sequence[SpooledEvent],
        *,
        status: int | None,
        response: str,
        reason: str,
        now: float,
    ) -> None:
        """See ``Store.quarantine``."""
        await self.call(
            lambda s: s.quarantine(
                events, status=status, response=response, reason=reason, now=now
            )
        )

    async def set_meta(self, key: str, value: str) -> None:
        """See ``Store.set_meta``."""
        await self.call(lambda s: s.set_meta(key, value))
