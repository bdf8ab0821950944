"""`fl.run`: the entry point that runs a task as the root of a workflow."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._context import active_runs, current_runner, runs_started
from ._environment import check_executor
from ._errors import InputError, RunContextError, TaskFailedError
from ._gc import during_run
from ._report import Report
from ._task import Task

if TYPE_CHECKING:
    import asyncio

    from ._engine import Engine
    from ._progress import Progress
    from .catalog import CatalogConfig

__all__ = ["Run", "RunContext", "RunOptions", "run", "with_runcontext"]

DEFAULT_MAX_THREADS = 64


@dataclass
class Run:
    """A finished run.

    Attributes:
        outputs: The root task's return value.
        report: One row per task call (`str(report)` is a summary table).
        run_id: This run's id, recorded as the producer of the entries it wrote.
        cache_url: The cache the run used.
    """

    outputs: Any = field(repr=False)  # may be large: a repr must stay cheap
    report: Report = field(repr=False)
    run_id: str
    cache_url: str

    def _repr_html_(self) -> str:
        """A compact report for notebooks: summary, outputs, timeline, per-task table."""
        import reprlib

        from ._report_html import render_compact

        return render_compact(self.report, outputs=reprlib.repr(self.outputs))


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"


def _check_root(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Fail before anything executes: not a task, or arguments that do not fit.

    (Inputs of a cached root are hashed when its call starts, before its body runs.)
    """
    if not isinstance(task, Task):
        raise TypeError(
            f"fl.run expects a task, got {task!r}; decorate the function with @env.task."
        )
    task.bind(args, kwargs)


_UNSET: Any = object()


@dataclass(frozen=True)
class RunOptions:
    """How a run runs, apart from its root task's inputs (see `fl.run`)."""

    cache_url: str | None = None
    storage_options: dict[str, Any] | None = None
    catalog_config: CatalogConfig | None = None
    executor: Any = None
    progress: bool | None = None
    cache_mode: str | None = None
    shared_cache_url: str | None = None
    shared_cache_mode: str | None = None


_OPTION_NAMES = tuple(RunOptions.__dataclass_fields__)


class _RunFunction:
    """`fl.run`: run a task as the root of a workflow and return a `Run`.

    `fl.run(task, *args, **kwargs)` blocks; `await fl.run.aio(...)` is the same
    for callers already inside an event loop.
    """

    def __call__(
        self,
        task: Any,
        /,
        *args: Any,
        cache_url: str | None = _UNSET,
        storage_options: dict[str, Any] | None = _UNSET,
        catalog_config: CatalogConfig | None = _UNSET,
        executor: Any = _UNSET,
        progress: bool | None = _UNSET,
        cache_mode: str | None = _UNSET,
        shared_cache_url: str | None = _UNSET,
        shared_cache_mode: str | None = _UNSET,
        **kwargs: Any,
    ) -> Run:
        """Run `task` as the root of a workflow, wait for it, and return the `Run`.

        Args:
            task: The root task.
            *args: Its positional arguments.
            cache_url: Where the cache lives (any fsspec URL). Default:
                `FLYTELITE_CACHE_URL`, else a per-user cache folder.
            storage_options: fsspec options for the cache's file system.
            catalog_config: The catalog client's reader and writer queues and the
                reservation heartbeat.
            executor: Where sync bodies run unless their task or environment says:
                `"thread"` (the default), `"process"`, or an executor object.
            progress: Show live progress on stderr (a rich view on a terminal,
                plain lines elsewhere). Default: on, unless `FLYTELITE_PROGRESS=0`.
            cache_mode: `"read-write"` (the default) or `"read-only"`: serve hits,
                execute misses, and write nothing at all to the cache. Default:
                `FLYTELITE_CACHE_MODE`.
            shared_cache_url: A cache behind `cache_url` (a team's, e.g.
                `s3://team-cache`): lookups that miss locally are tried there, and
                its hits are copied locally. Default: `FLYTELITE_CACHE_SHARED_URL`.
                `storage_options` apply to whichever of the two is not a local folder.
            shared_cache_mode: `"read-only"` (the default: the shared cache is
                read through, never written) or `"read-write"` (writes and
                reservations go to it too). Default: `FLYTELITE_CACHE_SHARED_MODE`.
            **kwargs: The task's keyword arguments. A task with a parameter named
                like one of the options above takes it through
                `fl.with_runcontext(...).run(task, ...)`, where every keyword is
                the task's; here such a keyword is an `InputError`.

        Raises:
            InputError: the arguments do not fit the task (nothing ran).
            UnhashableInputError: an input of a cached root task cannot be hashed (nothing ran).
            TaskFailedError: a task failed; it names the task and chains its exception.
            RunCancelled: (`fl.run.aio`) the run was cancelled; `.report` has its calls so far.
            RunContextError: called inside a run, or `fl.run` inside a running event loop.
        """
        given = _given(locals())
        return _run_blocking(_options(task, given), task, args, kwargs)

    async def aio(
        self,
        task: Any,
        /,
        *args: Any,
        cache_url: str | None = _UNSET,
        storage_options: dict[str, Any] | None = _UNSET,
        catalog_config: CatalogConfig | None = _UNSET,
        executor: Any = _UNSET,
        progress: bool | None = _UNSET,
        cache_mode: str | None = _UNSET,
        shared_cache_url: str | None = _UNSET,
        shared_cache_mode: str | None = _UNSET,
        **kwargs: Any,
    ) -> Run:
        """The awaitable form of `fl.run`."""
        given = _given(locals())
        return await _run_async(_options(task, given), task, args, kwargs)


