"""One attempt of a connector call: token, create, poll, and cleanup on every path.

    WAITING_FOR_RESOURCES ── token ──> QUEUED ── create ──> (status phases) ──> terminal
                                                                │
                     cancelled, timed out, failed, or a failure phase: delete the job

The quota token is held from before `create` until the job is over or deleted,
and released on every path. A `create` in flight when the call is cancelled is
let finish (within `cleanup_timeout_s`) so that its job can be deleted rather
than left running. Deletes are retried, and finish even while the call is
being cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import anyio

from ..lowlevel import backoff
from ._connector import ConnectorContext
from ._errors import (
    ConnectorContractError,
    JobFailedError,
    JobPermanentlyFailedError,
)
from ._phase import Phase, PhaseInfo
from ._poller import checked_status
from ._runtime import Call, Runtime

if TYPE_CHECKING:
    from flytelite import Task

__all__ = ["run_attempt"]

_DELETE_TRIES = 3
_DELETE_BACKOFF_S = 0.1

Warn = Callable[[str], None]


async def run_attempt(
    runtime: Runtime,
    task: Task[..., Any],
    call: Call,
    inputs: Mapping[str, Any],
    run_id: str,
    warn: Warn,
) -> Any:
    """Run one attempt of `call` and return the task's outputs.

    Raises:
        JobFailedError: the job ended in `RETRYABLE_FAILURE`.
        JobPermanentlyFailedError: the job ended in `PERMANENT_FAILURE`.
        ConnectorSystemError: status checks failed past `max_system_failures`.
        ConnectorContractError: the connector returned something it must not.
    """
    call.attempts += 1
    ctx = ConnectorContext(
        call.execution_name, MappingProxyType(dict(inputs)), task, run_id, call.attempts
    )
    namespace = _namespace(runtime, ctx)
    runtime.active[call.execution_name] = call
    call.phase = Phase.NOT_STARTED if namespace is None else Phase.WAITING_FOR_RESOURCES
    try:
        async with runtime.quota.hold(namespace):
            call.phase = Phase.QUEUED
            meta, resource = await _create(runtime, call, ctx, warn)
            try:
                info = await _until_terminal(runtime, call, meta, resource)
            except BaseException:
                await _delete(runtime, call, meta, warn)
                raise
            if info.phase is Phase.SUCCEEDED:
                return info.outputs
            await _delete(runtime, call, meta, warn)
            raise _failure(task.name, call, meta, info)
    finally:
        del runtime.active[call.execution_name]


def _namespace(runtime: Runtime, ctx: ConnectorContext) -> str | None:
    connector = runtime.connector
    namespace = connector.resource_requirements(ctx)
    if namespace is None or namespace in runtime.config.resource_quotas:
        return namespace
    raise ConnectorContractError(
        f"task {ctx.task.name!r}: {type(connector).__name__}.resource_requirements() returned "
        f"{namespace!r}, which is not a namespace of its "
        f"ConnectorConfig(resource_quotas={dict(runtime.config.resource_quotas)!r}); "
        f"add it there, or return None for no quota.",
        task=ctx.task.name,
        execution_name=ctx.execution_name,
    )


async def _create(
    runtime: Runtime, call: Call, ctx: ConnectorContext, warn: Warn
) -> tuple[Any, Any]:
    sent = False

    async def create() -> Any:
        nonlocal sent
        await runtime.write.acquire()
        sent = True
        return await runtime.connector.create(ctx)

    creating = asyncio.ensure_future(create())
    try:
        created = await asyncio.shield(creating)
    except asyncio.CancelledError:
        if creating.cancelled():
            raise
        if not sent:  # still waiting for a write token: nothing was created
            creating.cancel()
            creating.add_done_callback(_retrieve)
            raise
        # Cancelled while the service may be committing the job: let create answer,
        # so that its job can be deleted rather than left running.
        await _finish(creating, runtime.config.cleanup_timeout_s)
        if not creating.done():
            warn(
                f"task {call.task!r}: the call was cancelled while "
                f"{type(runtime.connector).__name__}.create() was in flight, and create did "
                f"not return within ConnectorConfig(cleanup_timeout_s="
                f"{runtime.config.cleanup_timeout_s:g}); a job named {call.execution_name!r} "
                f"may be left on the service."
            )
        elif not creating.cancelled() and creating.exception() is None:
            created = creating.result()
            if isinstance(created, tuple) and len(created) == 2:
                await _delete(runtime, call, created[0], warn)
        raise
    return _checked_create(runtime, ctx, created)


def _checked_create(runtime: Runtime, ctx: ConnectorContext, created: Any) -> tuple[Any, Any]:
    if not isinstance(created, tuple) or len(created) != 2:
        raise ConnectorContractError(
            f"task {ctx.task.name!r}: {type(runtime.connector).__name__}.create() returned "
            f"{created!r}; it must return a pair `(meta, resource)`, with resource None "
            f"when the service did not return the job's state.",
            task=ctx.task.name,
            execution_name=ctx.execution_name,
        )
    return created[0], created[1]


async def _until_terminal(runtime: Runtime, call: Call, meta: Any, resource: Any) -> PhaseInfo:
    if resource is not None:
        info = checked_status(runtime.connector, resource, call.task, call.execution_name)
        call.phase = info.phase
        if info.phase.is_terminal:
            return info

    def on_phase(phase: Phase) -> None:
        call.phase = phase

    return await runtime.poller.watch(
        meta, task=call.task, execution_name=call.execution_name, on_phase=on_phase
    )


def _failure(task: str, call: Call, meta: Any, info: PhaseInfo) -> JobFailedError:
    reason = info.message or "the service gave no reason"
    where = f"task {task!r}: its job {meta!r} (execution {call.execution_name})"
    if info.phase is Phase.PERMANENT_FAILURE:
        return JobPermanentlyFailedError(
            f"{where} failed permanently: {reason}. It is not retried; fix the inputs or the job.",
            task=task,
            execution_name=call.execution_name,
            reason=info.message,
        )
    return JobFailedError(
        f"{where} failed: {reason}. The call is retried while the task has retries "
        f"left (`retries=` in @env.task); the job was deleted.",
        task=task,
        execution_name=call.execution_name,
        reason=info.message,
    )


async def _delete(runtime: Runtime, call: Call, meta: Any, warn: Warn) -> None:
    """Delete the job, at least once, even while the call is being cancelled."""
    deleting = asyncio.ensure_future(_delete_retried(runtime, call, meta, warn))
    deleting.add_done_callback(_retrieve)  # cleanup never replaces the call's own outcome
    cancelled = await _finish(deleting, runtime.config.cleanup_timeout_s)
    if not deleting.done():
        warn(
            f"task {call.task!r}: deleting its job {meta!r} (execution {call.execution_name}) "
            f"took longer than ConnectorConfig(cleanup_timeout_s="
            f"{runtime.config.cleanup_timeout_s:g}); the job may still be running."
        )
    if cancelled:
        raise asyncio.CancelledError


async def _delete_retried(runtime: Runtime, call: Call, meta: Any, warn: Warn) -> None:
    connector = runtime.connector
    for attempt in range(_DELETE_TRIES):
        await runtime.write.acquire()
        try:
            await connector.delete(meta)
        except Exception as exc:
            if attempt + 1 == _DELETE_TRIES:
                warn(
                    f"task {call.task!r}: its job {meta!r} (execution {call.execution_name}) "
                    f"could not be deleted ({type(exc).__name__}: {exc}); it may still be "
                    f"running on the service. {type(connector).__name__}.delete() must not "
                    f"raise for a job that is already gone."
                )
                return
            await asyncio.sleep(backoff(attempt, base=_DELETE_BACKOFF_S))
        else:
            return


async def _finish(task: asyncio.Future[Any], timeout: float) -> bool:
    """Wait up to `timeout` seconds for `task`, through cancellation of the caller.

    Returns whether the caller was cancelled meanwhile; the caller re-raises
    that once its cleanup is done. Past the timeout `task` is cancelled.
    """
    cancelled = False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # The shield stops anyio cancel scopes (a task's `timeout`) from cancelling
    # us over and over; native cancellations still arrive and are counted.
    with anyio.CancelScope(shield=True):
        while not task.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                task.cancel()
                task.add_done_callback(_retrieve)
                break
            try:
                await asyncio.wait({task}, timeout=remaining)
            except asyncio.CancelledError:
                cancelled = True
    return cancelled


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
