"""Flyte 2 tasks as flytelite tasks: `TaskEnvironment`, `@env.task`, `task.override`.

A surface task *is* a `flytelite.Task` (`AsyncTask` or `SyncTask`), so
`flytelite.run` runs and caches it like any other. What the surface adds sits
at the call boundary, where a parent calls a child:

- the call becomes an action of the run (`flyte.ctx()`, `flyte.group`,
  `@flyte.trace` and reports hang off it);
- a failed child surfaces in the parent as Flyte 2 has it: a
  `flyte.errors.RuntimeUserError` whose `.code` names the child's exception
  type, chained to that exception (`__cause__`). The engine and its report
  still see the child's own exception, and the error is converted once, at the
  first boundary it crosses, so it reaches the root unchanged;
- a `Timeout(deadline=...)` bounds the whole call, retries included.

Everything else (cache lookups, retries, per-attempt timeouts, threads) is the
engine's, unchanged.
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
import weakref
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, overload

import anyio

from flytelite import (
    AsyncTask,
    CatalogNotStartedError,
    HashMethod,
    InputError,
    PromiseUsageError,
    RunContextError,
    SyncTask,
    Task,
    TaskDefinitionError,
)
from flytelite import Cache as LiteCache
from flytelite import TaskTimeoutError as LiteTimeoutError

from ...lowlevel import current_runner, register
from . import errors
from ._cache import CacheRequest, to_lite_cache
from ._convert import Convert, boundary, frame_key, frame_parameters
from ._notice import UnsupportedFeatureError, ignored
from ._options import Image, Resources, RetryStrategy, ReusePolicy, Timeout, seconds
from ._state import (
    current_action,
    current_group,
    enter_action,
    in_trace,
    leave_action,
    run_settings,
    state_of,
)

__all__ = [
    "AsyncFunctionTaskTemplate",
    "Environment",
    "SyncFunctionTaskTemplate",
    "TaskEnvironment",
    "TaskTemplate",
]

P = ParamSpec("P")
R = TypeVar("R")

MAX_INLINE_IO_BYTES = 10 * 1024 * 1024

# Errors that describe a misuse of the API rather than a failed task: they pass
# through the boundary unconverted, as they would in plain flytelite.
_PASS_THROUGH = (
    InputError,
    RunContextError,
    TaskDefinitionError,
    PromiseUsageError,
    CatalogNotStartedError,
    UnsupportedFeatureError,
)
_CROSSED = "_flytelite_crossed"
_FRAME_KEY = HashMethod(frame_key)
_NAME = re.compile(r"^[a-z0-9]+([_-][a-z0-9]+)*$")


@dataclass(frozen=True)
class TaskOptions:
    """A surface task's Flyte 2 options, as given (deployment options are recorded only)."""

    env: str
    short_name: str
    cache: Any = "disable"
    retries: int | RetryStrategy = 0
    timeout: Any = 0
    report: bool = False
    image: Any = "auto"
    resources: Resources | None = None
    env_vars: dict[str, str] | None = None
    secrets: Any = None
    reusable: ReusePolicy | None = None
    service_account: str | None = None
    pod_template: Any = None
    interruptible: bool = False
    queue: str | None = None
    docs: Any = None
    links: tuple[Any, ...] = ()
    triggers: tuple[Any, ...] = ()
    max_inline_io_bytes: int = MAX_INLINE_IO_BYTES
    entrypoint: bool = False
    produces_artifacts: bool = False
    plugin_config: Any = None
    parent_env: Any = None


def _retry_count(retries: Any, where: str) -> int:
    if isinstance(retries, RetryStrategy):
        return retries.count
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TaskDefinitionError(
            f"{where}: retries={retries!r} must be an int >= 0 or a flyte.RetryStrategy."
        )
    return retries


