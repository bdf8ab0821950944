"""Task calls made by a body that runs in another process (a process worker, a Dask worker).

The engine ships such a body wrapped in a `RemoteBody`. In the worker it opens the
run's catalog (a copy of the run's catalog client: the same URL, storage options
and signing) behind an engine of its own, so that the tasks the body calls,
directly or through `fl.map`, are keyed, looked up, retried and written exactly as
they would be in the run. Their report rows travel back with the body's output
in an `Outcome` (or, when the body raises, on its exception as `__flytelite_rows__`),
and the run adds them to its report.

The worker's engine starts with the first task call, so a body that calls no task
pays nothing for it. Calls made in a worker run in that worker's threads (an
executor setting of theirs is not followed there: a process worker starting a
pool of its own would multiply processes).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flytelite import RemoteTaskError

from ..lowlevel import current_runner

if TYPE_CHECKING:
    from flytelite import ReportRow, Task

    from .._engine import Engine
    from ..catalog import CatalogClient, CatalogConfig

__all__ = ["ROWS", "Outcome", "RemoteBody"]

_MAX_THREADS = 64


ROWS = "__flytelite_rows__"
"""The attribute of a shipped body's exception that carries its task calls' rows."""


@dataclass
class Outcome:
    """What a shipped body gives back: its output, and the rows of the task calls it made."""

    output: Any = None
    rows: list[ReportRow] = field(default_factory=list)


class RemoteBody:
    """A task's function with what its task calls need in a worker: the run's catalog."""

    def __init__(
        self,
        func: Callable[..., Any],
        catalog: CatalogClient,
        config: CatalogConfig,
        run_id: str,
    ) -> None:
        self.func = func
        self.catalog = catalog
        self.config = config
        self.run_id = run_id
        self.__name__ = getattr(func, "__name__", "body")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Outcome:
        runner = _WorkerRunner(self)
        try:
            if inspect.iscoroutinefunction(self.func):
                output = runner.run_async(self.func(*args, **kwargs))
            else:
                token = current_runner.set(runner)
                try:
                    output = self.func(*args, **kwargs)
                finally:
                    current_runner.reset(token)
        except BaseException as exc:
            runner.close()
            rows = runner.rows()
            if rows:
                try:
                    setattr(exc, ROWS, rows)
                except Exception:  # noqa: S110 (an exception that takes no attributes)
                    pass
            raise
        runner.close()
        return Outcome(output, runner.rows())


class _WorkerRunner:
    """The run, as seen by a body in a worker: an engine on a loop of its own thread
    (sync bodies), or on the body's loop (async bodies); started by the first call."""

    def __init__(self, body: RemoteBody) -> None:
        self.body = body
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _new_engine(self) -> Engine:
        from .._engine import Engine

        return Engine(
            self.body.catalog,
            self.body.config,
            run_id=self.body.run_id,
            max_threads=_MAX_THREADS,
            resolve_executor=lambda spec: None,  # see the module docstring
        )

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._serve_in_thread()
            return self._engine

    def _serve_in_thread(self) -> Engine:
        engine = self._new_engine()
        ready = threading.Event()
        failed: list[BaseException] = []

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            self._loop, self._stop = loop, loop.create_future()
            try:
                async with engine.session():
                    ready.set()
                    await self._stop
            except BaseException as exc:
                failed.append(exc)
                raise
            finally:
                ready.set()

        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(),), name="flytelite-worker-run", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return engine

    def run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run an async body on a loop of its own, its task calls on the same loop."""
        engine = self._new_engine()
        self._engine = engine

        async def main() -> Any:
            token = current_runner.set(engine)
            try:
                async with engine.session():
                    return await coro
            finally:
                current_runner.reset(token)

        return asyncio.run(main())

    def rows(self) -> list[ReportRow]:
        engine = self._engine
        return [_sendable(row) for row in engine.report] if engine is not None else []

    def close(self) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and thread is not None:
            loop.call_soon_threadsafe(_finish, stop)
            thread.join()

    # -- the Runner interface, for a sync body in this thread -----------------------------

    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.engine().call(task, args, kwargs)

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        return self.engine().call_async(task, args, kwargs)

    def block_on(self, aw: Awaitable[Any]) -> Any:
        return self.engine().block_on(aw)

    def in_loop_thread(self) -> bool:
        return False


def _finish(stop: asyncio.Future[None]) -> None:
    if not stop.done():
        stop.set_result(None)


def _sendable(row: ReportRow) -> ReportRow:
    """The row, with an exception that cannot be pickled replaced by a description."""
    exc = row.exception
    if exc is None:
        return row
    try:
        import cloudpickle

        cloudpickle.dumps(exc)
    except Exception:
        row.exception = RemoteTaskError(
            f"{type(exc).__name__}: {exc}",
            task=row.task,
            type_name=type(exc).__name__,
            remote_traceback="",
        )
    return row
