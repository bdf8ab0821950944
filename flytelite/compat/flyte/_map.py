"""`flyte.map`: Flyte 2's map, on `flytelite.map` (concurrent, in input order).

Flyte 2's local runner maps items one after another; here they run
concurrently, at most `concurrency` at a time (0: all at once). Results come in
input order; a failed item yields its `flyte.errors.RuntimeUserError` unless
`return_exceptions=False`. The function may be a task or a `functools.partial`
of one, and the calls are made in the group `"{task}_{group_name or 'map'}"`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from flytelite import RunContextError, Task
from flytelite import map as lite_map

from ...lowlevel import current_runner
from ._task import TaskTemplate

__all__ = ["map"]


def _target(func: Any) -> tuple[Task[..., Any], tuple[Any, ...], dict[str, Any]]:
    task: Any = func
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if isinstance(func, functools.partial):
        task, args, kwargs = func.func, tuple(func.args), dict(func.keywords or {})
    if not isinstance(task, Task):
        raise TypeError(
            f"flyte.map expects a task or a functools.partial of a task, got {func!r}; "
            f"decorate the function with @env.task."
        )
    if (args or kwargs) and not isinstance(task, TaskTemplate):
        raise TypeError(
            f"flyte.map: a functools.partial needs a task of the Flyte surface; {task.name!r} "
            f"is a plain flytelite task (pass constants as `itertools.repeat(...)` instead)."
        )
    return task, args, kwargs


def _bounded(concurrency: int) -> int | None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"flyte.map(..., concurrency={concurrency!r}): give an int (0: unbounded).")
    return concurrency if concurrency > 0 else None


def _prepare(func: Any, group_name: str | None) -> Task[..., Any]:
    task, args, kwargs = _target(func)
    if isinstance(task, TaskTemplate):
        return task._bind(args, kwargs, f"{task.name}_{group_name or 'map'}")
    return task


def _plain_one(task: Task[..., Any], func: Any, item: tuple[Any, ...]) -> Any:
    """Outside a run: the plain function, as Flyte 2 does outside a task."""
    _, args, kwargs = _target(func)
    result = task.func(*args, *item, **kwargs)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


class _Mapper:
    """Call a task once per item of the zipped iterables; yield results in input order.

    `flyte.map(...)` is a generator for sync code (a sync task's body);
    `flyte.map.aio(...)` is the async iterator for async code.

    Args:
        func: A task, or a `functools.partial` of one that leaves the mapped
            parameters open.
        *args: One iterable per open positional parameter, zipped.
        group_name: Names the group the calls are made in.
        concurrency: At most this many calls at once; 0 for no bound.
        return_exceptions: Yield a failed item's error instead of raising it.
    """

    def __call__(
        self,
        func: Any,
        *args: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> Iterator[Any]:
        if not args:
            return
        bound = _bounded(concurrency)
        task = _prepare(func, group_name)
        runner = current_runner.get()
        if runner is None:
            for item in zip(*args):
                try:
                    yield _plain_one(task, func, item)
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    yield exc
            return
        if runner.in_loop_thread():
            raise RunContextError(
                f"flyte.map({task.name}, ...) blocks until every item is done, and was called "
                f"from async code, where blocking would stall the run's event loop; write "
                f"`[r async for r in flyte.map.aio(...)]` instead."
            )
        yield from lite_map(task, *args, concurrency=bound, return_exceptions=return_exceptions)

    async def aio(
        self,
        func: Any,
        *args: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """The async iterator form of `flyte.map`."""
        if not args:
            return
        bound = _bounded(concurrency)
        task = _prepare(func, group_name)
        if current_runner.get() is None:
            for item in zip(*args):
                try:
                    value = _plain_one_async(task, func, item)
                    yield await value if inspect.isawaitable(value) else value
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    yield exc
            return
        iterator = lite_map.aio(task, *args, concurrency=bound, return_exceptions=return_exceptions)
        try:
            async for value in iterator:
                yield value
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]


def _plain_one_async(task: Task[..., Any], func: Any, item: tuple[Any, ...]) -> Any:
    _, args, kwargs = _target(func)
    return task.func(*args, *item, **kwargs)


map = _Mapper()