def _time_bounds(timeout: Any, where: str) -> tuple[float | None, float | None]:
    """`(max_runtime, deadline)` in seconds from Flyte's `timeout=` (int, timedelta, Timeout)."""
    if isinstance(timeout, Timeout):
        if seconds(timeout.max_queued_time, "Timeout.max_queued_time"):
            ignored(where, "timeout=Timeout(max_queued_time=...)", "bounds queueing on a cluster")
        return (
            seconds(timeout.max_runtime, "Timeout.max_runtime"),
            seconds(timeout.deadline, "Timeout.deadline"),
        )
    if isinstance(timeout, (int, float, timedelta)) and not isinstance(timeout, bool):
        return seconds(timeout, f"{where}: timeout"), None
    raise TaskDefinitionError(
        f"{where}: timeout={timeout!r} must be seconds (an int), a datetime.timedelta "
        f"or a flyte.Timeout."
    )


def _note_options(where: str, options: TaskOptions) -> None:
    """Say once per option which deployment options have no local effect."""
    if options.reusable is not None:
        ignored(where, "reusable", "reuses containers on a cluster; every call runs here")
    if options.pod_template is not None:
        ignored(where, "pod_template")
    if options.queue is not None:
        ignored(where, "queue")
    if options.service_account is not None:
        ignored(where, "service_account")
    if options.triggers:
        ignored(where, "triggers", "fire on a cluster, never locally")
    if options.plugin_config is not None:
        ignored(where, "plugin_config", "is not applied: the body runs as plain Python")


