"""The plug-in surface: what a new task kind, executor or connector builds on.

Like `trio.lowlevel`, this is public and documented, but most users never need
it: `flytelite` is the API for writing and running workflows. Dynamic
workflows, connectors, the executors and the Flyte 2 surface are written
against this module, `flytelite` and `flytelite.catalog` only.

- The run context: `current_runner` (a `ContextVar` holding the run a task call
  belongs to, `None` outside runs) and the `Runner` protocol it holds.
- `CallContext`: what the engine gives a task kind with its own execution
  (`Task.custom_execution`), such as a dynamic workflow's DAG runner.
- `Executor`: the protocol of objects that run task bodies elsewhere.
- `CallHandle` and `expect_call`: the report row of a task call a plug-in makes.
- `open_run` and `RunSession`: a run with no root call, serving the task calls
  made through it (what a body shipped to a worker runs its own calls in).
- The task registry: `register`, `get_task`, `tasks_named`.
- Keys and fingerprints: `hash_value` (the canonical digest of any input),
  `fingerprint` (a function's code fingerprint), `cache_key` (a call's key).
- `backoff`: the retry delay schedule every retry loop in flytelite uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._context import (
    CallContext,
    CallHandle,
    Executor,
    Runner,
    RunSession,
    current_runner,
    expect_call,
    reset_call,
)
from ._hashing import hash_value
from ._retry import backoff
from ._task import get_task, register, tasks_named

if TYPE_CHECKING:
    from ._fingerprint import Fingerprint
    from ._task import Task
    from .catalog import CatalogClient, CatalogConfig, Key

__all__ = [
    "CallContext",
    "CallHandle",
    "Executor",
    "RunSession",
    "Runner",
    "backoff",
    "cache_key",
    "current_runner",
    "expect_call",
    "fingerprint",
    "get_task",
    "hash_value",
    "open_run",
    "register",
    "reset_call",
    "tasks_named",
]


def fingerprint(func: Any) -> Fingerprint:
    """The code fingerprint of `func`: its version and the parts it was made from
    (what a task's auto `cache_version` is)."""
    from ._fingerprint import fingerprint as compute  # the code walk loads on first use

    return compute(func)


def cache_key(task: Task[..., Any], inputs: dict[str, Any], *, spec: bool = False) -> Key:
    """The cache key of a call of `task` with bound `inputs` (`spec`: of its compiled
    dynamic-workflow spec instead)."""
    from ._keys import cache_key as build  # the catalog loads with the first run

    return build(task, inputs, spec=spec)


@contextlib.asynccontextmanager
async def open_run(
    catalog: CatalogClient,
    config: CatalogConfig | None = None,
    *,
    run_id: str,
    max_threads: int = 64,
) -> AsyncIterator[RunSession]:
    """Open a run with no root call on the running event loop, for the task calls a
    plug-in makes through the session it yields (`session.call_async(task, args, kwargs)`,
    or with `current_runner` set to it, plain task calls).

    Args:
        catalog: Where the calls' outputs are looked up and written.
        config: The catalog client's queues and heartbeat (default: `CatalogConfig()`).
        run_id: Recorded as the producer of every entry the session writes.
        max_threads: How many sync bodies may run at once in worker threads; sync
            bodies always run in threads here (a session follows no executor setting).

    Calls still running when the block exits are cancelled; `session.report` keeps
    their rows after it closes.
    """
    from ._engine import Engine  # the engine loads with the first run
    from .catalog import CatalogConfig

    engine = Engine(catalog, config or CatalogConfig(), run_id=run_id, max_threads=max_threads)
    async with engine.session():
        yield engine
