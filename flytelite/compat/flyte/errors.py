"""`flyte.errors`: the exceptions Flyte 2 programs catch, with Flyte 2's meaning.

A task that awaits a failed child sees a `RuntimeUserError` whose `.code` is
the name of the exception the child raised, exactly as under Flyte 2. The
child's own exception is kept as `__cause__`, so tracebacks still end where it
was raised::

    BaseRuntimeError (RuntimeError)            .code, .kind, .worker
    ├── RuntimeUserError                       a task's own code failed
    │   ├── OOMError
    │   ├── TaskInterruptedError
    │   ├── RetriesExhaustedError (alias RetryExhaustedError)
    │   ├── TaskTimeoutError                   a `timeout` bound fired
    │   │   ├── MaxRuntimeExceededError
    │   │   ├── MaxQueuedTimeExceededError
    │   │   └── DeadlineExceededError
    │   ├── CustomError                        raised by user code with its own code
    │   ├── NonRecoverableError                also `flytelite.NonRetryableError`
    │   ├── NotInTaskContextError
    │   ├── SyncTaskCallInAsyncContextError
    │   ├── TraceDoesNotAllowNestedTasksError
    │   └── ...
    ├── RuntimeSystemError
    └── RuntimeUnknownError
"""

from __future__ import annotations

from typing import Any, Literal

from flytelite import NonRetryableError

__all__ = [
    "ActionAbortedError",
    "BaseRuntimeError",
    "CustomError",
    "DeadlineExceededError",
    "DeploymentError",
    "ImageBuildError",
    "InitializationError",
    "InlineIOMaxBytesBreached",
    "MaxQueuedTimeExceededError",
    "MaxRuntimeExceededError",
    "ModuleLoadError",
    "NonRecoverableError",
    "NotInTaskContextError",
    "OOMError",
    "RemoteTaskNotFoundError",
    "RemoteTaskUsageError",
    "RetriesExhaustedError",
    "RetryExhaustedError",
    "RuntimeDataValidationError",
    "RuntimeSystemError",
    "RuntimeUnknownError",
    "RuntimeUserError",
    "SyncTaskCallInAsyncContextError",
    "TaskInterruptedError",
    "TaskTimeoutError",
    "TraceDoesNotAllowNestedTasksError",
    "from_exception",
]

ErrorKind = Literal["system", "unknown", "user"]


class BaseRuntimeError(RuntimeError):
    """Root of the errors a task call fails with, as Flyte 2 reports them.

    Attributes:
        code: What failed: for a failed child, the name of its exception's type.
        kind: `"user"`, `"system"` or `"unknown"`.
        worker: Where it ran (always `None` locally).
    """

    def __init__(
        self, code: str, kind: ErrorKind, root_cause_message: str, worker: str | None = None
    ) -> None:
        super().__init__(root_cause_message)
        self.code = code
        self.kind = kind
        self.worker = worker

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor takes more than the message: pickle by attributes, so that
        # the error survives a process pool and the cache's outputs.
        return (_rebuild, (type(self), self.code, self.kind, str(self), self.worker))

    def _reraise(self, *_args: Any) -> Any:
        # `sum(flyte.map(..., return_exceptions=True))` raises the failure itself,
        # not a puzzling TypeError, as in Flyte 2.
        raise self

    __add__ = __radd__ = __sub__ = __rsub__ = _reraise
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _reraise
    __floordiv__ = __rfloordiv__ = _reraise


def _rebuild(
    cls: type[BaseRuntimeError], code: str, kind: ErrorKind, message: str, worker: str | None
) -> BaseRuntimeError:
    error = BaseRuntimeError.__new__(cls)
    BaseRuntimeError.__init__(error, code, kind, message, worker)
    return error


class InitializationError(BaseRuntimeError):
    """Raised when the system is used before it was initialized."""


class RuntimeSystemError(BaseRuntimeError):
    """Raised when a call failed because of the system rather than the task's code."""

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "system", message, worker)


class RuntimeUserError(BaseRuntimeError):
    """Raised when a task call failed because of an error in the task's code.

    `.code` names the type of the exception the task raised; `__cause__` is
    that exception.
    """

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "user", message, worker)


class RuntimeUnknownError(BaseRuntimeError):
    """Raised when a call failed for an unknown reason."""

    def __init__(self, code: str, message: str, worker: str | None = None) -> None:
        super().__init__(code, "unknown", message, worker)


class OOMError(RuntimeUserError):
    """Raised when a call ran out of memory (its code contains `OOM`)."""


class TaskInterruptedError(RuntimeUserError):
    """Raised when a call was interrupted."""


class RetriesExhaustedError(RuntimeUserError):
    """Raised when a call failed after all its retries."""


RetryExhaustedError = RetriesExhaustedError
"""Another name of `RetriesExhaustedError`."""


