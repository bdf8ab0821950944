"""Task environments: `@env.task` and `@env.dynamic`, with their options checked up front.

The decorator validates every option before the function becomes a task, so a
mistake is reported where the task is declared, naming it. Task kinds that live
in their own modules (dynamic workflows, connector tasks) are built through
small factories imported on first use.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from ._cache import Cache
from ._errors import TaskDefinitionError
from ._task import AsyncTask, SyncTask, Task, register

__all__ = ["EXECUTOR_NAMES", "TaskEnvironment", "check_executor"]

P = ParamSpec("P")
R = TypeVar("R")

EXECUTOR_NAMES = ("thread", "process")


def check_executor(where: str, executor: Any) -> Any:
    """`executor` if it is `None`, a known name, or an executor object; else a clear error."""
    if executor is None or executor in EXECUTOR_NAMES:
        return executor
    if isinstance(executor, str) or not callable(getattr(executor, "run", None)):
        raise TaskDefinitionError(
            f'{where}: executor={executor!r} is not an executor; use "thread", "process", '
            f"or an executor object such as fl.DaskExecutor()."
        )
    return executor


def _cache_policy(task: str, cache: bool | str | Cache, cache_version: str | None) -> Cache | None:
    if isinstance(cache, bool):
        policy = Cache() if cache else None
    elif isinstance(cache, str) and cache in ("auto", "override", "disable"):
        policy = Cache(behavior=cache)  # type: ignore[arg-type]
    elif isinstance(cache, Cache):
        policy = cache
    else:
        raise TaskDefinitionError(
            f"task {task!r}: cache={cache!r} is not a cache setting; "
            f'use cache=True, cache=False, a behavior ("auto", "override", "disable") '
            f"or cache=fl.Cache(...)."
        )
    if cache_version is None:
        return policy if policy is None or policy.enabled else None
    if not isinstance(cache_version, str):
        raise TaskDefinitionError(
            f'task {task!r}: cache_version={cache_version!r} must be a str, e.g. cache_version="1".'
        )
    if policy is None:
        raise TaskDefinitionError(
            f"task {task!r}: cache_version={cache_version!r} has no effect without caching; "
            f"add cache=True."
        )
    if policy.version is not None and policy.version != cache_version:
        raise TaskDefinitionError(
            f"task {task!r}: cache_version={cache_version!r} disagrees with "
            f"Cache(version={policy.version!r}); give the version once."
        )
    if not policy.enabled:
        return None
    return dataclasses.replace(policy, version=cache_version)


@dataclass(frozen=True)
class _Options:
    """The keyword options of `env.task` / `env.dynamic`, as given."""

    env: TaskEnvironment
    cache: bool | str | Cache = False
    cache_version: str | None = None
    retries: int = 0
    timeout: float | None = None
    executor: Any = None
    connector: Any = None

    def check(self, func: Callable[..., Any]) -> tuple[str, Cache | None, float | None]:
        """Check the function and the options; return the name, cache policy and timeout."""
        if isinstance(func, Task):
            raise TaskDefinitionError(f"{func.name!r} is already a task; decorate it once.")
        if not callable(func) or not hasattr(func, "__name__"):
            raise TaskDefinitionError(
                f"@env.task decorates a function, not {type(func).__name__} {func!r}."
            )
        name = f"{self.env.name}.{func.__name__}"
        retries, timeout = self.retries, self.timeout
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TaskDefinitionError(f"task {name!r}: retries={retries!r} must be an int >= 0.")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise TaskDefinitionError(
                f"task {name!r}: timeout={timeout!r} must be a number of seconds > 0."
            )
        check_executor(f"task {name!r}", self.executor)
        policy = _cache_policy(name, self.cache, self.cache_version)
        return name, policy, float(timeout) if timeout is not None else None

    def make_task(self, func: Callable[..., Any]) -> Task[..., Any]:
        _, policy, timeout = self.check(func)
        if self.connector is not None:
            # Connector tasks plug into the task model from their own package.
            from .connectors._task import make_connector_task

            task: Task[..., Any] = make_connector_task(
                self.env.name, func, self.connector, policy, self.retries, timeout
            )
        else:
            cls: type[Task[..., Any]] = AsyncTask if inspect.iscoroutinefunction(func) else SyncTask
            # Async bodies stay on the event loop unless their task asks for an executor;
            # the environment's default executor applies to sync bodies.
            executor = self.executor
            if executor is None and cls is SyncTask:
                executor = self.env.executor
            task = cls(
                func,
                env=self.env.name,
                cache=policy,
                retries=self.retries,
                timeout=timeout,
                executor=executor,
            )
        register(task)
        return task

    def make_dynamic(self, func: Callable[..., Any]) -> Task[..., Any]:
        # Dynamic workflows plug into the task model from their own module.
        from .dynamic import make_dynamic

        _, policy, timeout = self.check(func)
        task = make_dynamic(self.env.name, func, policy, self.retries, timeout)
        register(task)
        return task


class _TaskDecorator:
    def __init__(self, options: _Options) -> None:
        self.options = options

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> SyncTask[P, R]: ...

    def __call__(self, func: Callable[..., Any], /) -> Any:
        return self.options.make_task(func)


class _DynamicDecorator:
    def __init__(self, options: _Options) -> None:
        self.options = options

    def __call__(self, func: Callable[P, R], /) -> SyncTask[P, R]:
        return typing.cast("SyncTask[P, R]", self.options.make_dynamic(func))


class TaskEnvironment:
    """A named group of tasks; the name is the first half of each task's identity.

    Args:
        name: The environment's name, e.g. `"data_pipeline"`.
        executor: Where the sync bodies of its tasks run by default:
            `"thread"`, `"process"`, or an executor object (`fl.DaskExecutor()`).
    """

    def __init__(self, name: str, *, executor: Any = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise TaskDefinitionError(
                f"TaskEnvironment(name={name!r}): the name must be a non-empty str."
            )
        self.name = name
        self.executor = check_executor(f"TaskEnvironment({name!r})", executor)

    def __repr__(self) -> str:
        return f"TaskEnvironment({self.name!r})"

    @overload
    def task(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...

    @overload
    def task(self, func: Callable[P, R], /) -> SyncTask[P, R]: ...

    @overload
    def task(
        self,
        /,
        *,
        cache: bool | str | Cache = ...,
        cache_version: str | None = ...,
        retries: int = ...,
        timeout: float | None = ...,
        executor: Any = ...,
        connector: Any = ...,
    ) -> _TaskDecorator: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        cache: bool | str | Cache = False,
        cache_version: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
        executor: Any = None,
        connector: Any = None,
    ) -> Any:
        """Make a function a task of this environment, bare or with options.

        Args:
            cache: `True` for `fl.Cache("auto")`, a behavior name (`"auto"`,
                `"override"`, `"disable"`), or a `fl.Cache(...)`.
            cache_version: The cache version (invalidate by changing it). Not
                given: the fingerprint of the code the task reaches.
            retries: How many times to re-run a body that raised.
                `fl.NonRetryableError` is never retried.
            timeout: Seconds a call may take per attempt.
            executor: Where the body runs: `"thread"`, `"process"`, or an
                executor object. Default: the environment's, else the run's.
            connector: An `AsyncConnector` that runs the call as a job on a web
                service; the decorated function is then only a signature.
        """
        decorator = _TaskDecorator(
            _Options(self, cache, cache_version, retries, timeout, executor, connector)
        )
        return decorator if func is None else decorator(func)

    @overload
    def dynamic(self, func: Callable[P, R], /) -> SyncTask[P, R]: ...

    @overload
    def dynamic(
        self,
        /,
        *,
        cache: bool | str | Cache = ...,
        cache_version: str | None = ...,
        retries: int = ...,
        timeout: float | None = ...,
    ) -> _DynamicDecorator: ...

    def dynamic(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        cache: bool | str | Cache = False,
        cache_version: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
    ) -> Any:
        """Make a function a dynamic workflow of this environment, bare or with options.

        The body is a plain `def` that calls tasks; inside it each call returns a
        promise that other calls can take. It compiles into a `fl.WorkflowSpec`
        whose nodes run in parallel as their inputs become ready. With caching,
        the spec itself is cached, so re-runs skip compiling and finished nodes.
        The options are those of `task`.
        """
        decorator = _DynamicDecorator(_Options(self, cache, cache_version, retries, timeout))
        return decorator if func is None else decorator(func)
