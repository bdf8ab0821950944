"""The background poller: one per connector and event loop, shared by all its calls.

After Flyte's auto-refresh cache: every `poll_interval_s` a ticker queues each
job in flight that is not queued already, and `poll_workers` workers fetch
their state (`get`, within the read rate limit) and read its phase (`status`).
A call waits on its own future, which the workers resolve when the phase is
terminal or the status checks failed too often. The ticker and workers exist
only while some job is watched, so an idle run leaves no task behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._config import ConnectorConfig
from ._connector import AsyncConnector
from ._errors import ConnectorContractError, ConnectorSystemError
from ._phase import Phase, PhaseInfo
from ._ratelimit import TokenBucket

__all__ = ["Poller", "checked_status"]


def checked_status(connector: AsyncConnector, resource: Any, task: str, name: str) -> PhaseInfo:
    """`connector.status(resource)`, which must be a `PhaseInfo`."""
    info = connector.status(resource)
    if not isinstance(info, PhaseInfo):
        raise ConnectorContractError(
            f"task {task!r}: {type(connector).__name__}.status() returned {info!r}; it must "
            f"return a PhaseInfo, e.g. PhaseInfo(Phase.RUNNING) or "
            f"PhaseInfo(Phase.SUCCEEDED, outputs=...).",
            task=task,
            execution_name=name,
        )
    return info


@dataclass(eq=False)
class _Watch:
    """One job in flight, and the future its call waits on."""

    meta: Any
    task: str
    execution_name: str
    on_phase: Callable[[Phase], None]
    done: asyncio.Future[PhaseInfo]
    failures: int = 0
    queued: bool = field(default=False)


class Poller:
    """Polls the jobs of one connector's calls in the background."""

    def __init__(
        self, connector: AsyncConnector, config: ConnectorConfig, read: TokenBucket
    ) -> None:
        self._connector = connector
        self._interval = config.poll_interval_s
        self._workers = config.poll_workers
        self._max_failures = config.max_system_failures
        self._read = read
        self._watches: dict[_Watch, None] = {}  # in the order the jobs were created
        self._ticker: asyncio.Task[None] | None = None

    @property
    def watching(self) -> int:
        """How many jobs are being polled."""
        return len(self._watches)

    async def watch(
        self, meta: Any, *, task: str, execution_name: str, on_phase: Callable[[Phase], None]
    ) -> PhaseInfo:
        """Wait until the job `meta` reaches a terminal phase, and return it.

        Raises:
            ConnectorSystemError: `get` failed more than `max_system_failures` times.
        """
        loop = asyncio.get_running_loop()
        watch = _Watch(meta, task, execution_name, on_phase, loop.create_future())
        self._watches[watch] = None
        if self._ticker is None:
            self._ticker = loop.create_task(self._tick())
        try:
            return await watch.done
        finally:
            del self._watches[watch]

    async def _tick(self) -> None:
        queue: asyncio.Queue[_Watch | None] = asyncio.Queue()
        workers = [asyncio.ensure_future(self._work(queue)) for _ in range(self._workers)]
        try:
            while self._watches:
                await asyncio.sleep(self._interval)
                for watch in self._watches:
                    if not watch.queued:
                        watch.queued = True
                        queue.put_nowait(watch)
        finally:
            # No await between the last check and here: a job watched from now on
            # starts a new ticker.
            self._ticker = None
            for _ in workers:
                queue.put_nowait(None)

    async def _work(self, queue: asyncio.Queue[_Watch | None]) -> None:
        while True:
            watch = await queue.get()
            if watch is None:
                return
            try:
                if not watch.done.done():
                    await self._check(watch)
            finally:
                watch.queued = False

    async def _check(self, watch: _Watch) -> None:
        await self._read.acquire()
        if watch.done.done():  # the call went away while this check waited for its turn
            return
        try:
            resource = await self._connector.get(watch.meta)
        except Exception as exc:
            watch.failures += 1
            if watch.failures > self._max_failures and not watch.done.done():
                watch.done.set_exception(self._system_error(watch, exc))
            return
        if watch.done.done():
            return
        try:
            info = checked_status(self._connector, resource, watch.task, watch.execution_name)
        except Exception as exc:
            watch.done.set_exception(exc)
            return
        watch.on_phase(info.phase)
        if info.phase.is_terminal:
            watch.done.set_result(info)

    def _system_error(self, watch: _Watch, last: Exception) -> ConnectorSystemError:
        error = ConnectorSystemError(
            f"task {watch.task!r}: {watch.failures} status checks of job {watch.meta!r} "
            f"(execution {watch.execution_name}) failed, more than "
            f"ConnectorConfig(max_system_failures={self._max_failures}) allows, so the call "
            f"failed and its job is deleted. The last error: {type(last).__name__}: {last}. "
            f"Check that the service is reachable and that "
            f"{type(self._connector).__name__}.get() works, or allow more failures.",
            task=watch.task,
            execution_name=watch.execution_name,
            failures=watch.failures,
        )
        error.__cause__ = last
        return error
