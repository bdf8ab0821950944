"""How an `executor=` setting becomes an executor, and the process pool that runs share."""

from __future__ import annotations

import threading
from typing import Any

from flytelite import TaskDefinitionError

from ..lowlevel import Executor
from ._dask import DaskExecutor
from ._process import ProcessExecutor

__all__ = ["DaskExecutor", "ProcessExecutor", "resolve", "shared_process_executor"]

_shared: ProcessExecutor | None = None
_shared_lock = threading.Lock()


def shared_process_executor() -> ProcessExecutor:
    """The process pool behind `executor="process"`, created on first use (its workers
    start on the first call, and stop at interpreter exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ProcessExecutor()
        return _shared


def resolve(spec: Any) -> Executor | None:
    """The executor for a setting: `None` for `"thread"` (the run's worker threads)."""
    if spec is None or spec == "thread":
        return None
    if spec == "process":
        return shared_process_executor()
    if isinstance(spec, str):
        raise TaskDefinitionError(
            f'executor={spec!r} is not an executor; use "thread", "process", '
            f"or an executor object such as fl.DaskExecutor()."
        )
    executor: Executor = spec
    return executor