class _ContextRun:
    """`fl.with_runcontext(...).run`: every keyword is the task's."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def __call__(self, task: Any, /, *args: Any, **kwargs: Any) -> Run:
        """Run `task` with these options, wait for it, and return the `Run`."""
        return _run_blocking(self.options, task, args, kwargs)

    async def aio(self, task: Any, /, *args: Any, **kwargs: Any) -> Run:
        """The awaitable form."""
        return await _run_async(self.options, task, args, kwargs)


class RunContext:
    """Run options kept apart from a task's inputs: `fl.with_runcontext(...).run(task, ...)`.

    Attributes:
        options: The options every run started from here uses.
        run: `run(task, *args, **inputs) -> Run`, and `await run.aio(...)`.
    """

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.run = _ContextRun(options)

    def __repr__(self) -> str:
        return f"RunContext({self.options!r})"


def with_runcontext(
    *,
    cache_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    catalog_config: CatalogConfig | None = None,
    executor: Any = None,
    progress: bool | None = None,
    cache_mode: str | None = None,
    shared_cache_url: str | None = None,
    shared_cache_mode: str | None = None,
) -> RunContext:
    """Options for runs, apart from the task's inputs (Flyte 2's spelling).

    `fl.with_runcontext(cache_url=url, progress=False).run(task, x=1)` is
    `fl.run(task, x=1, cache_url=url, progress=False)`, except that every
    keyword given to `.run` goes to the task, even one named `progress`. The
    options mean what they mean for `fl.run`.
    """
    return RunContext(
        RunOptions(
            cache_url,
            storage_options,
            catalog_config,
            executor,
            progress,
            cache_mode,
            shared_cache_url,
            shared_cache_mode,
        )
    )


def _given(scope: dict[str, Any]) -> dict[str, Any]:
    """The options given to `fl.run` (`scope`: its locals), by name."""
    return {n: scope[n] for n in _OPTION_NAMES if scope[n] is not _UNSET}


def _options(task: Any, given: dict[str, Any]) -> RunOptions:
    """`fl.run`'s options; a keyword that names both an option and a task parameter is
    refused, never guessed."""
    params = task.signature.parameters if isinstance(task, Task) else {}
    clash = sorted(n for n in given if n in params)
    if clash:
        name = clash[0]
        raise InputError(
            f"task {task.name!r} has a parameter {name!r}, which fl.run also takes as its "
            f"own option; say which is meant: fl.with_runcontext({name}=...).run(task, ...) "
            f"for the option, fl.with_runcontext().run(task, {name}=...) for the task's "
            f"input (every keyword given to that .run is the task's).",
            task=task.name,
            parameter=name,
        )
    return RunOptions(**given)


_MODES = ("read-write", "read-only")


def _mode(option: str, value: str) -> bool:
    """Whether a cache mode is read-only; anything but the two modes is a `ValueError`."""
    if value not in _MODES:
        raise ValueError(
            f"{option}={value!r} is not a cache mode; give 'read-write' or 'read-only'."
        )
    return value == "read-only"


def _setting(given: str | None, option: str, variable: str, default: str) -> bool:
    """Whether the cache mode of run option `option`, else of `variable`, is read-only."""
    import os

    if given is not None:
        return _mode(option, given)
    return _mode(variable, os.environ.get(variable) or default)


def open_catalog(options: RunOptions) -> Any:
    """The run's catalog: the cache (read-only if asked), and a shared one behind it."""
    import os

    from .catalog import FsspecCatalog, default_cache_url

    url = options.cache_url or default_cache_url()
    read_only = _setting(options.cache_mode, "cache_mode", "FLYTELITE_CACHE_MODE", "read-write")
    shared_url = options.shared_cache_url or os.environ.get("FLYTELITE_CACHE_SHARED_URL")
    shared = None
    if shared_url:
        remote = options.storage_options if "://" in shared_url else None
        shared_read_only = _setting(
            options.shared_cache_mode,
            "shared_cache_mode",
            "FLYTELITE_CACHE_SHARED_MODE",
            "read-only",
        )
        shared = FsspecCatalog(shared_url, remote, read_only=read_only or shared_read_only)
    local_options = options.storage_options if "://" in url else None
    return FsspecCatalog(url, local_options, read_only=read_only, shared=shared)


