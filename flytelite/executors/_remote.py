"""Task calls made by a body that runs in another process (a process worker, a Dask worker).

The engine ships such a body wrapped in a `RemoteBody`. In the worker it opens the
run's catalog (a copy of the run's catalog client: the same URL, storage options
and signing) in a session of its own (`lowlevel.open_run`), so that the tasks the body calls,
directly or through `fl.map`, are keyed, looked up, retried and written exactly as
they would be in the run. Their report rows travel back with the body's output
in an `Outcome` (or, when the body raises, on its exception as `__flytelite_rows__`),
and the run adds them to its report.

The worker's session opens with the first task call, so a body that calls no task
pays nothing for it. Calls made in a worker run in that worker's threads (an
executor setting of theirs is not followed there: a process worker starting a
pool of its own would multiply processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flytelite import RemoteTaskError

from ..lowlevel import RunSession, current_runner, open_run

if TYPE_CHECKING:
    from flytelite import ReportRow, Task

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
    """The run, as seen by a body in a worker: a `lowlevel.open_run` session on a
    loop of its own thread (sync bodies), or on the body's loop (async bodies);
    opened by the first call."""

    def __init__(self, body: RemoteBody) -> None:
        self.body = body
        self._session: RunSession | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> contextlib.AbstractAsyncContextManager[RunSession]:
        # Calls run in this worker's threads (see the module docstring).
        body = self.body
        return open_run(body.catalog, body.config, run_id=body.run_id, max_threads=_MAX_THREADS)

    def session(self) -> RunSession:
        with self._lock:
            if self._session is None:
                self._session = self._serve_in_thread()
            return self._session

    def _serve_in_thread(self) -> RunSession:
        opened: list[RunSession] = []
        failed: list[BaseException] = []
        ready = threading.Event()

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            self._loop, self._stop = loop, loop.create_future()
            try:
                async with self._open() as session:
                    opened.append(session)
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
        return opened[0]

    def run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run an async body on a loop of its own, its task calls on the same loop."""

        async def main() -> Any:
            async with self._open() as session:
                self._session = session
                token = current_runner.set(session)
                try:
                    return await coro
                finally:
                    current_runner.reset(token)

        return asyncio.run(main())

    def rows(self) -> list[ReportRow]:
        session = self._session
        return [_sendable(row) for row in session.report] if session is not None else []

    def close(self) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and thread is not None:
            loop.call_soon_threadsafe(_finish, stop)
            thread.join()

    # -- the Runner interface, for a sync body in this thread -----------------------------

    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.session().call(task, args, kwargs)

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        return self.session().call_async(task, args, kwargs)

    def block_on(self, aw: Awaitable[Any]) -> Any:
        return self.session().block_on(aw)

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
