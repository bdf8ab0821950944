"""The engine: what happens to every task call inside a run.

For one call: bind the arguments, compute the cache key, consult the catalog,
execute the body (async bodies on the event loop, sync bodies in worker threads)
with retries and a timeout, write the outputs, and record a report row.

The engine owns the run's event loop state. Identical cached calls in flight at
once share one execution. Outputs of a body that returned are written even when
the run is failing or being cancelled.

The concurrency model is asyncio's, as in Flyte 2: a run is one asyncio event
loop, task calls are coroutines, and parallelism is `asyncio.gather` and
`fl.map`. anyio is used where it adds something to that: worker threads for
sync bodies (`anyio.to_thread` with a limiter) and cancel scopes for timeouts.
Blocking store I/O runs on the catalog client's own threads; lease heartbeats
on one more.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._cache import CacheStatus
from ._context import Executor, claim_next_call
from ._errors import NonRetryableError, RunContextError, TaskTimeoutError
from ._keys import cache_key
from ._memo import Lease, RunCatalog, settle
from ._report import Report, ReportRow, RunObserver, row_limit
from ._retry import backoff
from ._task import Task
from .catalog import (
    AsyncCatalogClient,
    CatalogClient,
    CatalogConfig,
    DownloadResult,
    Key,
    MissKind,
    MissReason,
)

if TYPE_CHECKING:
    from ._tracing import RunTracer

__all__ = ["Engine"]

_BACKOFF_BASE = 0.05
_BACKOFF_MAX = 2.0
_perf = time.perf_counter
_wall = time.time

_calling: ContextVar[ReportRow | None] = ContextVar("flytelite_calling", default=None)
"""The row of the task call whose body is running in this context (a call's parent)."""


_TURN_EVERY = 64
"""Calls one asyncio task makes in a row before it gives the event loop a turn. A call
that finishes without suspending (a hit read inline, a body that awaits nothing) never
yields: a map's worker, or any loop of awaited calls, would otherwise hold the loop for
the whole map, starving its timers (the progress view, batched usage and index writes),
its other workers and the consumer of its results (which then pile up in memory)."""


def _direct(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call's body can be awaited as it is: async, on the loop, called with
    every parameter positionally, no retries and no timeout."""
    return (
        task.is_async
        and not kwargs
        and len(args) == task._arity
        and not task.retries
        and task.timeout is None
        and task.executor is None
        and not task.custom_execution
    )


class _Leader:
    """The call executing a key in this run; identical calls wait on its future, made by
    the first of them (most keys are never joined: no future at all)."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[Any] | None = None

    def fail(self, exc: BaseException) -> None:
        if self.future is not None:
            self.future.set_exception(exc)
            self.future.exception()  # retrieved: no "never retrieved" log if nobody waits


class _LeaderGone(Exception):
    """Internal: the call that was executing a shared key was cancelled."""


class _CancelledAfterReturn(asyncio.CancelledError):
    """Internal: cancelled while a sync body ran on; the body returned `result` since."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class Engine:
    """Executes the task calls of one run.

    Args:
        catalog: Where cached outputs are looked up and written.
        config: The catalog client's queues and reservation heartbeat.
        run_id: Recorded as the producer of every entry this run writes.
        max_threads: How many sync bodies may run at once in worker threads.
        executor: The run's default executor for sync bodies (`None`: threads).
        resolve_executor: Turns an executor setting (`"process"`, an object) into
            an `Executor`, or `None` for worker threads.
        observer: Told when calls start, retry and finish (live progress).
    """

    def __init__(
        self,
        catalog: CatalogClient,
        config: CatalogConfig,
        *,
        run_id: str,
        max_threads: int,
        executor: Any = None,
        resolve_executor: Callable[[Any], Executor | None] = lambda spec: None,
        observer: RunObserver | None = None,
    ) -> None:
        self.catalog = catalog
        self.catalog_config = config
        self.run_id = run_id
        self.executor = executor
        self._resolve_executor = resolve_executor
        self.observer = observer
        self.report = Report(row_limit=row_limit())
        self.report.run_id = run_id
        self.max_threads = max_threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = -1
        self._inflight: dict[str, _Leader] = {}
        self._active: dict[asyncio.Task[Any], int] = {}
        self._tls = threading.local()
        self._thread_slots: asyncio.Semaphore
        self._threads: anyio.CapacityLimiter
        self._memo: RunCatalog
        self._ships: bool | None = None
        self._tracer: RunTracer | None = None  # set by `run` when tracing is on
        self._streak_task: asyncio.Task[Any] | None = None  # the task making calls in a row
        self._streak = 0

    # -- the Runner interface, used by tasks ------------------------------------------

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if threading.get_ident() == self._loop_thread:
            if task.is_async:
                return self._call(task, args, kwargs)
            raise RunContextError(
                f"sync task {task.name!r} was called from async code inside a run, which "
                f"would block the event loop; write `await {task.func.__name__}.aio(...)`."
            )
        return self.block_on(self._call(task, args, kwargs))

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        return self._call(task, args, kwargs)

    def block_on(self, aw: Awaitable[Any]) -> Any:
        """Await `aw` on the loop from a worker thread, and wait for the result.

        A sync body that waits on other calls gives its thread slot back while it
        waits, so nested sync calls cannot exhaust the slots and deadlock.
        """
        if self._loop is None or threading.get_ident() == self._loop_thread:
            if inspect.iscoroutine(aw):
                aw.close()
            raise RunContextError("a blocking call cannot be made on the run's event loop.")
        holds_slot = getattr(self._tls, "holds_slot", False)
        self._tls.holds_slot = False
        try:
            future = asyncio.run_coroutine_threadsafe(self._await(aw, holds_slot), self._loop)
            return future.result()
        finally:
            self._tls.holds_slot = holds_slot

    async def _await(self, aw: Awaitable[Any], lend_slot: bool) -> Any:
        if not lend_slot:
            return await aw
        self._thread_slots.release()
        try:
            return await aw
        finally:
            _, cancelled = await settle(asyncio.ensure_future(self._thread_slots.acquire()))
            if cancelled:
                raise asyncio.CancelledError

    # -- running a root call -----------------------------------------------------------

    async def run(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run `task` as the root of a run; the caller sets the run context."""
        from ._tracing import run_tracer

        self._tracer = tracer = run_tracer(self)  # decided once per run
        async with self.session():
            self._memo.client.prune_on_close = True  # a run's root keeps the size bound
            if tracer is None:
                return await self._call(task, args, kwargs)
            with tracer.run_span(task.name):
                return await self._call(task, args, kwargs)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """The run's event loop state and catalog client, open for calls while inside.

        A run has one session around its root call; a body shipped to a worker opens
        one in the worker for the task calls it makes (`executors._remote`)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._thread_slots = asyncio.Semaphore(self.max_threads)
        self._threads = anyio.CapacityLimiter(math.inf)
        async with AsyncCatalogClient(self.catalog, self.catalog_config) as client:
            self._memo = RunCatalog(client, run_id=self.run_id, notes=self.report.notes)
            try:
                yield
            finally:
                await self._cancel_orphans()

    async def _cancel_orphans(self) -> None:
        """Cancel calls still running when the root returned (e.g. gather siblings of a failure)."""
        me = asyncio.current_task()
        orphans = [t for t in self._active if t is not me and not t.done()]
        for t in orphans:
            t.cancel()
        if orphans:
            _, cancelled = await settle(asyncio.ensure_future(asyncio.wait(orphans)))
            if cancelled:
                raise asyncio.CancelledError

    # -- one call -----------------------------------------------------------------------

    async def _call(
        self,
        task: Task[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        inputs: dict[str, Any] | None = None,
        node: str | None = None,
    ) -> Any:
        # The run's loop given, when on its thread: no second look-up of the running loop.
        me = asyncio.current_task(self._loop if self.in_loop_thread() else None)
        assert me is not None
        if me is self._streak_task:
            self._streak += 1
            if self._streak >= _TURN_EVERY:
                self._streak = 0
                await asyncio.sleep(0)  # the loop's turn (see _TURN_EVERY)
        else:
            self._streak_task, self._streak = me, 1
        row = ReportRow(
            task.name,
            spec_cache=CacheStatus.SKIPPED if task.has_spec else None,
            node=node,
            started=_wall(),
            parent=_calling.get(),
        )
        kept = self.report._keep(row)
        claim_next_call(row)
        observer = self.observer
        if observer is not None:
            observer.call_started(row)
        calling = _calling.set(row)
        tracer = self._tracer
        span = None if tracer is None else tracer.start(row, task)
        started = _perf()
        active = self._active
        active[me] = active.get(me, 0) + 1
        try:
            if task.cache is None and inputs is None and _direct(task, args, kwargs):
                # An uncached async body, positional arguments that fit, nothing to retry
                # or time out: awaited right here (what `_execute` would do, in one frame).
                row.cache = CacheStatus.DISABLED
                row.attempts = 1
                result = await task.func(*args)
            else:
                if inputs is None:
                    inputs = task.bind(args, kwargs)
                if task.cache is None:
                    row.cache = CacheStatus.DISABLED
                    result = await self._execute(task, inputs, row)
                else:
                    result = await self._cached(task, inputs, row)
            row.status = "succeeded"
            return result
        except asyncio.CancelledError:
            row.status = "cancelled"
            raise
        except BaseException as exc:
            row.status = "failed"
            row.exception = exc
            raise
        finally:
            row.duration = _perf() - started
            _calling.reset(calling)
            if span is not None:
                span.end(row)
            if observer is not None:
                observer.call_finished(row)
            if not kept:
                self.report._fold(row)
            n = active[me] - 1
            if n:
                active[me] = n
            else:
                del active[me]

    async def _cached(self, task: Task[..., Any], inputs: dict[str, Any], row: ReportRow) -> Any:
        key = cache_key(task, inputs)
        digest = row.key = key.digest
        inflight = self._inflight
        while True:  # join an identical call already executing in this run
            leader = inflight.get(digest)
            if leader is None:
                break
            if leader.future is None:  # the first to join makes the future
                leader.future = asyncio.get_running_loop().create_future()
            try:
                result = await asyncio.shield(leader.future)
            except _LeaderGone:
                continue
            row.cache = CacheStatus.HIT
            return result
        leader = inflight[digest] = _Leader()
        try:
            result = await self._lookup_execute_write(task, key, inputs, row)
        except asyncio.CancelledError:
            leader.fail(_LeaderGone())
            raise
        except BaseException as exc:
            leader.fail(exc)
            raise
        else:
            if leader.future is not None:
                leader.future.set_result(result)
            return result
        finally:
            del inflight[digest]

    async def _lookup_execute_write(
        self, task: Task[..., Any], key: Key, inputs: dict[str, Any], row: ReportRow
    ) -> Any:
        policy = task.cache
        assert policy is not None
        memo = self._memo
        max_age = policy.max_age.total_seconds() if policy.max_age is not None else None
        override = policy.behavior == "override"
        lookup_failed = False
        if override:
            row.miss_reason = MissReason(MissKind.OVERRIDE, "behavior override")
        else:
            found = await memo.lookup(key, max_age)
            if found.status is CacheStatus.HIT:
                entry = found.entry
                row.cache = CacheStatus.HIT
                if entry is None:
                    return None
                row.populated_in = entry.duration
                return entry.outputs
            lookup_failed = found.status is CacheStatus.LOOKUP_FAILURE
            if lookup_failed:
                error = found.error
                row.miss_reason = MissReason(
                    MissKind.LOOKUP_FAILURE,
                    f"lookup failure of the store ({type(error).__name__}: {error})",
                    error_type=type(error).__name__,
                    error=str(error),
                )
            else:
                row.miss_reason = found.reason or MissReason(MissKind.UNKNOWN, "no entry")
        lease: Lease | None = None
        # A serialized sync body asks for its reservation only once it has a thread
        # slot, so that this process holds leases only for keys it is executing.
        slot = self._thread_slots if policy.serialize and self._runs_in_thread(task) else None
        if policy.serialize:
            turn, waited = await memo.take_turn(
                key, max_age=max_age, fresh_after=time.time() if override else None, slot=slot
            )
            if not isinstance(turn, Lease):
                row.cache = CacheStatus.HIT  # another holder produced it meanwhile
                row.miss_reason = None
                row.populated_in = turn.entry.duration if turn.entry is not None else None
                return turn.outputs
            lease = turn
            if waited:
                row.miss_reason = MissReason(
                    MissKind.HOLDER_FAILED, "another process held the reservation and failed"
                )
        try:
            row.cache = CacheStatus.LOOKUP_FAILURE if lookup_failed else CacheStatus.MISS
            cancelled = False
            executing = _perf()
            try:
                result = await self._execute(
                    task, inputs, row, keep=True, slot_held=slot is not None
                )
            except _CancelledAfterReturn as exc:
                result, cancelled = exc.result, True
            # The body returned: its outputs are written even if the run is being cancelled.
            written = await memo.write(
                task.name,
                key,
                result,
                overwrite=override,
                max_age=max_age,
                duration=_perf() - executing,
            )
        finally:
            try:
                if lease is not None:
                    await lease.release()
            finally:
                if slot is not None:
                    slot.release()
        if not lookup_failed:
            row.cache = written.status
        if cancelled or written.cancelled:
            raise asyncio.CancelledError
        if written.committed is not None:
            return written.committed.outputs  # another writer won: one value per key
        return result

    # -- executing a body ----------------------------------------------------------------

    async def _execute(
        self,
        task: Task[..., Any],
        inputs: dict[str, Any],
        row: ReportRow,
        *,
        keep: bool = False,
        slot_held: bool = False,
    ) -> Any:
        """Run the body with retries.

        With `keep`, a cancellation that arrives while a sync body runs waits for
        the body (a thread cannot be stopped) and raises `_CancelledAfterReturn`
        with its result, so that the caller can still write it. With
        `slot_held`, the caller already holds a thread slot for it.
        """
        args, kwargs = task.call_args(inputs)
        executor = self._executor_for(task)
        attempt = 0
        while True:
            attempt += 1
            row.attempts = attempt
            if attempt > 1 and self.observer is not None:
                self.observer.call_retried(row)
            try:
                if task.custom_execution:
                    return await self._run_custom(task, inputs, row)
                if executor is not None:
                    return await self._run_shipped(executor, task, args, kwargs)
                if task.is_async:
                    if task.timeout is None:  # the body's coroutine, awaited here
                        return await task.func(*args, **kwargs)
                    return await self._with_timeout(task, task.func(*args, **kwargs))
                return await self._run_sync_body(task, args, kwargs, keep=keep, slot_held=slot_held)
            except NonRetryableError:
                raise
            except Exception:
                if attempt > task.retries:
                    raise
            delay = task.retry_delay
            retry = attempt - 1
            await asyncio.sleep(
                delay(retry) if delay else backoff(retry, base=_BACKOFF_BASE, cap=_BACKOFF_MAX)
            )

    def _runs_in_thread(self, task: Task[..., Any]) -> bool:
        """Whether the body runs in one of this run's worker threads."""
        return not (task.custom_execution or task.is_async) and self._executor_for(task) is None

    def _executor_for(self, task: Task[..., Any]) -> Executor | None:
        # The run's default applies to sync bodies; async bodies stay on the loop
        # unless their task asks for an executor.
        spec = task.executor
        if spec is None and not task.is_async:
            spec = self.executor
        if spec is None or spec == "thread":
            return None
        return self._resolve_executor(spec)

    async def _run_shipped(
        self, executor: Executor, task: Task[..., Any], args: Any, kwargs: Any
    ) -> Any:
        """A body on another process or machine: the tasks it calls there use this run's
        catalog, and their report rows join this run's report."""
        from .executors._remote import ROWS, Outcome, RemoteBody

        func: Any = task.func
        if self._catalog_ships():
            func = RemoteBody(task.func, self.catalog, self.catalog_config, self.run_id)
        if self._tracer is not None:
            func = self._tracer.ship(func)
        try:
            outcome = await executor.run(func, args, kwargs, task=task.name, timeout=task.timeout)
        except BaseException as exc:
            rows = vars(exc).pop(ROWS, None) if hasattr(exc, "__dict__") else None
            if rows:
                self._absorb(rows)
            raise
        if isinstance(outcome, Outcome):
            self._absorb(outcome.rows)
            return outcome.output
        return outcome

    def _catalog_ships(self) -> bool:
        """Whether the run's catalog client can be sent to workers (pickled); if not, the
        tasks a shipped body calls run there as plain functions, with a warning."""
        if self._ships is None:
            import cloudpickle

            try:
                cloudpickle.dumps((self.catalog, self.catalog_config))
                self._ships = True
            except Exception as exc:
                self._ships = False
                self._memo.warn(
                    "ship-catalog",
                    f"the run's catalog ({self.catalog!r}) cannot be sent to process or Dask "
                    f"workers ({type(exc).__name__}: {exc}); task calls made by bodies that "
                    f"run there execute as plain functions, without the cache.",
                )
        return self._ships

    def _absorb(self, rows: list[ReportRow]) -> None:
        """Add the rows of calls made in a worker to this run's report (those the body
        made directly are children of the call that shipped it)."""
        shipping = _calling.get()
        for row in rows:
            if row.parent is None:
                row.parent = shipping
        if self._tracer is not None:
            self._tracer.replay(rows, shipping)
        observer = self.observer
        report = self.report
        for row in rows:
            if not report._keep(row):
                report._fold(row)
            if observer is not None:
                observer.call_started(row)
                observer.call_finished(row)

    async def _run_custom(
        self, task: Task[..., Any], inputs: dict[str, Any], row: ReportRow
    ) -> Any:
        return await self._with_timeout(task, task.execute(_CallContext(self, row), inputs))

    async def _with_timeout(self, task: Task[..., Any], coro: Coroutine[Any, Any, Any]) -> Any:
        if task.timeout is None:
            return await coro
        with anyio.move_on_after(task.timeout):
            return await coro
        raise TaskTimeoutError(
            f"task {task.name!r} timed out after {task.timeout:g} s and was cancelled.",
            task=task.name,
            timeout=task.timeout,
        )

    async def _run_sync_body(
        self, task: Task[..., Any], args: Any, kwargs: Any, *, keep: bool, slot_held: bool = False
    ) -> Any:
        async with contextlib.nullcontext() if slot_held else self._thread_slots:
            if task.timeout is not None:
                with anyio.move_on_after(task.timeout):
                    return await anyio.to_thread.run_sync(
                        self._in_worker,
                        task.func,
                        args,
                        kwargs,
                        limiter=self._threads,
                        abandon_on_cancel=True,
                    )
                raise TaskTimeoutError(
                    f"task {task.name!r} timed out after {task.timeout:g} s. Its body runs in "
                    f"a worker thread, which cannot be stopped: it may still be running, and "
                    f"its result will be discarded. Make the body async for a hard stop.",
                    task=task.name,
                    timeout=task.timeout,
                )
            thread = asyncio.ensure_future(
                anyio.to_thread.run_sync(
                    self._in_worker, task.func, args, kwargs, limiter=self._threads
                )
            )
            if not keep:
                return await thread
            result, cancelled = await settle(thread)
            if cancelled:
                raise _CancelledAfterReturn(result)
            return result

    async def run_in_thread(self, fn: Any, *args: Any) -> Any:
        """Blocking `fn(*args)` in a worker thread, holding a thread slot."""
        async with self._thread_slots:
            return await anyio.to_thread.run_sync(
                self._in_worker, fn, args, {}, limiter=self._threads
            )

    def _in_worker(self, func: Any, args: Any, kwargs: Any) -> Any:
        self._tls.holds_slot = True
        try:
            return func(*args, **kwargs)
        finally:
            self._tls.holds_slot = False


class _CallContext:
    """The engine's side of `CallContext`, for one call."""

    def __init__(self, engine: Engine, row: ReportRow) -> None:
        self._engine = engine
        self.row = row
        self.run_id = engine.run_id

    async def lookup(self, key: Key, max_age: float | None = None) -> DownloadResult:
        return await self._engine._memo.lookup(key, max_age)

    async def write(self, key: Key, value: Any, *, overwrite: bool) -> CacheStatus:
        written = await self._engine._memo.write(
            self.row.task, key, value, overwrite=overwrite, max_age=None
        )
        if written.cancelled:
            raise asyncio.CancelledError
        return written.status

    def call(
        self, task: Task[..., Any], inputs: dict[str, Any], *, node: str | None = None
    ) -> Coroutine[Any, Any, Any]:
        return self._engine._call(task, (), {}, inputs=inputs, node=node)

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        return await self._engine.run_in_thread(fn, *args)

    def warn(self, message: str, category: type[Warning]) -> None:
        self._engine._memo.warn(message, message, category)
