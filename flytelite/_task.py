"""Task environments and tasks: the decorator and the task model.

A `Task` wraps a plain function with its options and its identity,
`"{environment}.{function}"`. Outside a run it is the plain function; inside a
run (see `_context`) every call is handed to the runner.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import typing
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar, overload

from typing_extensions import ParamSpec

from ._cache import Cache
from ._context import CallContext, current_runner
from ._errors import InputError, TaskDefinitionError
from ._hashing import HashMethod, function_fingerprint

__all__ = ["AsyncTask", "SyncTask", "Task", "TaskEnvironment", "get_task", "registered_tasks"]

P = ParamSpec("P")
R = TypeVar("R")

_REGISTRY: dict[str, Task[..., Any]] = {}

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def get_task(name: str) -> Task[..., Any] | None:
    """The task defined last under the identity `name` (`"env.function"`)."""
    return _REGISTRY.get(name)


def registered_tasks() -> dict[str, Task[..., Any]]:
    """Every task defined in this process, by identity."""
    return dict(_REGISTRY)


class Task(Generic[P, R]):
    """A function registered with a `TaskEnvironment`.

    Attributes:
        name: The identity, `"{environment}.{function}"`; it names the task in
            reports and keys its cache entries.
        func: The plain function.
        cache: The cache policy, or `None` when the task is not cached.
    """

    is_async: bool = False
    custom_execution: bool = False
    """Task kinds that execute calls their own way set this and implement `execute`."""
    has_spec: bool = False
    """Dynamic workflows: their report rows carry `spec_cache`."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        env: str,
        cache: Cache | None,
        retries: int,
        timeout: float | None,
    ) -> None:
        functools.update_wrapper(typing.cast(Any, self), func)
        self.func = func
        self.env = env
        self.name = f"{env}.{func.__name__}"
        self.cache = cache
        self.retries = retries
        self.timeout = timeout
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        self._arity = len(params) if all(p.kind in _POSITIONAL for p in params) else -1
        self._names = tuple(p.name for p in params)
        self.signature_token = tuple(f"{p.kind.name}:{p.name}" for p in params)
        self._version: str | None = None
        self._hash_methods: dict[str, HashMethod] | None = None
        if cache is not None:
            unknown = [n for n in cache.ignored_inputs if n not in self.signature.parameters]
            if unknown:
                raise TaskDefinitionError(
                    f"task {self.name!r}: Cache(ignored_inputs=...) names "
                    f"{', '.join(map(repr, unknown))}, which is not a parameter of "
                    f"{self.signature_text}."
                )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{self.signature}>"

    @property
    def signature_text(self) -> str:
        """The signature as written, e.g. `work(a: int, b: int = 2) -> int`."""
        sig = self.signature
        params = [
            p.replace(annotation=_Written(p.annotation)) if isinstance(p.annotation, str) else p
            for p in sig.parameters.values()
        ]
        ret = sig.return_annotation
        sig = sig.replace(
            parameters=params,
            return_annotation=_Written(ret) if isinstance(ret, str) else ret,
        )
        return f"{self.func.__name__}{sig}"

    @property
    def cache_version(self) -> str:
        """The explicit cache version, else one derived from the function's source."""
        if self._version is None:
            explicit = self.cache.version if self.cache is not None else None
            self._version = explicit or function_fingerprint(self.func)
        return self._version

    @property
    def hash_methods(self) -> Mapping[str, HashMethod]:
        """`HashMethod`s given in `Annotated[...]` parameter annotations."""
        if self._hash_methods is None:
            self._hash_methods = _hash_methods(self.func, self.signature)
        return self._hash_methods

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The inputs of a call by parameter name, defaults applied.

        Raises:
            InputError: the arguments do not fit the signature.
        """
        if not kwargs and len(args) == self._arity:
            return dict(zip(self._names, args))
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(
                f"task {self.name!r} cannot be called with these arguments: {exc}. "
                f"Its signature is {self.signature_text}.",
                task=self.name,
            ) from None
        bound.apply_defaults()
        return bound.arguments

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """An awaitable of the call."""
        raise NotImplementedError

    async def execute(self, ctx: CallContext, inputs: dict[str, Any]) -> Any:
        """Execute one call inside a run, for task kinds with `custom_execution`."""
        raise NotImplementedError

    def call_args(self, inputs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for the function from bound inputs."""
        if self._arity >= 0:
            return tuple(inputs.values()), {}
        bound = inspect.BoundArguments(self.signature, inputs)
        return bound.args, bound.kwargs


class AsyncTask(Task[P, R]):
    """A task whose function is `async def`; calling it gives an awaitable."""

    is_async = True

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        runner = current_runner.get()
        if runner is None:
            result: Coroutine[Any, Any, R] = self.func(*args, **kwargs)
            return result
        return runner.call(self, args, kwargs)  # type: ignore[no-any-return]

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """The same as calling the task: an awaitable."""
        return self(*args, **kwargs)


class SyncTask(Task[P, R]):
    """A task whose function is a plain `def`; its body runs in a worker thread in a run."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        runner = current_runner.get()
        if runner is None:
            result: R = self.func(*args, **kwargs)
            return result
        return runner.call(self, args, kwargs)  # type: ignore[no-any-return]

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """An awaitable of the call, for async code (`await square.aio(3)`)."""
        runner = current_runner.get()
        if runner is None:
            return _plain_async(self.func, args, kwargs)
        return runner.call_async(self, args, kwargs)


class _Written:
    """An annotation kept as a string, shown without quotes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


async def _plain_async(func: Callable[..., R], args: Any, kwargs: Any) -> R:
    return func(*args, **kwargs)


