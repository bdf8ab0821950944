"""Resource quotas: at most `n` jobs of a namespace in flight, the rest wait in line."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

__all__ = ["Quota"]


class Quota:
    """Allocation tokens per namespace, after Flyte's resource manager.

    A call holds a token from before its job is created until the job is over
    and, where needed, deleted. Waiters are served in arrival order; a waiter
    cancelled after it was granted a token passes it on.
    """

    def __init__(self, quotas: Mapping[str, int]) -> None:
        self._limits = dict(quotas)
        self._held: dict[str, int] = dict.fromkeys(self._limits, 0)
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {
            namespace: deque() for namespace in self._limits
        }

    def held(self, namespace: str) -> int:
        """How many tokens of `namespace` are held now."""
        return self._held[namespace]

    @asynccontextmanager
    async def hold(self, namespace: str | None) -> AsyncIterator[None]:
        """Hold a token of `namespace` (none for `None`) for the duration of the block."""
        if namespace is None:
            yield
            return
        await self._acquire(namespace)
        try:
            yield
        finally:
            self._release(namespace)

    async def _acquire(self, namespace: str) -> None:
        waiting = self._waiting[namespace]
        if self._held[namespace] < self._limits[namespace] and not waiting:
            self._held[namespace] += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting.append(granted)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self._release(namespace)  # granted just as we were cancelled: pass it on
            else:
                try:
                    waiting.remove(granted)
                except ValueError:
                    pass
            raise

    def _release(self, namespace: str) -> None:
        self._held[namespace] -= 1
        waiting = self._waiting[namespace]
        while waiting and self._held[namespace] < self._limits[namespace]:
            granted = waiting.popleft()
            if not granted.done():
                self._held[namespace] += 1
                granted.set_result(None)
