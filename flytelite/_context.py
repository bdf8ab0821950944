"""The run context: how a task call finds the run it belongs to.

`fl.run` sets `current_runner` for the duration of a run; a task called while
it is unset is a plain function call. Tasks depend only on the small `Runner`
interface below, never on the engine itself. Plug-ins import these names
from `flytelite.lowlevel`, their published home.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._cache import CacheStatus
    from ._report import Report, ReportRow
    from ._task import Task
    from .catalog import DownloadResult, Key


class Runner(Protocol):
    """The run a task call belongs to (what `current_runner` holds during a run).

    A task calls into its runner and never into the engine itself; a plug-in
    that runs tasks its own way (a compiler tracing a dynamic workflow, say)
    sets itself as the runner for a while.
    """

    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A task called as `t(...)`: an awaitable on the event loop, else the result."""

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        """A task called as `t.aio(...)`: always an awaitable."""

    def block_on(self, aw: Awaitable[Any]) -> Any:
        """Await `aw` on the run's event loop from another thread, and wait for it."""

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the run's event loop thread."""


class RunSession(Runner, Protocol):
    """A run with no root call, open for the task calls made through it
    (`lowlevel.open_run`): what a body shipped to a worker runs its own calls in.

    Calls are keyed, looked up, retried and written as in any run; `report` holds
    one row per call made through it.
    """

    @property
    def report(self) -> Report:
        """The rows of the calls made through this session."""


class Executor(Protocol):
    """Runs task bodies away from the run's event loop: a process pool, a Dask cluster.

    Orchestration, hashing and caching stay in the run; only the body is shipped.
    """

    async def run(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        task: str,
        timeout: float | None,
    ) -> Any:
        """Run `func(*args, **kwargs)` (a coroutine function is run to completion) and
        return its result, raising its exception. Past `timeout` seconds the body is
        stopped and `TaskTimeoutError` is raised; a worker that dies fails the call."""


class CallContext(Protocol):
    """What the engine offers a task kind that executes calls its own way.

    A task with `custom_execution` is executed by `await task.execute(ctx, inputs)`
    instead of calling its function (dynamic workflows run a DAG this way).
    """

    row: ReportRow
    run_id: str

    async def lookup(self, key: Key, max_age: float | None = None) -> DownloadResult:
        """Consult the run's catalog."""

    async def write(self, key: Key, value: Any, *, overwrite: bool) -> CacheStatus:
        """Write to the run's catalog, finishing even if cancelled."""

    def call(
        self, task: Task[..., Any], inputs: dict[str, Any], *, node: str | None = None
    ) -> Coroutine[Any, Any, Any]:
        """A task call of this run with bound inputs, reported as `node` of this call."""

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        """Run blocking `fn(*args)` in a worker thread (in a copy of the current context)."""

    def warn(self, message: str, category: type[Warning]) -> None:
        """Warn once per run for this message."""


current_runner: ContextVar[Runner | None] = ContextVar("flytelite_runner", default=None)


class CallHandle:
    """Receives the report row of the next task call made in this context.

    A plug-in that calls a task through the runner and needs that call's row
    (its attempts, cache status, duration) passes a handle to `expect_call`
    just before the call; the engine fills `row` as the call starts.
    """

    __slots__ = ("row",)

    def __init__(self) -> None:
        self.row: ReportRow | None = None


_next_call: ContextVar[CallHandle | None] = ContextVar("flytelite_next_call", default=None)


def expect_call(handle: CallHandle) -> Token[CallHandle | None]:
    """Give the row of the next task call started in this context to `handle`.

    Returns the context variable's token: `reset_call(token)` withdraws the
    request if no call claimed it (e.g. around `fl.run`, whose root call is
    made in a copy of this context).
    """
    return _next_call.set(handle)


def reset_call(token: Token[CallHandle | None]) -> None:
    """Withdraw an `expect_call` request."""
    _next_call.reset(token)


def claim_next_call(row: ReportRow) -> None:
    """Called by the engine as a call starts: hand `row` to a waiting handle, once."""
    handle = _next_call.get()
    if handle is not None:
        _next_call.set(None)
        handle.row = row


runs_started = [0]
"""How many runs this process has started: a task's code fingerprint is revalidated
once per run (see `Task.fingerprint`)."""

active_runs = [0]
"""How many runs are in progress in this process (any thread)."""