class TaskTimeoutError(RuntimeUserError):
    """Raised when a call exceeded one of its `timeout` bounds."""

    def __init__(self, message: str, code: str = "TaskTimeoutError") -> None:
        super().__init__(code, message)


class MaxRuntimeExceededError(TaskTimeoutError):
    """Raised when an attempt ran longer than its `timeout` (`Timeout.max_runtime`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="MaxRuntimeExceededError")


class MaxQueuedTimeExceededError(TaskTimeoutError):
    """Raised when a call waited longer than `Timeout.max_queued_time` to start."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="MaxQueuedTimeExceededError")


class DeadlineExceededError(TaskTimeoutError):
    """Raised when a call, retries included, did not finish within `Timeout.deadline`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="DeadlineExceededError")


class CustomError(RuntimeUserError):
    """Raise this from a task with a code of your own: `CustomError("Quota", "over quota")`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)

    @classmethod
    def from_exception(cls, e: Exception) -> CustomError:
        """A `CustomError` whose code is the name of `e`'s type, chained to `e`."""
        error = cls(type(e).__name__, str(e))
        error.__cause__ = e
        return error


class NonRecoverableError(RuntimeUserError, NonRetryableError):
    """Raise this from a task to fail at once: remaining retries are skipped."""

    def __init__(self, message: str, code: str = "NonRecoverableError") -> None:
        RuntimeUserError.__init__(self, code, message)


class NotInTaskContextError(RuntimeUserError):
    """Raised when something that needs a running task is used outside one."""


class SyncTaskCallInAsyncContextError(RuntimeUserError):
    """Raised when a sync task is called as `t(...)` from async code; use `await t.aio(...)`."""

    def __init__(self, message: str) -> None:
        super().__init__("SyncTaskCallInAsyncContextError", message)


class TraceDoesNotAllowNestedTasksError(RuntimeUserError):
    """Raised when a task is called inside a `@flyte.trace` function."""

    def __init__(self, message: str) -> None:
        super().__init__("TraceDoesNotAllowNestedTasksError", message)


class RemoteTaskNotFoundError(RuntimeUserError):
    """Raised when a remote task is looked up; there are none locally."""

    def __init__(self, message: str) -> None:
        super().__init__("RemoteTaskNotFoundError", message)


class RemoteTaskUsageError(RuntimeUserError):
    """Raised when a remote task is called; remote tasks need a Flyte cluster."""

    def __init__(self, message: str) -> None:
        super().__init__("RemoteTaskUsageError", message)


class RuntimeDataValidationError(RuntimeUserError):
    """Raised when an input or output cannot be converted."""

    def __init__(self, var: str, e: Exception | str, task_name: str = "") -> None:
        super().__init__(
            "DataValidationError",
            f"In task {task_name} variable {var}, failed to serialize/deserialize because of {e}",
        )


class DeploymentError(RuntimeUserError):
    """Raised when a deployment is asked for; there is nothing to deploy to locally."""

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentError", message)


class ImageBuildError(RuntimeUserError):
    """Raised when an image build is asked for; images are not built locally."""

    def __init__(self, message: str) -> None:
        super().__init__("ImageBuildError", message)


class ModuleLoadError(RuntimeUserError):
    """Raised when a module cannot be loaded."""

    def __init__(self, message: str) -> None:
        super().__init__("ModuleLoadError", message)


class InlineIOMaxBytesBreached(RuntimeUserError):
    """Raised when inline inputs or outputs are too large (never locally)."""

    def __init__(self, message: str) -> None:
        super().__init__("InlineIOMaxBytesBreached", message)


class ActionAbortedError(RuntimeUserError):
    """Raised in a parent when a child call was aborted."""

    def __init__(self, message: str) -> None:
        super().__init__("ActionAbortedError", message)


def from_exception(exc: BaseException) -> BaseRuntimeError:
    """The error a parent sees when a child failed with `exc`, as under Flyte 2.

    The code is `exc.code` for a Flyte error, else the name of `exc`'s type; the
    class follows from the code as in Flyte 2 (`OOM` in it gives `OOMError`, and
    so on), else it is `RuntimeUserError`. The result is chained to `exc`.
    """
    message = str(exc)
    if isinstance(exc, BaseRuntimeError):
        code = exc.code
        if isinstance(exc, (RuntimeSystemError, RuntimeUnknownError)):
            error: BaseRuntimeError = type(exc)(code, message, exc.worker)
            error.__cause__ = exc
            return error
        if isinstance(exc, TaskTimeoutError):
            error = _rebuild(type(exc), code, "user", message, exc.worker)
            error.__cause__ = exc
            return error
    else:
        code = type(exc).__name__
    cls: type[RuntimeUserError] = RuntimeUserError
    if "OOM" in code.upper():
        cls = OOMError
    elif "Interrupted" in code:
        cls = TaskInterruptedError
    elif "RetriesExhausted" in code:
        cls = RetriesExhaustedError
    error = cls(code, message)
    error.__cause__ = exc
    return error
