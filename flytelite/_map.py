"""`fl.map`: call a task over iterables, with bounded concurrency, results in input order.

(asyncio is imported where it is used, so that `import flytelite` does not pay for it.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._context import Runner, current_runner
from ._errors import RunContextError
from ._task import Task

if TYPE_CHECKING:
    import asyncio

__all__ = ["map"]

MAX_IN_FLIGHT = 10_000
"""Calls a map without a `concurrency` limit keeps in flight at most."""


def _check(task: Any, concurrency: int | None) -> None:
    if not isinstance(task, Task):
        raise TypeError(
            f"fl.map expects a task, got {task!r}; decorate the function with @env.task."
        )
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0
    ):
        raise ValueError(
            f"fl.map(..., concurrency={concurrency!r}): give an int >= 1, or 0 / None for no limit."
        )


class _Map:
    """`fl.map`: call a task once per item of the zipped iterables; results in input order.

    `fl.map(...)` is a generator for sync code (including sync task bodies inside
    a run); `fl.map.aio(...)` is the async iterator for async code.
    """

    def __call__(
        self,
        task: Task[..., Any],
        /,
        *iterables: Iterable[Any],
        concurrency: int | None = None,
        return_exceptions: bool = True,
    ) -> Iterator[Any]:
        """Yield `task(*items)` for each item of the zipped iterables, in input order.

        Args:
            task: The task to call.
            *iterables: One iterable per positional parameter, zipped.
            concurrency: At most this many calls in flight (and exactly this many
                while enough items remain). `None` or `0`: all at once, up to
                10,000 calls in flight at a time (a bound on memory).
            return_exceptions: Yield a failed item's exception instead of raising it.
        """
        _check(task, concurrency)
        runner = current_runner.get()
        if runner is None:
            return _plain(task, iterables, return_exceptions)
        if runner.in_loop_thread():
            raise RunContextError(
                "fl.map(...) blocks, and was called on the run's event loop; "
                "in async code write `async for r in fl.map.aio(...)`."
            )
        agen = _map_aio(task, iterables, concurrency or None, return_exceptions)
        return _drive(runner, agen)

    def aio(
        self,
        task: Task[..., Any],
        /,
        *iterables: Iterable[Any],
        concurrency: int | None = None,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """The async iterator form of `fl.map`."""
        _check(task, concurrency)
        return _map_aio(task, iterables, concurrency or None, return_exceptions)


def _plain(task: Task[..., Any], iterables: Any, return_exceptions: bool) -> Iterator[Any]:
    """Outside a run: the plain function, one item after another."""
    import asyncio

    for args in zip(*iterables):
        try:
            if task.is_async:
                yield asyncio.run(task.func(*args))
            else:
                yield task.func(*args)
        except Exception as exc:
            if not return_exceptions:
                raise
            yield exc


def _drive(runner: Runner, agen: AsyncIterator[Any]) -> Iterator[Any]:
    try:
        while True:
            try:
                yield runner.block_on(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        runner.block_on(agen.aclose())  # type: ignore[attr-defined]


async def _map_aio(
    task: Task[..., Any],
    iterables: tuple[Iterable[Any], ...],
    concurrency: int | None,
    return_exceptions: bool,
) -> AsyncIterator[Any]:
    import asyncio

    items = enumerate(zip(*iterables))
    done: dict[int, tuple[bool, Any]] = {}
    wakeup = asyncio.Event()
    running = 0
    broken: list[BaseException] = []  # what the input iterables raised, if they did

    def pull() -> tuple[int, tuple[Any, ...]] | None:
        """The next item; `None` when the inputs are exhausted or raised (recorded)."""
        if broken:
            return None
        try:
            return next(items, None)  # one loop, one thread: the iterator is shared safely
        except Exception as exc:
            broken.append(exc)
            return None

    async def worker() -> None:
        nonlocal running
        try:
            first = True
            while (item := pull()) is not None:
                if first and len(workers) < limit:
                    spawn()  # the next worker, once this one has an item to call
                first = False
                i, args = item
                try:
                    done[i] = (True, await task.aio(*args))
                except Exception as exc:
                    done[i] = (False, exc)
                wakeup.set()
        finally:
            running -= 1
            wakeup.set()

    def spawn() -> None:
        nonlocal running
        running += 1
        workers.append(asyncio.ensure_future(worker()))

    # Workers start one after another, each as the previous one takes its first
    # item, up to the limit; each then takes the next item when its call settles.
    # Items are taken, and their calls started, in input order. Without a limit,
    # `MAX_IN_FLIGHT` bounds the memory a very long map holds (a call in flight
    # costs a few KB).
    limit = concurrency or MAX_IN_FLIGHT
    workers: list[asyncio.Task[None]] = []
    spawn()
    try:
        nxt = 0
        while True:
            while nxt in done:
                ok, value = done.pop(nxt)
                nxt += 1
                if ok or return_exceptions:
                    yield value
                else:
                    raise value
            if running == 0:
                if broken:
                    # Every item taken before the inputs failed has settled (and its
                    # outputs are written): now the map fails as the iterable did.
                    raise broken[0]
                return
            wakeup.clear()
            await wakeup.wait()
    finally:
        for w in workers:
            w.cancel()
        if workers:
            await asyncio.wait(workers)


map = _Map()
"""Call a task over iterables with bounded concurrency, results in input order:
`fl.map(task, *iterables, concurrency=None, return_exceptions=True)` from sync
code, `fl.map.aio(...)` from async code."""
