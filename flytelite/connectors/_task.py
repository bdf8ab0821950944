"""Connector tasks: `@env.task(connector=...)` on a body-less `async def`.

The function gives the inputs and the output; the connector runs each call as
a job. Inside a run the engine treats the task like any other (cache lookup
first, so a hit never touches the service; retries; timeout; the report) and
calls `execute` for each attempt instead of a body. Outside a run, awaiting
the task runs the job directly, with the task's retries and timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
from typing_extensions import ParamSpec

from flytelite import AsyncTask, Cache, NonRetryableError, TaskDefinitionError, TaskTimeoutError

from ..lowlevel import CallContext, backoff, current_runner
from ._attempt import run_attempt
from ._config import ConnectorConfig
from ._connector import AsyncConnector
from ._errors import ConnectorWarning
from ._phase import Phase
from ._runtime import Call, execution_name, runtime_for

__all__ = ["ConnectorTask", "make_connector_task"]

P = ParamSpec("P")
R = TypeVar("R")

_BACKOFF_BASE = 0.05
_BACKOFF_MAX = 2.0


class ConnectorTask(AsyncTask[P, R]):
    """A task whose calls run as jobs on a web service, through an `AsyncConnector`.

    Attributes:
        connector: The connector that runs its calls.
    """

    custom_execution = True

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        env: str,
        connector: AsyncConnector,
        cache: Cache | None,
        retries: int,
        timeout: float | None,
    ) -> None:
        super().__init__(func, env=env, cache=cache, retries=retries, timeout=timeout)
        self.connector = connector

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        runner = current_runner.get()
        if runner is None:
            return self._standalone(self.bind(args, kwargs))
        return runner.call(self, args, kwargs)  # type: ignore[no-any-return]

    async def execute(self, ctx: CallContext, inputs: dict[str, Any]) -> Any:
        """Run one attempt of a call; the engine retries it under the same execution name."""
        runtime = runtime_for(self.connector)
        assert runtime is not None
        call = runtime.call_for(ctx.row, self.name, ctx.run_id)

        def warn(message: str) -> None:
            ctx.warn(message, ConnectorWarning)

        return await run_attempt(runtime, self, call, inputs, ctx.run_id, warn)

    def phases(self) -> dict[str, Phase]:
        """The phase of each call of this task under way in the running event loop,
        by execution name (e.g. to see how many wait for quota)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return {}
        runtime = runtime_for(self.connector, create=False)
        if runtime is None:
            return {}
        return {name: call.phase for name, call in runtime.active.items() if call.task == self.name}

    async def _standalone(self, inputs: dict[str, Any]) -> R:
        """A call outside a run: the job, with the task's retries and timeout, no cache."""
        runtime = runtime_for(self.connector)
        assert runtime is not None
        run_id = f"local-{secrets.token_hex(4)}"
        call = Call(self.name, execution_name(run_id, self.name))

        def warn(message: str) -> None:
            warnings.warn(message, ConnectorWarning, stacklevel=2)

        while True:
            try:
                with anyio.move_on_after(self.timeout):
                    result: R = await run_attempt(runtime, self, call, inputs, run_id, warn)
                    return result
                assert self.timeout is not None
                raise TaskTimeoutError(
                    f"task {self.name!r} timed out after {self.timeout:g} s and was cancelled; "
                    f"any job it started was deleted.",
                    task=self.name,
                    timeout=self.timeout,
                )
            except NonRetryableError:
                raise
            except Exception:
                if call.attempts > self.retries:
                    raise
            await asyncio.sleep(backoff(call.attempts - 1, base=_BACKOFF_BASE, cap=_BACKOFF_MAX))


def make_connector_task(
    env: str,
    func: Callable[..., Any],
    connector: Any,
    cache: Cache | None,
    retries: int,
    timeout: float | None,
) -> ConnectorTask[..., Any]:
    """The task behind `@env.task(connector=...)`, with the connector checked up front.

    Raises:
        TaskDefinitionError: the function is not `async def`, or the connector
            is not an `AsyncConnector` object that implements the contract.
    """
    name = f"{env}.{getattr(func, '__name__', func)}"
    if not inspect.iscoroutinefunction(func):
        raise TaskDefinitionError(
            f"task {name!r}: a connector task is declared on an `async def` function whose "
            f"signature gives its inputs and output, e.g. "
            f"`async def query(sql: str) -> list[dict]: ...`; its body never runs."
        )
    _check_connector(name, connector)
    return ConnectorTask(
        func, env=env, connector=connector, cache=cache, retries=retries, timeout=timeout
    )


def _check_connector(task: str, connector: Any) -> None:
    if isinstance(connector, type) and issubclass(connector, AsyncConnector):
        raise TaskDefinitionError(
            f"task {task!r}: connector={connector.__name__} is a class; pass an object: "
            f"connector={connector.__name__}(...)."
        )
    if not isinstance(connector, AsyncConnector):
        raise TaskDefinitionError(
            f"task {task!r}: connector={connector!r} is not an AsyncConnector; subclass "
            f"flytelite.connectors.AsyncConnector and implement create, get and status."
        )
    kind = type(connector)
    label = kind.__name__
    missing = [
        m for m in ("create", "get", "status") if getattr(kind, m) is getattr(AsyncConnector, m)
    ]
    if missing:
        raise TaskDefinitionError(
            f"task {task!r}: connector {label} does not implement "
            f"{', '.join(missing)}; an AsyncConnector implements create, get and status "
            f"(and delete, to cancel jobs)."
        )
    for method in ("create", "get", "delete"):
        if not inspect.iscoroutinefunction(getattr(kind, method)):
            raise TaskDefinitionError(
                f"task {task!r}: {label}.{method} must be an `async def` method."
            )
    if inspect.iscoroutinefunction(kind.status):
        raise TaskDefinitionError(
            f"task {task!r}: {label}.status must be a plain `def`: it reads a phase from "
            f"the resource that get returned, without I/O."
        )
    config = getattr(connector, "config", None)
    if not isinstance(config, ConnectorConfig):
        raise TaskDefinitionError(
            f"task {task!r}: {label}.config is {config!r}; set it to a ConnectorConfig(...), "
            f"as a class attribute or in __init__."
        )
    defaults = kind.resource_requirements is AsyncConnector.resource_requirements
    if defaults and len(config.resource_quotas) > 1:
        raise TaskDefinitionError(
            f"task {task!r}: {label}.config has several quota namespaces "
            f"({', '.join(map(repr, config.resource_quotas))}); implement "
            f"{label}.resource_requirements(ctx) to say which one a call uses."
        )
