"""How a call crosses to a worker and back, on the run's side, and what can go wrong.

A call leaves as cloudpickle bytes of `(func, args, kwargs)` (`dumps_call`)
and comes back as a reply from `_worker.run_call` (`decode_reply`):
the output, or the body's own exception, re-raised here with the worker's
traceback as its `__cause__`. What breaks at the boundary is reported with the
executor errors of `_errors` (`ExecutorError`, `WorkerLostError`,
`RemoteTaskError`, `SerializationError`), naming the task.
"""

from __future__ import annotations

import pickle
from typing import Any

from flytelite import RemoteTaskError, SerializationError

from ._worker import Reply

__all__ = ["decode_reply", "dumps_call"]


class _RemoteTraceback(Exception):
    """The traceback of a body's exception in its worker, shown as that exception's cause."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


def dumps_call(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, task: str, where: str
) -> bytes:
    """The call as cloudpickle bytes, or `SerializationError` naming what cannot be sent."""
    import cloudpickle

    try:
        payload: bytes = cloudpickle.dumps((func, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        what = "inputs"
        try:
            cloudpickle.dumps(func)
        except Exception:
            what = "function"
        raise SerializationError(
            f"task {task!r}: its {what} cannot be sent to {where}: "
            f"{type(exc).__name__}: {exc}. A body that runs in another process receives "
            f"its function and inputs pickled with cloudpickle: pass values that can be "
            f'pickled (not open files, locks, sockets or clients), or use executor="thread" '
            f"for this task.",
            task=task,
        ) from exc
    return payload


def decode_reply(reply: Reply, *, task: str, where: str) -> Any:
    """The body's output from a worker's reply; or raise the body's exception, or say
    what could not cross the boundary."""
    import cloudpickle

    kind = reply[0]
    if kind == "ok":
        try:
            return cloudpickle.loads(reply[1])
        except Exception as exc:
            raise SerializationError(
                f"task {task!r}: its output came back from {where} but cannot be unpickled "
                f"here: {type(exc).__name__}: {exc}. This process needs the modules that "
                f"define the output's types.",
                task=task,
            ) from exc
    if kind == "raised":
        _, type_name, message, text, raised = reply
        error = None
        if raised is not None:
            try:
                error = cloudpickle.loads(raised)
            except Exception:
                error = None
        if not isinstance(error, BaseException):
            raise RemoteTaskError(
                f"task {task!r} raised {type_name}: {message} in {where}, and the exception "
                f"cannot be pickled back here; its traceback there:\n{text}",
                task=task,
                type_name=type_name,
                remote_traceback=text,
            )
        error.__cause__ = _RemoteTraceback(text)
        raise error
    if kind == "unloadable":
        raise SerializationError(
            f"task {task!r}: {where} cannot unpickle its function and inputs: {reply[1]}. "
            f"A worker imports the modules they come from, so it needs the same code and "
            f"packages as this process.\nIts traceback there:\n{reply[2]}",
            task=task,
        )
    raise SerializationError(
        f"task {task!r}: its output cannot be sent back from {where}: {reply[1]}. "
        f"Return a value that can be pickled.",
        task=task,
    )