def _hash_methods(func: Callable[..., Any], signature: inspect.Signature) -> dict[str, HashMethod]:
    """`HashMethod` markers from annotations; what cannot be resolved is ignored."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # a forward reference to a local class, say: resolve one by one
        hints = {}
        names = _Lenient(getattr(func, "__globals__", {}))
        for name, param in signature.parameters.items():
            annotation = param.annotation
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, names.globals, names)  # noqa: S307
                except Exception:  # noqa: S112 (unresolvable: the runtime value decides)
                    continue
            hints[name] = annotation
    methods = {}
    for name, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, HashMethod) and meta.fn is not typing.cast(object, Any):
                methods[name] = meta
    return methods


class _Lenient(dict[str, Any]):
    """Names for evaluating a string annotation: unknown ones (local classes) become `Any`,
    so that `Annotated[LocalClass, fl.HashMethod(fn)]` still yields its `HashMethod`."""

    def __init__(self, module_globals: dict[str, Any]) -> None:
        super().__init__()
        self.globals = module_globals

    def __missing__(self, name: str) -> Any:
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name, Any)


def _cache_policy(task: str, cache: bool | Cache, cache_version: str | None) -> Cache | None:
    if isinstance(cache, bool):
        policy = Cache() if cache else None
    elif isinstance(cache, Cache):
        policy = cache
    else:
        raise TaskDefinitionError(
            f"task {task!r}: cache={cache!r} is not a cache setting; "
            f"use cache=True, cache=False or cache=fl.Cache(...)."
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
    return Cache(
        behavior=policy.behavior,
        version=cache_version,
        ignored_inputs=policy.ignored_inputs,
        max_age=policy.max_age,
        serialize=policy.serialize,
    )


class TaskEnvironment:
    """A named group of tasks; the name is the first half of each task's identity.

    Args:
        name: The environment's name, e.g. `"data_pipeline"`.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise TaskDefinitionError(
                f"TaskEnvironment(name={name!r}): the name must be a non-empty str."
            )
        self.name = name

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
        cache: bool | Cache = ...,
        cache_version: str | None = ...,
        retries: int = ...,
        timeout: float | None = ...,
    ) -> _TaskDecorator: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        cache: bool | Cache = False,
        cache_version: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
    ) -> Any:
        """Make a function a task of this environment, bare or with options.

        Args:
            cache: `True` for `fl.Cache("auto")`, or a `fl.Cache(...)`.
            cache_version: The cache version (invalidate by changing it). Not
                given: derived from the function's source.
            retries: How many times to re-run a body that raised.
                `fl.NonRetryableError` is never retried.
            timeout: Seconds a call may take per attempt.
        """
        decorator = _TaskDecorator(
            self.name, cache=cache, cache_version=cache_version, retries=retries, timeout=timeout
        )
        return decorator if func is None else decorator(func)

    @overload
    def dynamic(self, func: Callable[P, R], /) -> SyncTask[P, R]: ...

    @overload
    def dynamic(
        self,
        /,
        *,
        cache: bool | Cache = ...,
        cache_version: str | None = ...,
        retries: int = ...,
        timeout: float | None = ...,
    ) -> _DynamicDecorator: ...

    def dynamic(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        cache: bool | Cache = False,
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
        decorator = _DynamicDecorator(
            _TaskDecorator(
                self.name,
                cache=cache,
                cache_version=cache_version,
                retries=retries,
                timeout=timeout,
            )
        )
        return decorator if func is None else decorator(func)


class _DynamicDecorator:
    def __init__(self, options: _TaskDecorator) -> None:
        self.options = options

    def __call__(self, func: Callable[P, R], /) -> SyncTask[P, R]:
        # Dynamic workflows plug into the task model from their own module.
        from ._dynamic import make_dynamic

        _, retries, timeout, policy = self.options.validate(func)
        task = make_dynamic(self.options.env, func, policy, retries, timeout)
        _REGISTRY[task.name] = task
        return typing.cast("SyncTask[P, R]", task)


class _TaskDecorator:
    def __init__(
        self,
        env: str,
        *,
        cache: bool | Cache,
        cache_version: str | None,
        retries: int,
        timeout: float | None,
    ) -> None:
        self.env = env
        self.cache = cache
        self.cache_version = cache_version
        self.retries = retries
        self.timeout = timeout

    def validate(self, func: Callable[..., Any]) -> tuple[str, int, float | None, Cache | None]:
        """Check the decorated function and the options; return name, retries, timeout, policy."""
        if isinstance(func, Task):
            raise TaskDefinitionError(f"{func.name!r} is already a task; decorate it once.")
        if not callable(func) or not hasattr(func, "__name__"):
            raise TaskDefinitionError(
                f"@env.task decorates a function, not {type(func).__name__} {func!r}."
            )
        name = f"{self.env}.{func.__name__}"
        retries, timeout = self.retries, self.timeout
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TaskDefinitionError(f"task {name!r}: retries={retries!r} must be an int >= 0.")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise TaskDefinitionError(
                f"task {name!r}: timeout={timeout!r} must be a number of seconds > 0."
            )
        policy = _cache_policy(name, self.cache, self.cache_version)
        return name, retries, float(timeout) if timeout is not None else None, policy

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> SyncTask[P, R]: ...

    def __call__(self, func: Callable[..., Any], /) -> Any:
        _, retries, timeout, policy = self.validate(func)
        cls: type[Task[..., Any]] = AsyncTask if inspect.iscoroutinefunction(func) else SyncTask
        task = cls(func, env=self.env, cache=policy, retries=retries, timeout=timeout)
        _REGISTRY[task.name] = task  # a re-definition (a notebook cell run again) replaces
        return task
