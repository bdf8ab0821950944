"""`AsyncConnector`: what a user implements to run task calls as jobs on a web service.

After Flyte's `webapi.AsyncPlugin`: `create` starts a job (at least once, so it
must be idempotent on `ctx.execution_name`), `get` fetches its latest state
(polled in the background), `status` reads a phase from that state without
I/O, and `delete` cancels or cleans the job up (at least once, so it must
accept a job that is already gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._config import ConnectorConfig
from ._phase import PhaseInfo

if TYPE_CHECKING:
    from flytelite import Task

__all__ = ["AsyncConnector", "ConnectorContext"]


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector knows about the call it starts a job for.

    Attributes:
        execution_name: A name unique to this call and the same for every
            attempt of it: give it to the service as the job's name or
            idempotency key, so that a `create` retried after an error that
            came *after* the job was committed finds that job instead of
            starting a second one. (Once a job is deleted, its name should be
            free again: a call whose job failed retries under the same name.)
        inputs: The call's inputs by parameter name, defaults applied.
        task: The connector task (`.name` is its identity, `"env.function"`).
        run_id: The run the call belongs to.
        attempt: 1 for the first attempt of the call, 2 for its first retry, ...
    """

    execution_name: str
    inputs: Mapping[str, Any]
    task: Task[..., Any]
    run_id: str
    attempt: int


class AsyncConnector:
    """Base class of connectors: subclass it and implement `create`, `get` and `status`.

    Set `config` (a `ConnectorConfig`) as a class attribute or in `__init__`;
    a subclass need not call `super().__init__()`. One connector object can
    serve several tasks; its quotas and rate limits are shared by all of them.

    ```python
    class Warehouse(AsyncConnector):
        config = ConnectorConfig(resource_quotas={"default": 4})

        async def create(self, ctx):
            job = await client.submit(name=ctx.execution_name, sql=ctx.inputs["sql"])
            return job.id, None

        async def get(self, meta):
            return await client.job(meta)

        def status(self, resource):
            if resource.done:
                return PhaseInfo(Phase.SUCCEEDED, outputs=resource.rows)
            return PhaseInfo(Phase.RUNNING)

        async def delete(self, meta):
            await client.cancel(meta, missing_ok=True)

    @env.task(connector=Warehouse(), cache=True)
    async def query(sql: str) -> list[dict]: ...
    ```
    """

    config: ConnectorConfig = ConnectorConfig()

    def resource_requirements(self, ctx: ConnectorContext) -> str | None:
        """The quota namespace a call draws a token from, or `None` for no quota.

        By default: the only namespace of `config.resource_quotas` if it has
        exactly one, else `None`. Override it when there are several.
        """
        quotas = self.config.resource_quotas
        if len(quotas) == 1:
            return next(iter(quotas))
        return None

    async def create(self, ctx: ConnectorContext) -> tuple[Any, Any]:
        """Start the job of a call; return `(meta, resource)`.

        `meta` identifies the job for `get` and `delete` (keep it small);
        `resource` is the job's state if the service returned it (then `status`
        is read at once, and a job that finished already needs no polling), or
        `None`. Called at least once per attempt, with the same
        `ctx.execution_name` on every attempt: it must be idempotent on it.
        An exception fails the attempt; the task's `retries` apply.
        """
        raise NotImplementedError

    async def get(self, meta: Any) -> Any:
        """The latest state of the job `meta` (a "resource"), for `status`.

        Called by the background poller, within `config.read_rate_limit`. An
        exception counts as a system failure; past `config.max_system_failures`
        of them the call fails.
        """
        raise NotImplementedError

    def status(self, resource: Any) -> PhaseInfo:
        """The job's phase, read from a resource without I/O.

        For `Phase.SUCCEEDED`, `PhaseInfo.outputs` is the task's return value.
        """
        raise NotImplementedError

    async def delete(self, meta: Any) -> None:
        """Cancel the job or clean it up: called when a call times out, is cancelled,
        or fails after its job was created. Called at least once, so a job that
        is already gone must not raise. By default it does nothing."""
