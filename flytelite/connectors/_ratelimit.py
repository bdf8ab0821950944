"""A token bucket for asyncio: callers wait in line, and take a token as they go."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from ._config import RateLimit

__all__ = ["TokenBucket"]


class TokenBucket:
    """Spaces out requests to at most `limit.burst + limit.qps * t` in any `t` seconds.

    Waiters queue in arrival order, and one timer wakes as many of them as
    there are tokens. A woken waiter takes its token when it resumes, so that
    the token is spent in the same step as the request it allows: a busy event
    loop, which resumes waiters late, cannot squeeze the requests together
    closer than the limit. (A bucket that hands tokens out ahead could: the
    requests of tokens taken early would go late, next to the on-time ones.)
    """

    def __init__(self, limit: RateLimit) -> None:
        self.qps = float(limit.qps)
        self.burst = float(limit.burst)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._woken = 0  # woken waiters that have not resumed yet; a token is kept for each
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> None:
        """Wait until a request may go; the caller makes it before its next `await`."""
        if self.qps == math.inf:
            return
        self._refill()
        if not self._waiters and not self._woken and self._tokens >= 1:
            self._tokens -= 1
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(woken)
        self._schedule()
        try:
            await woken
        except BaseException:
            if woken.done() and not woken.cancelled():
                self._woken -= 1  # woken, then cancelled: the next in line may go
                self._wake()
            else:
                try:
                    self._waiters.remove(woken)
                except ValueError:
                    pass
            raise
        # Nobody else took a token since the wake-up: the fast path waits while
        # `_woken`, and every other woken waiter takes one of its own.
        self._woken -= 1
        self._refill()
        self._tokens -= 1

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now

    def _schedule(self) -> None:
        if self._timer is None and self._waiters:
            missing = self._woken + 1 - self._tokens
            delay = max(0.0, missing / self.qps)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        self._refill()
        spare = math.floor(self._tokens) - self._woken
        while self._waiters and spare >= 1:
            woken = self._waiters.popleft()
            if not woken.done():
                woken.set_result(None)
                self._woken += 1
                spare -= 1
        self._schedule()