class TaskTemplate(Task[P, R]):
    """What surface tasks add to a `flytelite.Task`: Flyte 2's options, `override`, and
    Flyte 2's view of each call (actions, errors, deadlines)."""

    flyte_options: TaskOptions
    deadline: float | None
    _lite_cache: LiteCache | None
    _overwrite_cache: LiteCache | None
    _bound: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    _call_group: str | None = None
    _boundary: tuple[dict[str, Convert], Convert | None] | None = None
    _frame_methods: Mapping[str, HashMethod] | None = None

    @classmethod
    def _create(cls, func: Callable[..., Any], options: TaskOptions) -> TaskTemplate[P, R]:
        name = f"{options.env}.{getattr(func, '__name__', '?')}"
        where = f"task {name!r}"
        retries = _retry_count(options.retries, where)
        max_runtime, deadline = _time_bounds(options.timeout, where)
        try:
            policy = to_lite_cache(options.cache, func, options.image, where)
        except (TypeError, ValueError) as exc:
            raise TaskDefinitionError(f"{where}: {exc}") from None
        task = cls(func, env=options.env, cache=policy, retries=retries, timeout=max_runtime)
        backoff = getattr(options.retries, "backoff", None)
        if backoff is not None:
            task.retry_delay = backoff.seconds  # the waits are part of what the program asked for
        task.flyte_options = options
        task.deadline = deadline
        return task

    # -- the cache policy, as the run asks for it --------------------------------------

    @property
    def cache(self) -> LiteCache | None:
        """The cache policy; `with_runcontext(overwrite_cache=True)` turns it into
        `"override"` for that run, and `disable_run_cache=True` turns it off."""
        policy = self._lite_cache
        settings = run_settings.get()
        if policy is None or settings is None or settings.cache_mode is None:
            return policy
        return None if settings.cache_mode == "disable" else self._overwrite_cache

    @cache.setter
    def cache(self, policy: LiteCache | None) -> None:
        self._lite_cache = policy
        self._overwrite_cache = None if policy is None else replace(policy, behavior="override")

    @property
    def cache_version(self) -> str:
        """The cache version: the task's own policy decides, whatever the run asks for."""
        explicit = self._lite_cache.version if self._lite_cache is not None else None
        return explicit or self.fingerprint.version

    # -- Flyte 2's attributes ----------------------------------------------------------

    @property
    def short_name(self) -> str:
        """The name shown for the task (the function's name unless given)."""
        return self.flyte_options.short_name

    @property
    def image(self) -> Any:
        """The image it would run in on a cluster (recorded only)."""
        return self.flyte_options.image

    @property
    def resources(self) -> Resources | None:
        """The resources it would ask for on a cluster (recorded only)."""
        return self.flyte_options.resources

    @property
    def env_vars(self) -> dict[str, str] | None:
        """Environment variables it would get on a cluster (recorded only)."""
        return self.flyte_options.env_vars

    @property
    def secrets(self) -> Any:
        """Secrets it would get on a cluster (recorded only)."""
        return self.flyte_options.secrets

    @property
    def reusable(self) -> ReusePolicy | None:
        """Its container reuse policy (recorded only)."""
        return self.flyte_options.reusable

    @property
    def parent_env(self) -> Any:
        """A weak reference to the environment that defined it."""
        return self.flyte_options.parent_env

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Call the plain function, even inside a run."""
        return self.func(*args, **kwargs)

    def override(self, **changes: Any) -> TaskTemplate[P, R]:
        """A copy of this task with some options changed, for one call site:
        `await t.override(cache="disable", retries=3)(x)`.

        Accepts the options of `@env.task` and `resources`, `env_vars`, `secrets`,
        `reusable` (or `"off"`). `name`, `image`, `docs` and `interface` cannot change.
        """
        for fixed in ("name", "image", "docs", "interface"):
            if fixed in changes:
                raise ValueError(f"{fixed.capitalize()} cannot be overridden")
        if changes.get("reusable") == "off":
            changes["reusable"] = None
        known = {f for f in TaskOptions.__dataclass_fields__ if f not in ("env", "parent_env")}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"{self.name}.override() got unexpected options: {', '.join(unknown)}")
        # As in Flyte 2, a falsy value keeps the task's own setting.
        given = {k: v for k, v in changes.items() if v or k in ("reusable", "interruptible")}
        options = replace(self.flyte_options, **given)
        _note_options(f"{self.name}.override", options)
        task = type(self)._create(self.func, options)
        return task

    def _bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], group: str | None
    ) -> TaskTemplate[P, R]:
        """A copy whose calls prepend `args` and add `kwargs` (a partial), made in `group`."""
        bound = copy.copy(self)
        bound._bound = (args, kwargs)
        bound._call_group = group
        return bound

    def _full(self, args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self._bound is None:
            return tuple(args), dict(kwargs)
        bound_args, bound_kwargs = self._bound
        return (*bound_args, *args), {**bound_kwargs, **kwargs}

    @property
    def hash_methods(self) -> Mapping[str, HashMethod]:
        """The task's `HashMethod`s; a frame parameter (pandas, polars, pyarrow) without one
        is keyed by the hash its producer's `HashFunction` gave it, else by its content."""
        if self._frame_methods is None:
            methods = dict(Task.hash_methods.fget(self))  # type: ignore[attr-defined]
            for name in frame_parameters(self.func):
                methods.setdefault(name, _FRAME_KEY)
            self._frame_methods = methods
        return self._frame_methods

    # -- values at the boundary, as Flyte 2's type engine gives them (see _convert) -----

    def converters(self) -> tuple[dict[str, Convert], Convert | None]:
        """The converters of the inputs (by name) and of the output."""
        if self._boundary is None:
            self._boundary = boundary(self.func)
        return self._boundary

    def convert_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """`inputs` (bound by name) as the task body receives them under Flyte 2."""
        for name, convert in self.converters()[0].items():
            if name in inputs:
                inputs[name] = convert(inputs[name])
        return inputs

    def convert_output(self, value: Any) -> Any:
        """The task's output as its caller receives it under Flyte 2."""
        convert = self.converters()[1]
        return value if convert is None else convert(value)

    def _converted(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not self.converters()[0]:
            return args, kwargs
        return self.call_args(self.convert_inputs(self.bind(args, kwargs)))

    # -- one call ----------------------------------------------------------------------

    async def _invoke(self, runner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if in_trace():
            raise errors.TraceDoesNotAllowNestedTasksError(
                f"Task {self.name} is invoked from inside a `flyte.trace`; call its function "
                f"directly with `{self.func.__name__}.forward(...)`."
            )
        state = state_of(runner)
        action = state.new_action(
            self.name,
            parent=current_action(),
            group=self._call_group or current_group(),
            report_html=self.flyte_options.report,
        )
        token = enter_action(action)
        status = "failed"
        failure: BaseException | None = None
        try:
            args, kwargs = self._converted(args, kwargs)
            action.expect_row()  # the row of the call made next, in this context
            call = runner.call_async(self, args, kwargs)
            if self.deadline is None:
                result = await call
            else:
                with anyio.move_on_after(self.deadline) as scope:
                    result = await call
                if scope.cancelled_caught:
                    raise self._deadline_exceeded()
            status = "succeeded"
            return self.convert_output(result)
        except Exception as exc:
            failure = exc
            converted = crossing(exc)
            if converted is exc:
                raise
            raise converted from exc
        except BaseException as exc:
            failure, status = exc, "cancelled"
            raise
        finally:
            leave_action(token)
            action.finish(status, failure)

    def _deadline_exceeded(self) -> errors.DeadlineExceededError:
        error = errors.DeadlineExceededError(
            f"task {self.name!r} did not finish within its deadline of {self.deadline:g} s "
            f"(retries included) and was cancelled."
        )
        setattr(error, _CROSSED, True)
        return error


def crossing(exc: Exception) -> Exception:
    """What a parent sees when a child call failed with `exc` (see the module docstring)."""
    if getattr(exc, _CROSSED, False) or isinstance(exc, _PASS_THROUGH):
        return exc
    if isinstance(exc, LiteTimeoutError):
        error: Exception = errors.MaxRuntimeExceededError(str(exc))
        error.__cause__ = exc
    else:
        error = errors.from_exception(exc)
    setattr(error, _CROSSED, True)
    return error


class AsyncFunctionTaskTemplate(TaskTemplate[P, R], AsyncTask[P, R]):
    """A surface task whose function is `async def`: calling it gives an awaitable."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        runner = current_runner.get()
        full_args, full_kwargs = self._full(args, kwargs)
        if runner is None:
            result: Coroutine[Any, Any, R] = self.func(*full_args, **full_kwargs)
            return result
        return self._invoke(runner, full_args, full_kwargs)

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """The same as calling the task: an awaitable."""
        return self(*args, **kwargs)


class SyncFunctionTaskTemplate(TaskTemplate[P, R], SyncTask[P, R]):
    """A surface task whose function is a plain `def`; inside a run its body runs in a
    worker thread, `t(...)` blocks (from sync code) and `await t.aio(...)` does not."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        runner = current_runner.get()
        full_args, full_kwargs = self._full(args, kwargs)
        if runner is None:
            return typing.cast(R, self.func(*full_args, **full_kwargs))
        if runner.in_loop_thread():
            raise errors.SyncTaskCallInAsyncContextError(
                f"Sync task '{self.name}' was called in a blocking way from async code, which "
                f"would block the event loop. Use `await {self.func.__name__}.aio(...)` instead."
            )
        return typing.cast(R, runner.block_on(self._invoke(runner, full_args, full_kwargs)))

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """An awaitable of the call, for async code."""
        runner = current_runner.get()
        full_args, full_kwargs = self._full(args, kwargs)
        if runner is None:
            return _plain_async(self.func, full_args, full_kwargs)
        return self._invoke(runner, full_args, full_kwargs)


async def _plain_async(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    return func(*args, **kwargs)


class _TaskDecorator:
    def __init__(self, env: TaskEnvironment, options: dict[str, Any]) -> None:
        self.env = env
        self.options = options

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncFunctionTaskTemplate[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> SyncFunctionTaskTemplate[P, R]: ...

    def __call__(self, func: Callable[..., Any], /) -> Any:
        return self.env._make_task(func, self.options)


@dataclass
class Environment:
    """What task environments share: a name and deployment settings (recorded only)."""

    name: str
    depends_on: list[Any] = field(default_factory=list)
    pod_template: Any = None
    description: str | None = None
    secrets: Any = None
    env_vars: dict[str, str] | None = None
    resources: Resources | None = None
    interruptible: bool = False
    image: Any = "auto"
    include: tuple[str, ...] | list[str] = ()
    service_account: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"Environment name '{self.name}' must be in snake_case or kebab-case format."
            )
        if self.image is not None and not isinstance(self.image, (str, Image)):
            raise TypeError(f"Expected image to be of type str or Image, got {type(self.image)}")
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise TypeError(
                f"Expected resources to be of type Resources, got {type(self.resources)}"
            )
        if self.env_vars is not None and not isinstance(self.env_vars, dict):
            raise TypeError(
                f"Expected env_vars to be of type Dict[str, str], got {type(self.env_vars)}"
            )
        for dep in self.depends_on:
            if not isinstance(dep, Environment):
                raise TypeError(
                    f"Expected depends_on to be of type List[Environment], got {type(dep)}"
                )
        self.include = tuple(self.include)
        where = type(self).__name__
        if self.image not in (None, "auto"):
            ignored(where, "image", "names the container a cluster runs; tasks run here")
        if self.resources is not None:
            ignored(where, "resources")
        if self.env_vars:
            ignored(where, "env_vars", "is not applied to this process")
        if self.secrets:
            ignored(where, "secrets", "are not injected locally: set the variables yourself")

    def add_dependency(self, *env: Environment) -> None:
        """Deploy `env` along with this one (recorded only)."""
        for e in env:
            if not isinstance(e, Environment):
                raise TypeError(f"Expected Environment, got {type(e)}")
            if e.name == self.name:
                raise ValueError("Cannot add self as a dependency")
        self.depends_on.extend(e for e in env if e not in self.depends_on)


@dataclass
class TaskEnvironment(Environment):
    """A named group of tasks and their defaults (Flyte 2's `flyte.TaskEnvironment`).

    The name is the first half of each task's identity (`"env.function"`), so a
    task keeps its flytelite cache whichever file or process defines it.
    `cache` is the default of its tasks; `image`, `resources`, `env_vars`,
    `secrets`, `reusable` and the other deployment settings are recorded and
    have no local effect (each says so once on stderr).
    """

    cache: CacheRequest = "disable"
    reusable: ReusePolicy | None = None
    plugin_config: Any = None
    queue: str | None = None
    _tasks: dict[str, TaskTemplate[..., Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise TypeError(
                f"Expected reusable to be of type ReusePolicy, got {type(self.reusable)}"
            )
        if self.cache and not isinstance(self.cache, str):
            from ._cache import Cache

            if not isinstance(self.cache, Cache):
                raise TypeError(
                    f"Expected cache to be of type str or Cache, got {type(self.cache)}"
                )

    @property
    def tasks(self) -> dict[str, TaskTemplate[..., Any]]:
        """The tasks defined in this environment, by identity."""
        return self._tasks

    def clone_with(
        self,
        name: str,
        image: Any = None,
        resources: Resources | None = None,
        env_vars: dict[str, str] | None = None,
        secrets: Any = None,
        depends_on: list[Environment] | None = None,
        description: str | None = None,
        interruptible: bool | None = None,
        include: tuple[str, ...] | None = None,
        service_account: str | None = None,
        **kwargs: Any,
    ) -> TaskEnvironment:
        """A new environment like this one, with another name and some settings changed.

        `kwargs` may set `cache`, `reusable`, `queue`, `pod_template` and `plugin_config`.
        """
        allowed = ("cache", "reusable", "queue", "pod_template", "plugin_config")
        unknown = [k for k in kwargs if k not in allowed]
        if unknown:
            raise TypeError(f"Unexpected keyword arguments: {unknown}")
        changes: dict[str, Any] = {"name": name, "depends_on": list(self.depends_on)}
        given = {
            "image": image,
            "resources": resources,
            "env_vars": env_vars,
            "secrets": secrets,
            "depends_on": depends_on,
            "description": description,
            "interruptible": interruptible,
            "include": include,
            "service_account": service_account,
        }
        changes.update({k: v for k, v in given.items() if v is not None})
        changes.update(kwargs)
        return replace(self, **changes)

    @overload
    def task(  # type: ignore[overload-overlap]
        self, _func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncFunctionTaskTemplate[P, R]: ...

    @overload
    def task(self, _func: Callable[P, R], /) -> SyncFunctionTaskTemplate[P, R]: ...

    @overload
    def task(
        self,
        /,
        *,
        short_name: str | None = ...,
        cache: CacheRequest | None = ...,
        retries: int | RetryStrategy = ...,
        timeout: Any = ...,
        docs: Any = ...,
        pod_template: Any = ...,
        report: bool = ...,
        interruptible: bool | None = ...,
        max_inline_io_bytes: int = ...,
        queue: str | None = ...,
        service_account: str | None = ...,
        triggers: Any = ...,
        links: Any = ...,
        task_resolver: Any = ...,
        entrypoint: bool = ...,
        produces_artifacts: bool = ...,
    ) -> _TaskDecorator: ...

    def task(
        self,
        _func: Callable[..., Any] | None = None,
        /,
        *,
        short_name: str | None = None,
        cache: CacheRequest | None = None,
        retries: int | RetryStrategy = 0,
        timeout: Any = 0,
        docs: Any = None,
        pod_template: Any = None,
        report: bool = False,
        interruptible: bool | None = None,
        max_inline_io_bytes: int = MAX_INLINE_IO_BYTES,
        queue: str | None = None,
        service_account: str | None = None,
        triggers: Any = (),
        links: Any = (),
        task_resolver: Any = None,
        entrypoint: bool = False,
        produces_artifacts: bool = False,
    ) -> Any:
        """Make a function a task of this environment, bare or with options.

        Args:
            short_name: A display name (the identity stays `"env.function"`).
            cache: `"auto"`, `"override"`, `"disable"` or a `flyte.Cache`;
                default: the environment's.
            retries: How many times to re-run a failing body (an int or a
                `flyte.RetryStrategy`); `flyte.errors.NonRecoverableError` is never retried.
            timeout: Seconds, a `timedelta`, or a `flyte.Timeout`: `max_runtime`
                bounds each attempt, `deadline` the whole call. 0: no bound.
            report: Write the task's `flyte.report` as HTML when the call ends.
            docs: Documentation (recorded).
            pod_template: Recorded only.
            interruptible: Recorded only.
            max_inline_io_bytes: Recorded only (inputs are not serialized locally).
            queue: Recorded only.
            service_account: Recorded only.
            triggers: Recorded only: triggers never fire locally.
            links: Recorded only.
            task_resolver: Recorded only.
            entrypoint: Recorded only.
            produces_artifacts: Recorded only.
        """
        options: dict[str, Any] = {
            "short_name": short_name,
            "cache": cache if cache is not None else self.cache,
            "retries": retries,
            "timeout": timeout,
            "docs": docs,
            "pod_template": pod_template or self.pod_template,
            "report": report,
            "interruptible": interruptible if interruptible is not None else self.interruptible,
            "max_inline_io_bytes": max_inline_io_bytes,
            "queue": queue or self.queue,
            "service_account": service_account or self.service_account,
            "triggers": tuple(triggers) if isinstance(triggers, (list, tuple)) else (triggers,),
            "links": tuple(links) if isinstance(links, (list, tuple)) else (links,),
            "entrypoint": entrypoint,
            "produces_artifacts": produces_artifacts,
        }
        decorator: _TaskDecorator = _TaskDecorator(self, options)
        return decorator if _func is None else decorator(_func)

    def _make_task(self, func: Callable[..., Any], given: dict[str, Any]) -> TaskTemplate[..., Any]:
        if isinstance(func, Task):
            raise TaskDefinitionError(f"{func.name!r} is already a task; decorate it once.")
        if not callable(func) or not hasattr(func, "__name__"):
            raise TaskDefinitionError(
                f"@env.task decorates a function, not {type(func).__name__} {func!r}."
            )
        is_async = inspect.iscoroutinefunction(func)
        if not is_async and self.reusable is not None and self.reusable.concurrency > 1:
            raise ValueError(
                "Reusable environments with concurrency greater than 1 are only supported for "
                "async tasks. Please use an async function or set concurrency to 1."
            )
        options = TaskOptions(
            env=self.name,
            image=self.image,
            resources=self.resources,
            env_vars=self.env_vars,
            secrets=self.secrets,
            reusable=self.reusable,
            plugin_config=self.plugin_config,
            parent_env=weakref.ref(self),
            **{**given, "short_name": given.get("short_name") or func.__name__},
        )
        _note_options(f"task {self.name}.{func.__name__}", options)
        cls: type[TaskTemplate[..., Any]] = (
            AsyncFunctionTaskTemplate if is_async else SyncFunctionTaskTemplate
        )
        task = cls._create(func, options)
        register(task)
        self._tasks[task.name] = task
        return task

    @classmethod
    def from_task(cls, name: str, *tasks: TaskTemplate[..., Any], **kwargs: Any) -> TaskEnvironment:
        """An environment holding `tasks` (defined elsewhere)."""
        env = cls(name, **kwargs)
        for t in tasks:
            env._tasks[t.name] = t
        return env
