"""A work queue: worker threads for blocking store I/O, feeding results to an event loop.

Each work item has a deterministic id. While an item is queued or in flight,
submitting an identical id returns the same future instead of queueing more
work (a bounded LRU index), so 200 identical lookups cost one store read.
Transient errors are retried with backoff; every item ends with a result or an
error, never a hang.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._errors import StoreUnavailableError
from ._breaker import Breaker

__all__ = ["QueueConfig", "WorkQueue"]

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OSError, TimeoutError)
_BACKOFF_BASE = 0.05
_BACKOFF_MAX = 1.0


@dataclass(frozen=True)
class QueueConfig:
    """One work queue of the async catalog client.

    Args:
        workers: Worker threads, each doing one store request at a time.
        max_retries: Retries of a request that failed with a transient error
            (`OSError`, timeouts).
        index_max_items: How many queued or in-flight items are remembered for
            de-duplication.
    """

    workers: int = 10
    max_retries: int = 3
    index_max_items: int = 10_000

    def __post_init__(self) -> None:
        for name in ("workers", "index_max_items"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"QueueConfig({name}={value!r}): give an int >= 1.")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or (self.max_retries < 0)
        ):
            raise ValueError(f"QueueConfig(max_retries={self.max_retries!r}): give an int >= 0.")


class _Item:
    __slots__ = ("args", "fail", "fn", "future", "id")

    def __init__(
        self,
        item_id: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        fail: Callable[[Exception], Any] | None,
        future: asyncio.Future[Any],
    ) -> None:
        self.id = item_id
        self.fn = fn
        self.args = args
        self.fail = fail
        self.future = future


class WorkQueue:
    """Runs blocking calls on up to `config.workers` threads for one event loop."""

    def __init__(self, name: str, config: QueueConfig, breaker: Breaker | None = None) -> None:
        self.name = name
        self.config = config
        self.breaker = breaker
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._index: OrderedDict[str, _Item] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: collections.deque[tuple[_Item, bool, Any]] = collections.deque()
        self._flush_pending = False
        self.submitted = 0
        self.executed = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def submit(
        self,
        item_id: str,
        fn: Callable[..., Any],
        *args: Any,
        fail: Callable[[Exception], Any] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue `fn(*args)`, or join the identical item already queued or in flight.

        When the call still fails after its retries, the future gets `fail(error)`
        as its result if given, else the error. The future is shared: await it
        through `asyncio.shield`.
        """
        assert self._loop is not None
        self.submitted += 1
        found = self._index.get(item_id)
        if found is not None:
            self._index.move_to_end(item_id)
            return found.future
        item = _Item(item_id, fn, args, fail, self._loop.create_future())
        self._index[item_id] = item
        if len(self._index) > self.config.index_max_items:
            self._index.popitem(last=False)  # forgotten, not dropped: it still runs
        self._queue.put(item)
        with self._lock:
            # One more worker while queued items outnumber idle workers, up to the limit.
            spawn = len(self._threads) < self.config.workers and self._queue.qsize() > self._idle
            if spawn:
                self._idle += 1  # counted before it starts, so a burst spawns just enough
        if spawn:
            thread = threading.Thread(
                target=self._work, name=f"flytelite-{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return item.future

    def stop(self) -> list[threading.Thread]:
        """Let the workers finish what is queued, then exit; returns them to join."""
        for _ in self._threads:
            self._queue.put(None)
        threads, self._threads = self._threads, []
        return threads

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            outcome = self._run(item)
            self._done.append((item, *outcome))
            with self._lock:
                self.executed += 1
                self._idle += 1
                wake = not self._flush_pending
                self._flush_pending = True
            if wake:  # one wake-up of the loop delivers every result finished meanwhile
                try:
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._flush)
                except RuntimeError:
                    pass  # the loop is closed: nobody is waiting any more

    def _run(self, item: _Item) -> tuple[bool, Any]:
        breaker = self.breaker
        attempt = 0
        while True:
            try:
                if breaker is not None:
                    breaker.check()
                value = item.fn(*item.args)
            except StoreUnavailableError as exc:
                return self._failed(item, exc)  # the store is resting: fail at once
            except TRANSIENT_ERRORS as exc:
                if breaker is not None:
                    breaker.failed(exc)
                if attempt >= self.config.max_retries or (breaker is not None and breaker.is_open):
                    return self._failed(item, exc)  # this error, not the breaker's
                time.sleep(min(_BACKOFF_BASE * 2**attempt, _BACKOFF_MAX))
                attempt += 1
            except Exception as exc:
                return self._failed(item, exc)
            else:
                if breaker is not None:
                    breaker.succeeded()
                return True, value

    @staticmethod
    def _failed(item: _Item, exc: Exception) -> tuple[bool, Any]:
        if item.fail is None:
            return False, exc
        try:
            return True, item.fail(exc)
        except Exception as fail_exc:
            return False, fail_exc

    def _flush(self) -> None:
        with self._lock:
            self._flush_pending = False
        done = self._done
        while done:
            self._finish(*done.popleft())

    def _finish(self, item: _Item, ok: bool, value: Any) -> None:
        if self._index.get(item.id) is item:
            del self._index[item.id]
        if item.future.done():
            return
        if ok:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
            item.future.exception()  # retrieved: a caller that gave up must not log it