def catalog_config(options: RunOptions) -> Any:
    """The run's catalog config; `FLYTELITE_CACHE_MAX_SIZE` bounds the cache if it does not."""
    import dataclasses
    import os

    from .catalog import CatalogConfig

    config = options.catalog_config or CatalogConfig()
    bound = os.environ.get("FLYTELITE_CACHE_MAX_SIZE")
    if config.max_size is None and bound:
        try:
            config = dataclasses.replace(config, max_size=bound)
        except ValueError as exc:
            raise ValueError(f"FLYTELITE_CACHE_MAX_SIZE={bound!r}: {exc}") from None
    return config


def _run_blocking(
    options: RunOptions, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Run:
    import asyncio  # here, not with `import flytelite`

    _check_not_nested()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RunContextError(
            "fl.run(...) was called from a running event loop; use `await fl.run.aio(...)`."
        )
    _check_root(task, args, kwargs)
    return asyncio.run(_run_async(options, task, args, kwargs, checked=True))


async def _run_async(
    options: RunOptions,
    task: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    checked: bool = False,
) -> Run:
    # The engine and its helpers load on the first run, not with `import flytelite`.
    import asyncio

    from ._cancelled import RunCancelled
    from ._engine import Engine
    from ._progress import make_progress
    from ._statcache import reset_stat_cache, use_stat_cache
    from .executors._resolve import resolve as resolve_executor

    if not checked:  # the blocking form checked before it started a loop
        _check_not_nested()
        _check_root(task, args, kwargs)
    catalog = open_catalog(options)
    url = catalog.url
    view = make_progress(options.progress)
    engine = Engine(
        catalog,
        catalog_config(options),
        run_id=_new_run_id(),
        max_threads=DEFAULT_MAX_THREADS,
        executor=check_executor("fl.run", options.executor),
        resolve_executor=resolve_executor,
        observer=view,
    )
    engine.report.cache_url = url
    runs_started[0] += 1  # code fingerprints are revalidated once per run
    token = current_runner.set(engine)
    memo = use_stat_cache(catalog.stat_cache)  # File inputs: digests remembered with the cache
    ticker = _start(view)
    active_runs[0] += 1
    try:
        with during_run():
            outputs = await engine.run(task, args, kwargs)
    except InputError as exc:
        root = engine.report[0] if engine.report else None
        if root is not None and root.exception is exc and root.attempts == 0:
            raise  # the root's own inputs were refused: nothing ran
        raise _failure(engine, task.name, exc) from exc
    except asyncio.CancelledError:
        finished = sum(row.status in ("succeeded", "failed") for row in engine.report)
        raise RunCancelled(
            f"the run of {task.name!r} was cancelled after {finished} of "
            f"{len(engine.report)} calls finished",
            report=engine.report,
            root=task.name,
            run_id=engine.run_id,
        ) from None
    except Exception as exc:
        raise _failure(engine, task.name, exc) from exc
    finally:
        active_runs[0] -= 1
        reset_stat_cache(memo)
        current_runner.reset(token)
        _stop(view, ticker, engine.report)
    return Run(outputs=outputs, report=engine.report, run_id=engine.run_id, cache_url=url)


def _check_not_nested() -> None:
    if current_runner.get() is not None:
        raise RunContextError(
            "fl.run(...) was called inside a run; call the task directly instead "
            "(`await t(...)`, or `t(...)` from a sync task)."
        )


def _start(view: Progress | None) -> asyncio.Task[None] | None:
    import asyncio

    if view is None:
        return None
    view.start()
    return asyncio.ensure_future(_tick(view))


async def _tick(view: Progress) -> None:
    import asyncio

    while True:
        await asyncio.sleep(1.0)
        view.tick()


def _stop(view: Progress | None, ticker: asyncio.Task[None] | None, report: Report) -> None:
    if ticker is not None:
        ticker.cancel()
    if view is not None:
        view.stop(report)


def _failure(engine: Engine, root: str, exc: BaseException) -> TaskFailedError:
    # The same exception passes up through every awaiting parent; its origin is the
    # call that started last among them (a child starts after its parent).
    row = next((row for row in reversed(engine.report) if row.exception is exc), None)
    origin = root if row is None else row.task
    where = "" if origin == root else f" (in a run of {root!r})"
    if row is not None and row.node is not None:
        where = f" (node {row.node}){where}"
    return TaskFailedError(
        f"task {origin!r} failed{where}: {type(exc).__name__}: {exc}",
        task=origin,
        root=root,
        run_id=engine.run_id,
        report=engine.report,
    )


run = _RunFunction()
"""Run a task as the root of a workflow: `fl.run(task, *args, **kwargs) -> Run`.

`await fl.run.aio(...)` is the same from inside an event loop. See
`_RunFunction.__call__` for the options."""
