"""`@flyte.trace`: recorded, replayable sub-steps inside a task.

Each call of a traced function inside a task call is recorded as an action of
the run (kind `"trace"`, its parent the task's action) and its outcome is
remembered by the task call. When the task's body is retried, its traced calls
replay in order: a call with the same function and inputs, at the same position
among identical calls, returns (or raises) what it did before instead of
running again. That is Flyte 2's contract, which `flyte.durable` builds on.
Outside a task, a traced function is the plain function.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar, cast

from ...lowlevel import hash_value
from ._state import Action, current_action, current_group, enter_action, leave_action, trace_scope

__all__ = ["trace"]

T = TypeVar("T")


class _Step:
    """One traced call: its memo slot in the task call, and its own action."""

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any, owner: Action) -> None:
        task_action = owner
        while task_action.kind == "trace" and task_action.parent is not None:
            task_action = task_action.parent
        self.task_action = task_action
        name = func.__qualname__
        try:
            digest: bytes | None = hash_value((args, kwargs))
        except TypeError:
            digest = None  # inputs without a stable hash: the step runs, nothing replays
        self.key: tuple[str, bytes, int] | None = None
        self.found = False
        self.outcome: tuple[bool, Any] = (False, None)
        if digest is not None:
            self.key, self.found, outcome = task_action.trace_slot(name, digest)
            if self.found:
                self.outcome = outcome
        self.action = owner.state.new_action(
            name, parent=owner, group=current_group(), kind="trace"
        )

    @classmethod
    def start(cls, func: Callable[..., Any], args: Any, kwargs: Any) -> _Step | None:
        """The step of this call, or `None` outside a task (the plain function runs)."""
        owner = current_action()
        return None if owner is None else cls(func, args, kwargs, owner)

    def replay(self) -> Any:
        ok, value = self.outcome
        self.action.finish("replayed")
        if ok:
            return value
        raise value

    @contextlib.contextmanager
    def recording(self, inside: bool = True) -> Iterator[None]:
        """Record a failure of the body; `inside`: the body runs as this step's action."""
        token = enter_action(self.action) if inside else None
        try:
            if inside:
                with trace_scope():
                    yield
            else:
                yield
        except Exception as exc:
            self.done(False, exc)
            raise
        finally:
            if token is not None:
                leave_action(token)

    def done(self, ok: bool, value: Any) -> Any:
        if self.key is not None:
            self.task_action.remember(self.key, ok, value)
        self.action.finish("succeeded" if ok else "failed", None if ok else value)
        return value


def trace(func: Callable[..., T]) -> Callable[..., T]:
    """Record each call of `func` inside a task, and replay it when the task retries.

    Works on `async def` functions, plain functions, and (async) generators,
    whose items are recorded and replayed.
    """
    if inspect.isasyncgenfunction(func):
        wrapper = _async_gen(func)
    elif inspect.iscoroutinefunction(func):
        wrapper = _async(func)
    elif inspect.isgeneratorfunction(func):
        wrapper = _sync_gen(func)
    else:
        wrapper = _sync(func)
    return cast("Callable[..., T]", wrapper)


def _async(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        step = _Step.start(func, args, kwargs)
        if step is None:
            return await func(*args, **kwargs)
        if step.found:
            return step.replay()
        with step.recording():
            value = await func(*args, **kwargs)
        return step.done(True, value)

    return traced


def _sync(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Any:
        step = _Step.start(func, args, kwargs)
        if step is None:
            return func(*args, **kwargs)
        if step.found:
            return step.replay()
        with step.recording():
            value = func(*args, **kwargs)
        return step.done(True, value)

    return traced


def _async_gen(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def traced(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        step = _Step.start(func, args, kwargs)
        if step is None:
            async for item in func(*args, **kwargs):
                yield item
            return
        if step.found:
            for item in step.replay():
                yield item
            return
        items: list[Any] = []
        with step.recording(inside=False):
            async for item in func(*args, **kwargs):
                items.append(item)
                yield item
        step.done(True, items)

    return traced


def _sync_gen(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Iterator[Any]:
        step = _Step.start(func, args, kwargs)
        if step is None:
            yield from func(*args, **kwargs)
            return
        if step.found:
            yield from step.replay()
            return
        items: list[Any] = []
        with step.recording(inside=False):
            for item in func(*args, **kwargs):
                items.append(item)
                yield item
        step.done(True, items)

    return traced
