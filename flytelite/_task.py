"""The task model.

A `Task` wraps a plain function with its options and its identity,
`"{environment}.{function}"`. Outside a run it is the plain function; inside a
run (see `_context`) every call is handed to the runner. Tasks are declared
through a `TaskEnvironment` (`_environment`).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect
import operator
import typing
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from ._cache import Cache
from ._context import CallContext, active_runs, current_runner, runs_started
from ._errors import InputError, TaskDefinitionError
from ._hashing import HashMethod

if TYPE_CHECKING:
    from ._fingerprint import Fingerprint

__all__ = ["AsyncTask", "SyncTask", "Task", "get_task", "register", "tasks_named"]

P = ParamSpec("P")
R = TypeVar("R")

_REGISTRY: dict[str, Task[..., Any]] = {}
_DEFINED: dict[str, list[weakref.ref[Task[..., Any]]]] = {}

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def get_task(name: str) -> Task[..., Any] | None:
    """The task defined last under the identity `name` (`"env.function"`)."""
    return _REGISTRY.get(name)


def tasks_named(name: str) -> list[Task[..., Any]]:
    """Every live task defined under the identity `name`, the newest first (a task made
    by a factory, or defined again in a notebook, shares its identity with others)."""
    refs = _DEFINED.get(name, [])
    alive = [t for t in (ref() for ref in reversed(refs)) if t is not None]
    if len(alive) != len(refs):
        _DEFINED[name] = [weakref.ref(t) for t in reversed(alive)]
    return alive


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
    retry_delay: Callable[[int], float] | None = None
    """Seconds to wait before retry number `n` (0 for the first); `None`: flytelite's own
    short exponential backoff."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        env: str,
        cache: Cache | None,
        retries: int,
        timeout: float | None,
        executor: Any = None,
    ) -> None:
        functools.update_wrapper(typing.cast(Any, self), func)
        self.func = func
        self.env = env
        self.name = f"{env}.{func.__name__}"
        self.cache = cache
        self.retries = retries
        self.timeout = timeout
        self.executor = executor
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        self._arity = len(params) if all(p.kind in _POSITIONAL for p in params) else -1
        self._names = tuple(p.name for p in params)
        self._pick: Callable[[dict[str, Any]], Any] = operator.itemgetter(*self._names or ("",))
        self.signature_token = tuple(f"{p.kind.name}:{p.name}" for p in params)
        self._fingerprint: Fingerprint | None = None
        self._checked_in = -1  # the run in which the fingerprint was last revalidated
        self._version = ""
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
        """The version that keys the task's entries.

        The explicit cache version when one is given (followed by the versions of
        `Cache(dependencies=...)`), else the task's code fingerprint: it follows the
        task's code and the code of your project that it reaches (see `fingerprint`).
        """
        if self._checked_in != runs_started[0]:
            self._revalidate()
        return self._version

    @property
    def fingerprint(self) -> Fingerprint:
        """The task's code fingerprint: its version and the parts it is made of.

        Computed on first use; at the start of each later run, the globals and
        closure cells it read are checked by identity, and it is computed again
        if any was rebound (a notebook cell run again, say).
        """
        if self._checked_in != runs_started[0]:
            self._revalidate()
        assert self._fingerprint is not None
        return self._fingerprint

    def _revalidate(self) -> None:
        fp = self._fingerprint
        cache = self.cache
        if fp is None or not fp.still_valid():
            from . import _fingerprint  # the first cached call loads it, not `import flytelite`

            dependencies = cache.dependencies if cache is not None else ()
            if cache is not None and cache.version is not None:
                fp = _fingerprint.dependencies_only(dependencies)
            else:
                fp = _fingerprint.fingerprint(
                    self.func,
                    dependencies=dependencies,
                    hash_methods=self.hash_methods,
                    name=self.name,
                )
            self._fingerprint = fp
        explicit = cache.version if cache is not None else None
        if explicit is None:
            self._version = fp.version
        elif cache is not None and cache.dependencies:
            pinned = ",".join(
                f"{d}=={fp.parts[f'dependency {d}']}" for d in sorted(cache.dependencies)
            )
            self._version = f"{explicit}+{pinned}"
        else:
            self._version = explicit
        self._checked_in = runs_started[0]

    def __flytelite_hash__(self) -> tuple[str, str]:
        """A task passed as an input is keyed by its identity and its version (its code
        fingerprint, or its explicit cache version)."""
        return self.name, self.cache_version

    def __getstate__(self) -> dict[str, Any]:
        # A task sent to a worker (inside a shipped body) keeps its version and parts but
        # not what revalidation would read (module namespaces): the worker keys its
        # calls as this process does.
        state = dict(self.__dict__)
        fp = state.get("_fingerprint")
        if fp is not None and fp.reads:
            state["_fingerprint"] = dataclasses.replace(fp, reads=())
        return state

    def __flytelite_code__(self) -> tuple[str, str | None, Callable[..., Any]]:
        """What a code fingerprint that reaches this task records: its identity, its
        explicit version (if any) and its function."""
        explicit = self.cache.version if self.cache is not None else None
        return self.name, explicit and self.cache_version, self.func

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
        """Positional and keyword arguments for the function from inputs bound by name
        (in any order: a dynamic workflow's node binds them as they were compiled)."""
        arity = self._arity
        if arity > 1:
            return self._pick(inputs), {}
        if arity == 1:
            return (inputs[self._names[0]],), {}
        if arity == 0:
            return (), {}
        ordered = {name: inputs[name] for name in self._names if name in inputs}
        bound = inspect.BoundArguments(self.signature, ordered)
        return bound.args, bound.kwargs


class AsyncTask(Task[P, R]):
    """A task whose function is `async def`; calling it gives an awaitable."""

    is_async = True

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        runner = current_runner.get()
        if runner is None:
            if active_runs[0]:
                _outside_the_run(self)
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
            if active_runs[0]:
                _outside_the_run(self)
            result: R = self.func(*args, **kwargs)
            return result
        return runner.call(self, args, kwargs)  # type: ignore[no-any-return]

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """An awaitable of the call, for async code (`await square.aio(3)`)."""
        runner = current_runner.get()
        if runner is None:
            if active_runs[0]:
                _outside_the_run(self)
            return _plain_async(self.func, args, kwargs)
        return runner.call_async(self, args, kwargs)


_warned_outside: set[str] = set()


def _outside_the_run(task: Task[..., Any]) -> None:
    """A task called with no run context while a run is in progress: most likely from a
    thread that a task body started, which does not inherit the run. Said once per task."""
    if task.name in _warned_outside:
        return
    _warned_outside.add(task.name)
    import warnings

    from ._errors import RunContextWarning

    warnings.warn(
        f"task {task.name!r} was called outside the run in progress (from a thread that a "
        f"task body started?) and ran as a plain function: no cache, no retries, no report "
        f"row. Threads do not inherit the run: start them with the run's context, "
        f"`ctx = contextvars.copy_context(); pool.submit(ctx.run, task, ...)`, or use "
        f"`fl.map` / `asyncio.gather` in the body.",
        RunContextWarning,
        stacklevel=3,
    )


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


def register(task: Task[..., Any]) -> None:
    """Make `task` the one defined under its identity (a re-definition replaces)."""
    _REGISTRY[task.name] = task
    refs = _DEFINED.setdefault(task.name, [])
    refs.append(weakref.ref(task))
    if len(refs) > 64:  # factories in loops: drop the dead ones now and then
        tasks_named(task.name)
