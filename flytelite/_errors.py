"""Exceptions raised by flytelite.

Every exception flytelite raises on its own behalf derives from one root, and,
where the meaning matches, from the standard library exception a caller would
already catch::

    FlyteliteError
    ├── InputError (TypeError)              a call's arguments do not fit the task
    │   └── UnhashableInputError            an input of a cached task cannot be hashed
    ├── TaskDefinitionError (TypeError)     a decorator was given options it cannot use
    ├── PromiseUsageError (TypeError)       a promise was used as a value in a dynamic workflow
    ├── NonRetryableError                   raised by a task body: fail without retrying
    ├── TaskFailedError                     `fl.run` reports the failure of a task
    ├── TaskTimeoutError (TimeoutError)     a call ran past its `timeout`
    ├── ExecutorError (RuntimeError)        an executor could not run a body
    │   ├── WorkerLostError                 the worker running a body died
    │   └── RemoteTaskError                 a body's exception could not be sent back
    ├── MissingExtraError (ImportError)     an optional dependency is not installed
    ├── RunContextError (RuntimeError)      an API was used where it cannot work
    └── CatalogNotStartedError (RuntimeError)
                                            the async catalog client was used before start

Warnings: `CatalogWarning` (UserWarning), the store could not be read or written;
`FingerprintWarning` (UserWarning), a task's derived version cannot follow all of
what its code uses; `RunContextWarning` (UserWarning), a task was called outside the
run in progress and ran as a plain function.

Outside the root, as a cancellation is not an error: `RunCancelled`, an
`asyncio.CancelledError` that `fl.run.aio` raises when its run is cancelled,
with the report of the calls so far (it lives in `_cancelled`, which needs asyncio).

A task body's own exceptions are never wrapped inside a run: a parent that
awaits a failed child sees the child's exception, exactly as with plain asyncio.
Only `fl.run` wraps, so that its caller learns which task failed.
"""

from __future__ import annotations

__all__ = [
    "CatalogNotStartedError",
    "CatalogWarning",
    "ExecutorError",
    "FingerprintWarning",
    "MissingExtraError",
    "RemoteTaskError",
    "RunContextWarning",
    "SerializationError",
    "WorkerLostError",
    "FlyteliteError",
    "InputError",
    "NonRetryableError",
    "PromiseUsageError",
    "RunContextError",
    "TaskDefinitionError",
    "TaskFailedError",
    "TaskTimeoutError",
    "UnhashableInputError",
]


class FlyteliteError(Exception):
    """Root of every exception flytelite raises on its own behalf."""


class InputError(FlyteliteError, TypeError):
    """Raised when a task call's arguments do not fit the task's signature."""

    def __init__(self, message: str, *, task: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.task = task
        self.parameter = parameter


class UnhashableInputError(InputError):
    """Raised when an input of a cached task has no deterministic hash.

    Raised before the task executes. `.task`, `.parameter` and `.type_name`
    say which value it was; `.path` locates it inside a nested value.
    """

    def __init__(
        self,
        *,
        task: str,
        parameter: str,
        type_name: str,
        path: str = "",
        detail: str = "",
    ) -> None:
        where = f"{parameter}{path}"
        reason = detail or f"flytelite cannot hash a value of type {type_name!r}"
        message = (
            f"task {task!r}: input {where!r} cannot be used in a cache key: {reason}. "
            f"Give the class a `__flytelite_hash__(self)` method returning a stable value, "
            f"annotate the parameter with `Annotated[{type_name}, fl.HashMethod(fn)]`, "
            f"or leave it out of the key with `fl.Cache(ignored_inputs=({parameter!r},))`."
        )
        super().__init__(message, task=task, parameter=parameter)
        self.type_name = type_name
        self.path = path


class TaskDefinitionError(FlyteliteError, TypeError):
    """Raised when a task is declared with options that cannot work."""


class PromiseUsageError(FlyteliteError, TypeError):
    """Raised when a dynamic workflow's body uses a task call's promise as a value."""

    def __init__(self, message: str, *, workflow: str, node: str | None) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.node = node


class NonRetryableError(FlyteliteError):
    """Raise this from a task body to fail the call at once, without retries."""


class TaskFailedError(FlyteliteError):
    """Raised by `fl.run` when a task of the run failed.

    `.task` names the task whose body raised first, `.root` the task that
    `fl.run` was given, `.report` is the run's report up to the failure, and
    `__cause__` is the body's own exception.
    """

    def __init__(
        self, message: str, *, task: str, root: str, run_id: str, report: object = None
    ) -> None:
        super().__init__(message)
        self.task = task
        self.root = root
        self.run_id = run_id
        self.report = report


class TaskTimeoutError(FlyteliteError, TimeoutError):
    """Raised when a task call runs longer than its `timeout`."""

    def __init__(self, message: str, *, task: str, timeout: float) -> None:
        super().__init__(message)
        self.task = task
        self.timeout = timeout


class RunContextError(FlyteliteError, RuntimeError):
    """Raised when an API is used somewhere it cannot work (e.g. `fl.run` inside a run)."""


class CatalogNotStartedError(FlyteliteError, RuntimeError):
    """Raised when the async catalog client is used before it was started."""


class ExecutorError(FlyteliteError, RuntimeError):
    """Raised when an executor could not run a task body (e.g. its cluster is unreachable)."""

    def __init__(self, message: str, *, task: str | None = None) -> None:
        super().__init__(message)
        self.task = task


class WorkerLostError(ExecutorError):
    """Raised when the worker running a task body died (killed, out of memory) before it
    returned. The call's `retries` run it again."""


class RemoteTaskError(ExecutorError):
    """Raised in place of a task body's exception that could not be sent back from its worker.

    `.type_name` is the original exception's type and `.remote_traceback` its
    traceback in the worker.
    """

    def __init__(self, message: str, *, task: str, type_name: str, remote_traceback: str) -> None:
        super().__init__(message, task=task)
        self.type_name = type_name
        self.remote_traceback = remote_traceback


class SerializationError(NonRetryableError, TypeError):
    """Raised when a task's function, inputs or output cannot be pickled to or from a worker.

    Retrying cannot help, so the call fails at once.
    """

    def __init__(self, message: str, *, task: str) -> None:
        super().__init__(message)
        self.task = task


class MissingExtraError(FlyteliteError, ImportError):
    """Raised when a feature needs an optional dependency that is not installed."""

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class StoreError(FlyteliteError, OSError):
    """A cache store's file system failed (its own exception is the `__cause__`).

    Stores raise it, or another `OSError`, for every transport failure, so that
    the catalog client retries them and counts them towards its circuit breaker.
    """


class StoreUnavailableError(StoreError, ConnectionError):
    """A run stopped contacting a cache store after it failed several times in a row.

    Calls meanwhile report `LOOKUP_FAILURE` / `PUT_FAILURE` at once; the store is
    probed again after a cool-down (`CatalogConfig(breaker=...)`).
    """


class CatalogWarning(UserWarning):
    """The cache store could not be read or written; the run went on without it."""


class FingerprintWarning(UserWarning):
    """A task's derived version cannot follow all of what its code uses (a closure value
    that cannot be hashed, more code than the fingerprint follows)."""


class RunContextWarning(UserWarning):
    """A task was called outside the run in progress (from a thread a body started) and
    ran as a plain function."""
